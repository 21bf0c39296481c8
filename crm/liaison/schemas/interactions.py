from datetime import date
from typing import Annotated, Literal

import msgspec

InteractionKind = Literal["meeting", "email", "phone", "consultation", "training", "event", "other"]
FollowUpFilter = Literal["open", "due", "overdue", "done"]
Subject = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Text = Annotated[str, msgspec.Meta(max_length=20000)] | None
Note = Annotated[str, msgspec.Meta(max_length=255)] | None
Ids = Annotated[list[int], msgspec.Meta(max_length=500)]


class Participant(msgspec.Struct):
    id: int
    name: str


class Interaction(msgspec.Struct):
    id: int
    occurred_on: date
    kind: InteractionKind
    subject: str
    librarian_id: int | None
    librarian_name: str | None
    notes: str | None
    outcome: str | None
    follow_up_on: date | None
    follow_up_note: str | None
    follow_up_done: bool
    contacts: list[Participant]
    groups: list[Participant]


class InteractionPage(msgspec.Struct):
    items: list[Interaction]
    total: int
    page: int
    per_page: int


class InteractionCreate(msgspec.Struct, forbid_unknown_fields=True):
    occurred_on: date
    subject: Subject
    kind: InteractionKind = "meeting"
    contact_ids: Ids = msgspec.field(default_factory=list)
    group_ids: Ids = msgspec.field(default_factory=list)
    #: Defaults to the librarian who records it; only administrators may name someone else.
    librarian_id: int | None = None
    notes: Text = None
    outcome: Text = None
    follow_up_on: date | None = None
    follow_up_note: Note = None
    follow_up_done: bool = False


class InteractionUpdate(msgspec.Struct, forbid_unknown_fields=True):
    occurred_on: date | msgspec.UnsetType = msgspec.UNSET
    subject: Subject | msgspec.UnsetType = msgspec.UNSET
    kind: InteractionKind | msgspec.UnsetType = msgspec.UNSET
    contact_ids: Ids | msgspec.UnsetType = msgspec.UNSET
    group_ids: Ids | msgspec.UnsetType = msgspec.UNSET
    librarian_id: int | None | msgspec.UnsetType = msgspec.UNSET
    notes: Text | msgspec.UnsetType = msgspec.UNSET
    outcome: Text | msgspec.UnsetType = msgspec.UNSET
    follow_up_on: date | None | msgspec.UnsetType = msgspec.UNSET
    follow_up_note: Note | msgspec.UnsetType = msgspec.UNSET
    follow_up_done: bool | msgspec.UnsetType = msgspec.UNSET


class ParticipantChoices(msgspec.Struct):
    """Contacts and groups matching a search, for the participant picker."""

    contacts: list[Participant]
    groups: list[Participant]
