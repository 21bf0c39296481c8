from datetime import date

from sqlalchemy import Boolean, CheckConstraint, Column, Date, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.db import Base, metadata

UNIT_KINDS = ("university", "faculty", "school", "institute", "department", "lab", "center", "office", "other")
CONTACT_KINDS = ("lecturer", "researcher", "student", "staff")
GROUP_KINDS = ("cohort", "class", "research_group", "other")
ASSIGNMENT_ROLES = ("primary", "backup")
INTERACTION_KINDS = ("meeting", "email", "phone", "consultation", "training", "event", "other")


class Unit(Base):
    """A node of the university tree: university → faculty/school → department/lab."""

    __tablename__ = "unit"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_vi: Mapped[str] = mapped_column(String(255))
    name_en: Mapped[str | None] = mapped_column(String(255), default=None)
    kind: Mapped[str] = mapped_column(String(20), default="department")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"), index=True, default=None)
    search_key: Mapped[str] = mapped_column(String(600), default="", index=True)

    parent: Mapped["Unit | None"] = relationship(remote_side="Unit.id", lazy="joined", join_depth=1)

    def name(self, language: str = "vi") -> str:
        return (self.name_en or self.name_vi) if language == "en" else self.name_vi


class Contact(Base):
    """A person the library serves: lecturer, researcher, student or staff."""

    __tablename__ = "contact"
    __table_args__ = (Index("ix_contact_sort_key", "sort_key"),)

    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    #: Lower-cased email: unique, so addresses differing only in case are one person.
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="lecturer", index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="SET NULL"), index=True, default=None)
    academic_title: Mapped[str | None] = mapped_column(String(100), default=None)
    position: Mapped[str | None] = mapped_column(String(200), default=None)
    phone: Mapped[str | None] = mapped_column(String(50), default=None)
    language: Mapped[str] = mapped_column(String(5), default="vi")
    notes: Mapped[str | None] = mapped_column(Text, default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Folded name + email, for diacritic-insensitive search.
    search_key: Mapped[str] = mapped_column(String(600), default="")
    #: Folded given name first: Vietnamese names sort by the given name.
    sort_key: Mapped[str] = mapped_column(String(400), default="")

    unit: Mapped[Unit | None] = relationship(lazy="joined")
    groups: Mapped[list["Group"]] = relationship(secondary="group_member", back_populates="members", lazy="noload")


group_member = Table(
    "group_member",
    metadata,
    Column("group_id", ForeignKey("contact_group.id", ondelete="CASCADE"), primary_key=True),
    Column("contact_id", ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Group(Base):
    """A student cohort or class, or a research group, with members and a unit."""

    __tablename__ = "contact_group"

    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str | None] = mapped_column(String(40), unique=True, default=None)
    kind: Mapped[str] = mapped_column(String(20), default="cohort")
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="SET NULL"), index=True, default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    search_key: Mapped[str] = mapped_column(String(600), default="")

    unit: Mapped[Unit | None] = relationship(lazy="joined")
    members: Mapped[list[Contact]] = relationship(secondary=group_member, back_populates="groups", lazy="noload")


class LiaisonAssignment(Base):
    """A librarian serves a unit or a group, as primary or backup liaison, for a period."""

    __tablename__ = "liaison_assignment"
    __table_args__ = (
        CheckConstraint("(unit_id IS NULL) <> (group_id IS NULL)", name="one_target"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="end_after_start"),
    )

    librarian_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), index=True, default=None)
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_group.id", ondelete="CASCADE"), index=True, default=None
    )
    role: Mapped[str] = mapped_column(String(10), default="primary")
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date, default=None)
    notes: Mapped[str | None] = mapped_column(Text, default=None)

    librarian = relationship("User", lazy="joined")
    unit: Mapped[Unit | None] = relationship(lazy="joined")
    group: Mapped[Group | None] = relationship(lazy="joined")

    def is_current(self, today: date) -> bool:
        return self.start_date <= today and (self.end_date is None or self.end_date >= today)


interaction_contact = Table(
    "interaction_contact",
    metadata,
    Column("interaction_id", ForeignKey("interaction.id", ondelete="CASCADE"), primary_key=True),
    Column("contact_id", ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True, index=True),
)

interaction_group = Table(
    "interaction_group",
    metadata,
    Column("interaction_id", ForeignKey("interaction.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("contact_group.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Interaction(Base):
    """One entry of the liaison's log: a meeting, consultation, training…, with a follow-up."""

    __tablename__ = "interaction"
    __table_args__ = (Index("ix_interaction_follow_up", "librarian_id", "follow_up_done", "follow_up_on"),)

    occurred_on: Mapped[date] = mapped_column(Date, index=True)
    kind: Mapped[str] = mapped_column(String(20), default="meeting")
    subject: Mapped[str] = mapped_column(String(255))
    librarian_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True, default=None
    )
    notes: Mapped[str | None] = mapped_column(Text, default=None)
    outcome: Mapped[str | None] = mapped_column(Text, default=None)
    follow_up_on: Mapped[date | None] = mapped_column(Date, default=None)
    follow_up_note: Mapped[str | None] = mapped_column(String(255), default=None)
    follow_up_done: Mapped[bool] = mapped_column(Boolean, default=False)

    librarian = relationship("User", lazy="joined")
    contacts: Mapped[list[Contact]] = relationship(secondary=interaction_contact, lazy="selectin")
    groups: Mapped[list[Group]] = relationship(secondary=interaction_group, lazy="selectin")
