"""The acquisitions loop: courses and their reading lists, suggestions, request slips, plan edits, arrivals.

The purchase plan itself is not stored: it is ranked live from the open gaps, suggestions and
refused requests, so it is never stale. Only what a librarian decides about a candidate
(price, copies, budget line, decision) is kept, in ``plan_entry``, keyed by the candidate's
stable key (its ISBN-13, else its folded title).
"""

from datetime import date, datetime

from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import BigInteger, Column, Date, Float, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.db import Base, metadata

REQUIREMENTS = ("required", "recommended")
#: held: found automatically; uncertain: a candidate awaits a librarian; confirmed: a librarian said yes.
CITATION_STATUSES = ("held", "uncertain", "not_held", "confirmed")
RESOLUTION_METHODS = ("isbn", "doi", "title", "manual")
SUGGESTER_KINDS = ("lecturer", "student", "librarian")
SUGGESTION_STATUSES = ("new", "accepted", "ordered", "received", "rejected")
OPEN_SUGGESTION_STATUSES = ("new", "accepted", "ordered")
SLIP_OUTCOMES = ("met", "refused")
REFUSAL_REASONS = ("not_held", "on_loan", "lost", "restricted", "other")
PLAN_DECISIONS = ("proposed", "approved", "ordered", "deferred", "rejected")
ARRIVAL_REASONS = ("reading_list", "suggestion")

course_lecturer = Table(
    "course_lecturer",
    metadata,
    Column("course_id", ForeignKey("course.id", ondelete="CASCADE"), primary_key=True),
    Column("contact_id", ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True, index=True),
)

course_group = Table(
    "course_group",
    metadata,
    Column("course_id", ForeignKey("course.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("contact_group.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Course(Base):
    """A course (học phần) taught in a term by lecturers to student groups, with a reading list."""

    __tablename__ = "course"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    term: Mapped[str | None] = mapped_column(String(60), default=None)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="SET NULL"), index=True, default=None)
    #: Students expected when the course's groups do not say (no groups, or groups without members).
    enrolment: Mapped[int | None] = mapped_column(Integer, default=None)
    notes: Mapped[str | None] = mapped_column(Text, default=None)
    search_key: Mapped[str] = mapped_column(String(600), default="")

    unit = relationship("Unit", lazy="joined")
    lecturers = relationship("Contact", secondary=course_lecturer, lazy="selectin", order_by="Contact.sort_key")
    groups = relationship("Group", secondary=course_group, lazy="selectin", order_by="Group.name")


class Citation(Base):
    """One entry of a course's reading list, as entered, parsed, and resolved against the item store."""

    __tablename__ = "reading_citation"

    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    #: The line or record as the librarian gave it.
    raw: Mapped[str | None] = mapped_column(Text, default=None)
    title: Mapped[str] = mapped_column(Text, default="")
    authors: Mapped[list] = mapped_column(JsonB, default=list)
    year: Mapped[int | None] = mapped_column(Integer, default=None)
    isbn: Mapped[str | None] = mapped_column(String(13), index=True, default=None)
    doi: Mapped[str | None] = mapped_column(String(300), default=None)
    publisher: Mapped[str | None] = mapped_column(String(500), default=None)
    requirement: Mapped[str] = mapped_column(String(12), default="required")
    status: Mapped[str] = mapped_column(String(12), default="not_held", index=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("item.id", ondelete="SET NULL"), index=True, default=None)
    #: 0–100: how sure the resolver is that ``item_id`` is this citation (100 for an identifier).
    confidence: Mapped[float | None] = mapped_column(Float, default=None)
    method: Mapped[str | None] = mapped_column(String(10), default=None)
    #: Candidates a librarian rejected: never proposed again for this citation.
    rejected_item_ids: Mapped[list] = mapped_column(JsonB, default=list)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), default=None)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    #: Set when a newly ingested item filled this gap (and the lecturers were told).
    arrived_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    #: Folded title: groups the same title across lists, suggestions and slips in the plan.
    title_key: Mapped[str] = mapped_column(String(400), default="")

    course = relationship("Course", lazy="joined")
    item = relationship("Item", lazy="joined")
    confirmed_by = relationship("User", lazy="joined")


class Suggestion(Base):
    """A purchase suggestion (đề xuất bổ sung) from a lecturer, a student, or a librarian on someone's behalf."""

    __tablename__ = "purchase_suggestion"

    title: Mapped[str] = mapped_column(Text)
    authors: Mapped[str | None] = mapped_column(String(500), default=None)
    isbn: Mapped[str | None] = mapped_column(String(13), index=True, default=None)
    publisher: Mapped[str | None] = mapped_column(String(500), default=None)
    year: Mapped[int | None] = mapped_column(Integer, default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("course.id", ondelete="SET NULL"), index=True, default=None)
    suggester_kind: Mapped[str] = mapped_column(String(10), default="student")
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"), index=True, default=None)
    suggester_name: Mapped[str] = mapped_column(String(200))
    suggester_email: Mapped[str | None] = mapped_column(String(254), default=None)
    #: Language of the emails to the suggester.
    language: Mapped[str] = mapped_column(String(5), default="vi")
    #: Students concerned (a lecturer suggesting for a class of 60 weighs more than one reader).
    students: Mapped[int] = mapped_column(Integer, default=1)
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), default=None)
    status: Mapped[str] = mapped_column(String(10), default="new", index=True)
    #: Why it was rejected (required then), or a note on the last change.
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    status_changed_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    #: The held item it matches (already held when suggested, or arrived later).
    item_id: Mapped[int | None] = mapped_column(ForeignKey("item.id", ondelete="SET NULL"), index=True, default=None)
    #: The first open suggestion of the same title: this one counts as one more vote for it.
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("purchase_suggestion.id", ondelete="SET NULL"), index=True, default=None
    )
    title_key: Mapped[str] = mapped_column(String(400), default="")
    search_key: Mapped[str] = mapped_column(String(800), default="")

    course = relationship("Course", lazy="joined")
    contact = relationship("Contact", lazy="joined")
    item = relationship("Item", lazy="joined")
    entered_by = relationship("User", lazy="joined")


class RequestSlip(Base):
    """A request for a document (phiếu yêu cầu) and whether the library met it or refused it, and why."""

    __tablename__ = "request_slip"

    title: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(500), default=None)
    isbn: Mapped[str | None] = mapped_column(String(13), index=True, default=None)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("item.id", ondelete="SET NULL"), index=True, default=None)
    requested_on: Mapped[date] = mapped_column(Date, index=True)
    outcome: Mapped[str] = mapped_column(String(10), default="refused", index=True)
    refusal_reason: Mapped[str | None] = mapped_column(String(12), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    #: Subject or class (a heading, a DDC number, a course), for the aggregation by subject.
    subject: Mapped[str | None] = mapped_column(String(200), default=None)
    subject_key: Mapped[str] = mapped_column(String(200), default="", index=True)
    #: Readers who asked (a slip can stand for a class that asked together).
    students: Mapped[int] = mapped_column(Integer, default=1)
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), default=None)
    title_key: Mapped[str] = mapped_column(String(400), default="", index=True)

    item = relationship("Item", lazy="joined")


class BudgetLine(Base):
    """A line of the acquisitions budget (e.g. "Giáo trình 2027"), in VND."""

    __tablename__ = "budget_line"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger, default=0)
    notes: Mapped[str | None] = mapped_column(Text, default=None)


class PlanEntry(Base):
    """A librarian's decisions about one purchase-plan candidate (the ranking itself is computed)."""

    __tablename__ = "plan_entry"

    candidate_key: Mapped[str] = mapped_column(String(420), unique=True)
    #: The title when last edited, so an entry whose candidate has gone can still be recognised.
    title: Mapped[str] = mapped_column(Text, default="")
    #: Price of one copy in đồng (VND has no minor unit).
    unit_price: Mapped[int | None] = mapped_column(BigInteger, default=None)
    copies: Mapped[int] = mapped_column(Integer, default=1)
    budget_line_id: Mapped[int | None] = mapped_column(
        ForeignKey("budget_line.id", ondelete="SET NULL"), index=True, default=None
    )
    decision: Mapped[str] = mapped_column(String(10), default="proposed")
    note: Mapped[str | None] = mapped_column(Text, default=None)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), default=None)

    budget_line = relationship("BudgetLine", lazy="joined")


class Arrival(Base):
    """A newly ingested item filled a gap or a suggestion of someone: told once, marked in their next digest."""

    __tablename__ = "acquisition_arrival"

    #: ``<reason>:<citation or suggestion id>:<item id>:<email>``: one row per person and event.
    key: Mapped[str] = mapped_column(String(400), unique=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(20))
    citation_id: Mapped[int | None] = mapped_column(
        ForeignKey("reading_citation.id", ondelete="CASCADE"), index=True, default=None
    )
    suggestion_id: Mapped[int | None] = mapped_column(
        ForeignKey("purchase_suggestion.id", ondelete="CASCADE"), index=True, default=None
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"), index=True, default=None)
    email: Mapped[str] = mapped_column(String(254))
    arrived_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)


class ArrivalRun(Base):
    """One pass of the arrival check: its checkpoint is the newest item id it has fully looked at."""

    __tablename__ = "arrival_run"

    started_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    last_item_id: Mapped[int] = mapped_column(BigInteger, default=0)
    items: Mapped[int] = mapped_column(Integer, default=0)
    resolved: Mapped[int] = mapped_column(Integer, default=0)
