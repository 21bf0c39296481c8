"""The question relay: a student's question, its audit trail, internal notes, answers and FAQ entries."""

from datetime import datetime

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.db import Base, metadata

STATUSES = ("new", "relayed", "answered", "closed", "declined", "duplicate")
#: Statuses in which the library still owes the student something.
OPEN_STATUSES = ("new", "relayed")
#: Who did something to a question (QuestionEvent.actor).
ACTORS = ("student", "librarian", "lecturer", "system")


class Question(Base):
    """One question from a student, relayed by a librarian to a lecturer and answered through a signed link.

    ``reference`` is the short code shown to the student (never the database id). ``relay_count``
    versions the reply link: relaying again makes every older link invalid.
    """

    __tablename__ = "question"
    __table_args__ = (
        CheckConstraint("status IN ('new', 'relayed', 'answered', 'closed', 'declined', 'duplicate')",
                        name="known_status"),
        Index("ix_question_status_created", "status", "created_at"),
    )

    reference: Mapped[str] = mapped_column(String(16), unique=True)
    student_name: Mapped[str] = mapped_column(String(200))
    student_email: Mapped[str] = mapped_column(String(254))
    #: Lower-cased address: the per-email rate limit and the contact lookup use it.
    email_key: Mapped[str] = mapped_column(String(254), index=True)
    #: The student group or course as the student typed it, and the group it was recognised as.
    course: Mapped[str | None] = mapped_column(String(200), default=None)
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_group.id", ondelete="SET NULL"), index=True, default=None)
    #: The unit the question belongs to (the group's, else the lecturer's): filters and reports.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="SET NULL"), index=True, default=None)
    #: The lecturer the student chose (a known contact), or what they typed when it was not one.
    requested_lecturer_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact.id", ondelete="SET NULL"), default=None)
    requested_lecturer_text: Mapped[str | None] = mapped_column(String(200), default=None)
    #: The lecturer the question is (or will be) relayed to.
    lecturer_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact.id", ondelete="SET NULL"), index=True, default=None)
    #: The librarian handling it (who assigned or relayed it last).
    librarian_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True, default=None)
    topic: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    #: What the lecturer reads: the question as edited by the librarian (starts as ``body``).
    relayed_text: Mapped[str] = mapped_column(Text)
    consent_share_email: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12), default="new")
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("question.id", ondelete="SET NULL"), default=None)
    #: The student's language: their emails and tracking page use it.
    language: Mapped[str] = mapped_column(String(5), default="vi")
    #: A message from the library to the student (why it was declined, where the answer is…).
    student_message: Mapped[str | None] = mapped_column(Text, default=None)
    relay_count: Mapped[int] = mapped_column(Integer, default=0)
    relayed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    answered_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    reminded_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    escalated_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    #: The student's rating of the answer.
    rating_helpful: Mapped[bool | None] = mapped_column(Boolean, default=None)
    rating_used_sources: Mapped[bool | None] = mapped_column(Boolean, default=None)
    rating_comment: Mapped[str | None] = mapped_column(Text, default=None)
    rated_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    #: Both must agree before a librarian may publish the question to the FAQ.
    faq_student_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    faq_lecturer_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The entry on the contact's and group's timeline (liaison.Interaction).
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interaction.id", ondelete="SET NULL"), default=None)
    #: Folded reference, names, email, course, topic and text: diacritic-insensitive search.
    search_key: Mapped[str] = mapped_column(Text, default="")

    group = relationship("Group", lazy="joined")
    unit = relationship("Unit", lazy="joined")
    lecturer = relationship("Contact", foreign_keys=[lecturer_id], lazy="joined")
    requested_lecturer = relationship("Contact", foreign_keys=[requested_lecturer_id], lazy="joined")
    librarian = relationship("User", lazy="joined")


class QuestionEvent(Base):
    """The audit trail: who (a librarian, the student, the lecturer, the system) did what, and when."""

    __tablename__ = "question_event"

    question_id: Mapped[int] = mapped_column(ForeignKey("question.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    actor: Mapped[str] = mapped_column(String(10))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), default=None)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"), default=None)
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(12), default=None)
    to_status: Mapped[str | None] = mapped_column(String(12), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)

    user = relationship("User", lazy="joined")
    contact = relationship("Contact", lazy="joined")


class QuestionNote(Base):
    """An internal note of the librarians; never shown to the student or the lecturer."""

    __tablename__ = "question_note"

    question_id: Mapped[int] = mapped_column(ForeignKey("question.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), default=None)
    body: Mapped[str] = mapped_column(Text)

    user = relationship("User", lazy="joined")


answer_item = Table(
    "answer_item",
    metadata,
    Column("answer_id", ForeignKey("answer.id", ondelete="CASCADE"), primary_key=True),
    Column("item_id", ForeignKey("item.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Answer(Base):
    """A lecturer's answer, with the items of the library they recommend."""

    __tablename__ = "answer"

    question_id: Mapped[int] = mapped_column(ForeignKey("question.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"), default=None)
    body: Mapped[str] = mapped_column(Text)

    contact = relationship("Contact", lazy="joined")
    items = relationship("Item", secondary=answer_item, lazy="selectin", order_by="Item.title")


class FaqEntry(Base):
    """An answered question, anonymized and published with the consent of both student and lecturer."""

    __tablename__ = "faq_entry"

    question_id: Mapped[int | None] = mapped_column(
        ForeignKey("question.id", ondelete="SET NULL"), unique=True, default=None)
    course: Mapped[str | None] = mapped_column(String(200), default=None)
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_group.id", ondelete="SET NULL"), index=True, default=None)
    topic: Mapped[str] = mapped_column(String(200))
    question_text: Mapped[str] = mapped_column(Text)
    answer_text: Mapped[str] = mapped_column(Text)
    published: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    published_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), default=None)
    search_key: Mapped[str] = mapped_column(Text, default="")

    group = relationship("Group", lazy="joined")
    published_by = relationship("User", lazy="joined")
