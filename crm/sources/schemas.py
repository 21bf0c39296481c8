from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

SourceKind = Literal["marc", "feed", "oai"]
RunStatus = Literal["running", "ok", "partial", "failed", "not_modified"]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Url = Annotated[str, msgspec.Meta(max_length=2000)] | None
Path = Annotated[str, msgspec.Meta(max_length=1000)] | None
OaiSet = Annotated[str, msgspec.Meta(max_length=200)] | None
MetadataPrefix = Annotated[str, msgspec.Meta(max_length=50)] | None
#: Checked against MIN/MAX_INTERVAL_MINUTES in the service, so the message names the limits.
Interval = int | None
Notes = Annotated[str, msgspec.Meta(max_length=10000)] | None


class OwnerRef(msgspec.Struct):
    id: int
    full_name: str


class Source(msgspec.Struct):
    id: int
    name: str
    kind: SourceKind
    url: str | None
    path: str | None
    #: The MARC file was uploaded (stored by the service) rather than named on the server.
    uploaded: bool
    oai_set: str | None
    oai_metadata_prefix: str
    interval_minutes: int | None
    enabled: bool
    owner: OwnerRef | None
    notes: str | None
    next_due_at: datetime | None
    last_run_at: datetime | None
    last_status: RunStatus | None


class SourcePage(msgspec.Struct):
    items: list[Source]
    total: int
    page: int
    per_page: int


class SourceCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    kind: SourceKind
    url: Url = None
    path: Path = None
    oai_set: OaiSet = None
    oai_metadata_prefix: MetadataPrefix = None
    interval_minutes: Interval = None
    enabled: bool = True
    owner_id: int | None = None
    notes: Notes = None


class SourceForm(msgspec.Struct):
    """A source form as typed: every field may be blank, so the service reports every rule at once."""

    name: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    kind: SourceKind | None = None
    url: Url = None
    path: Path = None
    oai_set: OaiSet = None
    oai_metadata_prefix: MetadataPrefix = None
    interval_minutes: Interval = None
    enabled: bool = True
    owner_id: int | None = None
    notes: Notes = None


class SourceUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    kind: SourceKind | msgspec.UnsetType = msgspec.UNSET
    url: Url | msgspec.UnsetType = msgspec.UNSET
    path: Path | msgspec.UnsetType = msgspec.UNSET
    oai_set: OaiSet | msgspec.UnsetType = msgspec.UNSET
    oai_metadata_prefix: MetadataPrefix | msgspec.UnsetType = msgspec.UNSET
    interval_minutes: Interval | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    owner_id: int | None | msgspec.UnsetType = msgspec.UNSET
    notes: Notes | msgspec.UnsetType = msgspec.UNSET


class Rejection(msgspec.Struct):
    number: int | None
    reason: str
    record_key: str | None = None


class Run(msgspec.Struct):
    """A harvest or import of a source and its report."""

    id: int
    source_id: int
    source_name: str
    started_at: datetime
    finished_at: datetime | None
    status: RunStatus
    origin: str | None
    read: int
    new: int
    updated: int
    duplicates: int
    rejected: int
    rejections: list[Rejection]
    message: str | None


class RunPage(msgspec.Struct):
    items: list[Run]
    total: int
    page: int
    per_page: int


class SubjectOut(msgspec.Struct):
    heading: str
    scheme: str


class ItemSummary(msgspec.Struct):
    id: int
    title: str
    subtitle: str | None
    authors: list[str]
    year: int | None
    publisher: str | None
    language: str | None
    material_type: str | None
    ddc: str | None
    lcc: str | None
    acquired_on: date | None
    first_seen_at: datetime
    link: str | None


class ItemPage(msgspec.Struct):
    items: list[ItemSummary]
    total: int
    page: int
    per_page: int


class ItemSourceOut(msgspec.Struct):
    source_id: int
    source_name: str
    source_kind: SourceKind
    record_key: str
    link: str | None
    seen_at: datetime
    deleted: bool


class ItemDetail(msgspec.Struct):
    id: int
    title: str
    subtitle: str | None
    authors: list[str]
    subjects: list[SubjectOut]
    ddc: str | None
    lcc: str | None
    isbns: list[str]
    issns: list[str]
    doi: str | None
    control_number: str | None
    publisher: str | None
    year: int | None
    language: str | None
    material_type: str | None
    abstract: str | None
    link: str | None
    acquired_on: date | None
    edition: str | None
    series: str | None
    journal: str | None
    extent: str | None
    first_seen_at: datetime
    last_updated_at: datetime
    sources: list[ItemSourceOut]
