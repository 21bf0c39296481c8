"""The one shape every reader yields: an ``ItemRecord``, before deduplication into an ``Item``."""

from datetime import date

import msgspec

#: Subject schemes: LCSH, local Vietnamese headings, uncontrolled keywords, anything else.
SUBJECT_SCHEMES = ("lcsh", "local", "keyword", "other")
#: Material types, from MARC leader/006/008, feeds (journal TOCs → article) and OAI dc:type.
MATERIAL_TYPES = ("book", "ebook", "article", "serial", "thesis", "map", "music", "video", "audio", "other")


class Subject(msgspec.Struct, frozen=True):
    heading: str
    scheme: str = "keyword"


class ItemRecord(msgspec.Struct):
    """What a reader found in one source record; strings are NFC, identifiers not yet normalized."""

    #: The record's identity within its source: MARC 001 (+003), a feed entry id/link, an OAI identifier.
    record_key: str
    title: str
    subtitle: str | None = None
    authors: list[str] = msgspec.field(default_factory=list)
    subjects: list[Subject] = msgspec.field(default_factory=list)
    ddc: str | None = None
    lcc: str | None = None
    isbns: list[str] = msgspec.field(default_factory=list)
    issns: list[str] = msgspec.field(default_factory=list)
    doi: str | None = None
    control_number: str | None = None
    publisher: str | None = None
    year: int | None = None
    language: str | None = None  # ISO 639-2/B, as MARC writes it: vie, eng, fre…
    material_type: str | None = None
    abstract: str | None = None
    link: str | None = None
    acquired_on: date | None = None
    edition: str | None = None
    series: str | None = None
    journal: str | None = None
    extent: str | None = None
    #: OAI-PMH deleted records: the source no longer offers this record.
    deleted: bool = False


class Rejected(msgspec.Struct):
    """A record a reader could not use, with its position (1-based) and the reason."""

    number: int
    reason: str
    record_key: str | None = None
