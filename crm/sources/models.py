from datetime import date, datetime

from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.db import Base

SOURCE_KINDS = ("marc", "feed", "oai")
RUN_STATUSES = ("running", "ok", "partial", "failed", "not_modified")


class Source(Base):
    """Where items come from: a MARC file (uploaded or a path), a feed URL, or an OAI-PMH endpoint."""

    __tablename__ = "source"

    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))
    #: Feed URL or OAI-PMH base URL; for MARC, a server path (uploads are stored under var/uploads).
    url: Mapped[str | None] = mapped_column(String(2000), default=None)
    path: Mapped[str | None] = mapped_column(String(1000), default=None)
    oai_set: Mapped[str | None] = mapped_column(String(200), default=None)
    oai_metadata_prefix: Mapped[str] = mapped_column(String(50), default="oai_dc")
    #: Minutes between harvests; None means by hand only.
    interval_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), index=True, default=None)
    next_due_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), index=True, default=None)
    last_run_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    last_status: Mapped[str | None] = mapped_column(String(20), default=None)
    #: Conditional GET state of a feed.
    etag: Mapped[str | None] = mapped_column(String(500), default=None)
    last_modified: Mapped[str | None] = mapped_column(String(100), default=None)
    #: OAI-PMH: the newest datestamp harvested, for the next `from=`.
    oai_last_datestamp: Mapped[str | None] = mapped_column(String(40), default=None)
    notes: Mapped[str | None] = mapped_column(Text, default=None)

    owner = relationship("User", lazy="joined")


class SourceRun(Base):
    """One harvest or import of a source, with its report."""

    __tablename__ = "source_run"

    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    status: Mapped[str] = mapped_column(String(20), default="running")
    #: What was read: a file name or a URL.
    origin: Mapped[str | None] = mapped_column(String(2000), default=None)
    read: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    #: Records already stored unchanged (re-imports, or the same item from another record).
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    #: [{"number": n, "reason": "...", "record_key": "..."}], capped.
    rejections: Mapped[list] = mapped_column(JsonB, default=list)
    #: Why the run failed or was partial (HTTP status, parse error…).
    message: Mapped[str | None] = mapped_column(Text, default=None)

    source = relationship("Source", lazy="joined")


class Item(Base):
    """One bibliographic item, deduplicated across sources."""

    __tablename__ = "item"
    __table_args__ = (Index("ix_item_first_seen", "first_seen_at"),)

    title: Mapped[str] = mapped_column(Text)
    subtitle: Mapped[str | None] = mapped_column(Text, default=None)
    authors: Mapped[list] = mapped_column(JsonB, default=list)
    #: [{"heading": "...", "scheme": "lcsh|local|keyword|other"}]
    subjects: Mapped[list] = mapped_column(JsonB, default=list)
    ddc: Mapped[str | None] = mapped_column(String(100), default=None)
    lcc: Mapped[str | None] = mapped_column(String(100), default=None)
    #: Sortable keys of the call numbers (crm/callnumbers.py), so class ranges compare as strings.
    ddc_key: Mapped[str | None] = mapped_column(String(100), index=True, default=None)
    lcc_key: Mapped[str | None] = mapped_column(String(100), index=True, default=None)
    isbns: Mapped[list] = mapped_column(JsonB, default=list)  # ISBN-13
    issns: Mapped[list] = mapped_column(JsonB, default=list)
    doi: Mapped[str | None] = mapped_column(String(300), default=None)
    control_number: Mapped[str | None] = mapped_column(String(100), default=None)
    publisher: Mapped[str | None] = mapped_column(String(500), default=None)
    year: Mapped[int | None] = mapped_column(Integer, index=True, default=None)
    language: Mapped[str | None] = mapped_column(String(3), index=True, default=None)
    material_type: Mapped[str | None] = mapped_column(String(20), index=True, default=None)
    abstract: Mapped[str | None] = mapped_column(Text, default=None)
    link: Mapped[str | None] = mapped_column(String(2000), default=None)
    acquired_on: Mapped[date | None] = mapped_column(Date, index=True, default=None)
    edition: Mapped[str | None] = mapped_column(String(200), default=None)
    series: Mapped[str | None] = mapped_column(String(500), default=None)
    journal: Mapped[str | None] = mapped_column(String(500), default=None)
    extent: Mapped[str | None] = mapped_column(String(200), default=None)
    first_seen_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    last_updated_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    #: Folded title, subtitle, authors, subjects, identifiers: diacritic-insensitive search.
    search_key: Mapped[str] = mapped_column(Text, default="")

    sources: Mapped[list["ItemSource"]] = relationship(back_populates="item", lazy="noload")


class ItemIdentifier(Base):
    """Dedup keys of an item: (kind, value) is unique, so one key means one item.

    Kinds: ``isbn`` (ISBN-13), ``doi`` (lower case), ``issn_title`` (ISSN + folded title),
    ``control`` (003 + 001), ``title_author`` (folded title + first author's family name).
    """

    __tablename__ = "item_identifier"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_item_identifier"),)

    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(500))


class ItemSource(Base):
    """An item as one source gave it: the record's key there, and a hash to notice changes."""

    __tablename__ = "item_source"
    __table_args__ = (UniqueConstraint("source_id", "record_key", name="uq_item_source_record"),)

    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"), index=True)
    record_key: Mapped[str] = mapped_column(String(500))
    content_hash: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    link: Mapped[str | None] = mapped_column(String(2000), default=None)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)

    item: Mapped[Item] = relationship(back_populates="sources", lazy="joined")
    source = relationship("Source", lazy="joined")
