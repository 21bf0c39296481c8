from datetime import date, datetime

from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.db import Base

FREQUENCIES = ("daily", "weekly", "monthly", "paused")
#: new acquisitions (MARC, ILS feeds), journal articles, repository items (OAI-PMH).
SECTIONS = ("acquisitions", "articles", "repository")


class Subscription(Base):
    """A contact's or a group's digest: when, in which language, how much and which sections.

    What is due lives here (``next_due_at``), not in the scheduler, so a restart neither loses
    nor repeats a digest. A group's digest goes to each member (each may opt out alone).
    """

    __tablename__ = "digest_subscription"
    __table_args__ = (CheckConstraint("(contact_id IS NULL) <> (group_id IS NULL)", name="one_owner"),)

    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact.id", ondelete="CASCADE"), unique=True, default=None)
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_group.id", ondelete="CASCADE"), unique=True, default=None)
    frequency: Mapped[str] = mapped_column(String(10), default="weekly")
    #: Holidays: no digest before this date (the frequency is kept).
    paused_until: Mapped[date | None] = mapped_column(Date, default=None)
    #: Weekly: 0 = Monday … 6 = Sunday. Monthly: day 1–28. Hour 0–23, library time zone.
    weekday: Mapped[int] = mapped_column(Integer, default=0)
    month_day: Mapped[int] = mapped_column(Integer, default=1)
    hour: Mapped[int] = mapped_column(Integer, default=8)
    language: Mapped[str] = mapped_column(String(5), default="vi")
    max_items: Mapped[int] = mapped_column(Integer, default=30)
    sections: Mapped[list[str]] = mapped_column(JsonB, default=lambda: list(SECTIONS))
    next_due_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), index=True, default=None)
    last_sent_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)

    contact = relationship("Contact", lazy="joined")
    group = relationship("Group", lazy="joined")


class OptOut(Base):
    """A member who unsubscribed from a group's digest (their own subscription is paused instead)."""

    __tablename__ = "digest_opt_out"
    __table_args__ = (UniqueConstraint("subscription_id", "contact_id", name="uq_digest_opt_out"),)

    subscription_id: Mapped[int] = mapped_column(ForeignKey("digest_subscription.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)


class Digest(Base):
    """One digest composed for one recipient and period, as sent (its email is in the outbox)."""

    __tablename__ = "digest"
    __table_args__ = (
        UniqueConstraint("subscription_id", "contact_id", "period", name="uq_digest_period"),
        Index("ix_digest_contact", "contact_id", "created_at"),
    )

    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("digest_subscription.id", ondelete="SET NULL"), index=True, default=None)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"))
    #: 2026-11-23 (daily), 2026-W48 (weekly), 2026-11 (monthly), now-<timestamp> (send now).
    period: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(5), default="vi")
    subject: Mapped[str] = mapped_column(String(998), default="")
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"), index=True, default=None)
    #: The librarian who pressed "send now", if it was not the schedule.
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), default=None)

    contact = relationship("Contact", lazy="joined")


class DigestEntry(Base):
    """An item in a digest. (contact, item) is unique: an item reaches a recipient once."""

    __tablename__ = "digest_entry"
    __table_args__ = (UniqueConstraint("contact_id", "item_id", name="uq_digest_entry_recipient_item"),)

    digest_id: Mapped[int] = mapped_column(ForeignKey("digest.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), index=True)
    profile_id: Mapped[int | None] = mapped_column(
        ForeignKey("interest_profile.id", ondelete="SET NULL"), default=None)
    section: Mapped[str] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(Integer, default=0)
