from datetime import datetime
from typing import Annotated, Literal

import msgspec

Status = Literal["new", "relayed", "answered", "closed", "declined", "duplicate"]
#: What a librarian can set by hand; "new" reopens a closed, declined or duplicate question.
StatusChange = Literal["closed", "declined", "duplicate", "new"]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Topic = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
QuestionText = Annotated[str, msgspec.Meta(min_length=10, max_length=5000)]
LongText = Annotated[str, msgspec.Meta(min_length=1, max_length=20000)]
Message = Annotated[str, msgspec.Meta(max_length=5000)] | None
Short = Annotated[str, msgspec.Meta(max_length=200)] | None
ItemIds = Annotated[list[int], msgspec.Meta(max_length=30)]


class AskForm(msgspec.Struct, forbid_unknown_fields=True):
    """The public form: who asks, for which course, to whom, about what."""

    student_name: Name
    email: Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
    course: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    topic: Topic
    question: QuestionText
    lecturer: Short = None
    consent_share_email: bool = False


class Rating(msgspec.Struct, forbid_unknown_fields=True):
    helpful: Literal["yes", "no"]
    used_sources: Literal["yes", "no", "none"] = "none"
    comment: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    faq_consent: bool = False


class AnswerForm(msgspec.Struct, forbid_unknown_fields=True):
    answer: LongText
    item_ids: ItemIds = msgspec.field(default_factory=list)
    faq_consent: bool = False


class PassOn(msgspec.Struct, forbid_unknown_fields=True):
    """A lecturer declines, or names a colleague who could answer better."""

    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    colleague_id: int | None = None
    colleague: Short = None


class Assign(msgspec.Struct, forbid_unknown_fields=True):
    lecturer_id: int


class TextUpdate(msgspec.Struct, forbid_unknown_fields=True):
    relayed_text: LongText


class StatusUpdate(msgspec.Struct, forbid_unknown_fields=True):
    status: StatusChange
    #: For a duplicate: the reference (CH-…) or id of the question it repeats.
    duplicate_of: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    #: Sent to the student by email and shown on their tracking page.
    message: Message = None


class NoteCreate(msgspec.Struct, forbid_unknown_fields=True):
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=5000)]


class FaqForm(msgspec.Struct, forbid_unknown_fields=True):
    topic: Topic
    question_text: LongText
    answer_text: LongText
    course: Short = None


class Person(msgspec.Struct):
    id: int
    name: str


class Event(msgspec.Struct):
    at: datetime
    actor: str
    who: str | None
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None


class Note(msgspec.Struct):
    id: int
    at: datetime
    author: str | None
    body: str


class RecommendedItem(msgspec.Struct):
    id: int
    title: str
    authors: list[str]
    year: int | None
    link: str | None


class AnswerOut(msgspec.Struct):
    id: int
    at: datetime
    lecturer: Person | None
    body: str
    items: list[RecommendedItem]


class SuggestionOut(msgspec.Struct):
    lecturer: Person
    score: float
    reasons: list[str]


class QuestionSummary(msgspec.Struct):
    id: int
    reference: str
    status: Status
    created_at: datetime
    student_name: str
    course: str | None
    group: Person | None
    unit: Person | None
    topic: str
    lecturer: Person | None
    relayed_at: datetime | None
    answered_at: datetime | None


class QuestionDetail(msgspec.Struct):
    id: int
    reference: str
    status: Status
    created_at: datetime
    student_name: str
    student_email: str
    consent_share_email: bool
    course: str | None
    group: Person | None
    unit: Person | None
    requested_lecturer: str | None
    lecturer: Person | None
    librarian: Person | None
    topic: str
    body: str
    relayed_text: str
    language: str
    duplicate_of: str | None
    student_message: str | None
    relayed_at: datetime | None
    answered_at: datetime | None
    closed_at: datetime | None
    rating_helpful: bool | None
    rating_used_sources: bool | None
    rating_comment: str | None
    faq_student_consent: bool
    faq_lecturer_consent: bool
    events: list[Event]
    notes: list[Note]
    answers: list[AnswerOut]


class QuestionPage(msgspec.Struct):
    items: list[QuestionSummary]
    total: int
    page: int
    per_page: int


class ReportRowOut(msgspec.Struct):
    key: str
    label: str
    asked: int
    answered: int
    resolved_share: float | None
    median_hours_to_answer: float | None
    sources_recommended: int
    ratings: int
    sources_used: int
    helpful: int


class ReportOut(msgspec.Struct):
    group_by: str
    date_from: str | None
    date_to: str | None
    rows: list[ReportRowOut]
    total: ReportRowOut
