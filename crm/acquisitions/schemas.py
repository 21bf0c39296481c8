"""msgspec Structs of the acquisitions API and forms."""

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
Term = Annotated[str, msgspec.Meta(max_length=60)]
Notes = Annotated[str, msgspec.Meta(max_length=5000)]
Title = Annotated[str, msgspec.Meta(max_length=1000)]
Short = Annotated[str, msgspec.Meta(max_length=500)]
Count = Annotated[int, msgspec.Meta(ge=0, le=100_000)]
People = Annotated[int, msgspec.Meta(ge=1, le=100_000)]
Year = Annotated[int, msgspec.Meta(ge=1400, le=2999)]
Price = Annotated[int, msgspec.Meta(ge=0, le=10_000_000_000)]
Copies = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
Requirement = Literal["required", "recommended"]
SuggestionStatus = Literal["new", "accepted", "ordered", "received", "rejected"]
Outcome = Literal["met", "refused"]
RefusalReason = Literal["not_held", "on_loan", "lost", "restricted", "other"]
Decision = Literal["proposed", "approved", "ordered", "deferred", "rejected"]
ImportFormat = Literal["auto", "text", "ris", "bibtex", "csv"]


class Ref(msgspec.Struct):
    id: int
    name: str


class ItemRef(msgspec.Struct):
    id: int
    title: str
    authors: list[str]
    year: int | None
    call_number: str | None


# --- courses ------------------------------------------------------------------------------


class CourseCreate(msgspec.Struct, forbid_unknown_fields=True):
    code: Code
    name: Name
    term: Term | None = None
    unit_id: int | None = None
    enrolment: Count | None = None
    notes: Notes | None = None
    lecturer_ids: list[int] = msgspec.field(default_factory=list)
    group_ids: list[int] = msgspec.field(default_factory=list)


class CourseUpdate(msgspec.Struct, forbid_unknown_fields=True):
    code: Code | msgspec.UnsetType = msgspec.UNSET
    name: Name | msgspec.UnsetType = msgspec.UNSET
    term: Term | None | msgspec.UnsetType = msgspec.UNSET
    unit_id: int | None | msgspec.UnsetType = msgspec.UNSET
    enrolment: Count | None | msgspec.UnsetType = msgspec.UNSET
    notes: Notes | None | msgspec.UnsetType = msgspec.UNSET
    lecturer_ids: list[int] | msgspec.UnsetType = msgspec.UNSET
    group_ids: list[int] | msgspec.UnsetType = msgspec.UNSET


class Course(msgspec.Struct):
    id: int
    code: str
    name: str
    term: str | None
    unit: Ref | None
    enrolment: int | None
    #: Students concerned: the enrolment, else the members of the course's groups.
    students: int
    notes: str | None
    lecturers: list[Ref]
    groups: list[Ref]


class CoursePage(msgspec.Struct):
    items: list[Course]
    total: int
    page: int
    per_page: int


# --- citations ----------------------------------------------------------------------------


class CitationCreate(msgspec.Struct, forbid_unknown_fields=True):
    title: Title = ""
    authors: list[Short] = msgspec.field(default_factory=list)
    year: Year | None = None
    isbn: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    doi: Annotated[str, msgspec.Meta(max_length=300)] | None = None
    publisher: Short | None = None
    requirement: Requirement = "required"


class CitationUpdate(msgspec.Struct, forbid_unknown_fields=True):
    title: Title | msgspec.UnsetType = msgspec.UNSET
    authors: list[Short] | msgspec.UnsetType = msgspec.UNSET
    year: Year | None | msgspec.UnsetType = msgspec.UNSET
    isbn: Annotated[str, msgspec.Meta(max_length=40)] | None | msgspec.UnsetType = msgspec.UNSET
    doi: Annotated[str, msgspec.Meta(max_length=300)] | None | msgspec.UnsetType = msgspec.UNSET
    publisher: Short | None | msgspec.UnsetType = msgspec.UNSET
    requirement: Requirement | msgspec.UnsetType = msgspec.UNSET


class Citation(msgspec.Struct):
    id: int
    course_id: int
    position: int
    title: str
    authors: list[str]
    year: int | None
    isbn: str | None
    doi: str | None
    publisher: str | None
    requirement: str
    status: str
    item: ItemRef | None
    confidence: float | None
    method: str | None
    raw: str | None
    confirmed_by: str | None
    arrived_at: datetime | None


class CitationImport(msgspec.Struct, forbid_unknown_fields=True):
    """Pasted lines, or the text of a RIS, BibTeX or CSV file."""

    text: Annotated[str, msgspec.Meta(min_length=1, max_length=5 * 1024 * 1024)]
    format: ImportFormat = "auto"
    requirement: Requirement = "required"
    filename: str | None = None


class ProblemOut(msgspec.Struct):
    message: str
    line: int | None = None
    record: int | None = None
    column: str | None = None


class CitationImportResult(msgspec.Struct):
    created: int
    held: int
    uncertain: int
    not_held: int
    citations: list[Citation]


class Confirm(msgspec.Struct, forbid_unknown_fields=True):
    """Confirm the proposed item, or name another held item."""

    item_id: int | None = None


# --- suggestions --------------------------------------------------------------------------


class SuggestionCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A librarian records a suggestion, for a lecturer (contact) or for a reader named here."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    authors: Short | None = None
    isbn: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    publisher: Short | None = None
    year: Year | None = None
    reason: Notes | None = None
    course_id: int | None = None
    contact_id: int | None = None
    suggester_name: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    suggester_email: Annotated[str, msgspec.Meta(max_length=254)] | None = None
    students: People = 1


class PublicSuggestion(msgspec.Struct, forbid_unknown_fields=True):
    """The student form (and the lecturer's own page, without name and email)."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    authors: Short | None = None
    isbn: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    publisher: Short | None = None
    year: Year | None = None
    reason: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    course_code: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    email: Annotated[str, msgspec.Meta(max_length=254)] | None = None
    students: People = 1


class StatusChange(msgspec.Struct, forbid_unknown_fields=True):
    status: SuggestionStatus
    reason: Notes | None = None


class Suggestion(msgspec.Struct):
    id: int
    title: str
    authors: str | None
    isbn: str | None
    publisher: str | None
    year: int | None
    reason: str | None
    course: Ref | None
    suggester_kind: str
    suggester_name: str
    suggester_email: str | None
    contact_id: int | None
    students: int
    status: str
    status_reason: str | None
    status_changed_at: datetime
    item: ItemRef | None
    duplicate_of_id: int | None
    created_at: datetime


class SuggestionPage(msgspec.Struct):
    items: list[Suggestion]
    total: int
    page: int
    per_page: int


# --- request slips ------------------------------------------------------------------------


class SlipCreate(msgspec.Struct, forbid_unknown_fields=True):
    #: Checked by the service with the other rules, so a form shows every problem at once.
    title: Annotated[str, msgspec.Meta(max_length=1000)] = ""
    author: Short | None = None
    isbn: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    requested_on: date | None = None
    outcome: Outcome = "refused"
    refusal_reason: RefusalReason | None = None
    note: Notes | None = None
    subject: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    students: People = 1


class Slip(msgspec.Struct):
    id: int
    title: str
    author: str | None
    isbn: str | None
    item: ItemRef | None
    requested_on: date
    outcome: str
    refusal_reason: str | None
    note: str | None
    subject: str | None
    students: int


class SlipPage(msgspec.Struct):
    items: list[Slip]
    total: int
    page: int
    per_page: int


class SlipImportResult(msgspec.Struct):
    created: int
    errors: list[ProblemOut]


class SlipGroup(msgspec.Struct):
    label: str
    requests: int
    students: int
    met: int
    refused: int
    #: Refusals by reason.
    reasons: dict[str, int]


class SlipSummary(msgspec.Struct):
    by_title: list[SlipGroup]
    by_subject: list[SlipGroup]


# --- plan ---------------------------------------------------------------------------------


class BudgetLineCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    amount: Price = 0
    notes: Notes | None = None


class BudgetLine(msgspec.Struct):
    id: int
    name: str
    amount: int
    committed: int
    remaining: int
    notes: str | None


class PlanEdit(msgspec.Struct, forbid_unknown_fields=True):
    """A librarian's decisions about one candidate (by its key)."""

    key: Annotated[str, msgspec.Meta(min_length=1, max_length=420)]
    unit_price: Price | None = None
    copies: Copies = 1
    budget_line_id: int | None = None
    decision: Decision = "proposed"
    note: Notes | None = None


class PlanSource(msgspec.Struct):
    kind: str  # reading_list | suggestion | refusal
    label: str
    students: int
    weight: float


class PlanCandidate(msgspec.Struct):
    key: str
    rank: int
    score: float
    title: str
    authors: str | None
    isbn: str | None
    publisher: str | None
    year: int | None
    students: int
    sources: list[PlanSource]
    unit_price: int | None
    copies: int
    total: int | None
    budget_line: Ref | None
    decision: str
    note: str | None


class Plan(msgspec.Struct):
    candidates: list[PlanCandidate]
    budget_lines: list[BudgetLine]
    #: Sum of price × copies over approved and ordered candidates.
    committed: int
    #: Sum over every priced candidate that is not rejected or deferred.
    proposed: int
    budget: int


class WeedingRow(msgspec.Struct):
    id: int
    title: str
    authors: list[str]
    year: int | None
    call_number: str | None
    publisher: str | None


class WeedingPage(msgspec.Struct):
    items: list[WeedingRow]
    total: int
    page: int
    per_page: int
    years: int
    cutoff_year: int
