"""Ingest: reader records into the deduplicated item store, batch by batch, with a run report.

``ingest()`` opens a ``SourceRun`` (status ``running``) in a transaction of its own, then stores
the records in batches, **one transaction per batch**: a batch that fails is rolled back alone,
its records are counted as rejected with the reason, and the run goes on. The run's counts are
saved with every batch, so a run in progress shows how far it got; at the end the run gets its
status (``ok``, ``partial`` when records were rejected or reading stopped early, ``failed`` when
nothing could be stored) and the source its ``last_run_at`` / ``last_status``.

Each batch costs a handful of queries whatever its size: the batch's record keys and dedup keys
are looked up with ``IN`` lists, and items, identifiers and item sources are written with
multi-row statements. Only the current batch is held in memory.

Outcomes of one record (see crm/sources/normalize.py for the dedup keys):

- same source and record key, same content hash → ``duplicates`` (nothing is written);
- same source and record key, content changed → ``updated``: the item takes the record's values
  (when the item has other sources too, the record's non-empty values win and lists are united);
- no record of this source yet, but a dedup key known → merged into that item (empty fields
  filled, authors/subjects/identifiers united): ``updated`` if the item changed, else
  ``duplicates``; the record becomes one more ``ItemSource`` of the item;
- nothing known → ``new``; later records of the same batch sharing a key merge into it;
- ``deleted`` records (OAI-PMH) mark their ``ItemSource`` deleted (``updated``).
"""

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from crm.i18n import _
from crm.sources.models import Item, ItemIdentifier, ItemSource, Source, SourceRun
from crm.sources.normalize import KEY_KINDS, LIST_COLUMNS, SCALAR_COLUMNS, Normalized, NotStorable, normalize, search_key
from crm.sources.records import ItemRecord, Rejected

log = logging.getLogger(__name__)

MAX_REJECTIONS = 500
#: Values per IN list (asyncpg allows 32,767 parameters per statement).
IN_CHUNK = 2000
#: Stop reading when this many batches fail in a row (the database is probably gone).
MAX_FAILED_BATCHES = 3

ITEM = Item.__table__
IDENTIFIER = ItemIdentifier.__table__
ITEM_SOURCE = ItemSource.__table__
RUN = SourceRun.__table__
DATA_COLUMNS = SCALAR_COLUMNS + LIST_COLUMNS


class Report(msgspec.Struct):
    """The counts of a run (or of one batch, before it is committed)."""

    read: int = 0
    new: int = 0
    updated: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: list[dict] = msgspec.field(default_factory=list)

    def reject(self, number: int, reason: str, record_key: str | None = None) -> None:
        self.rejected += 1
        if len(self.rejections) < MAX_REJECTIONS:
            self.rejections.append({"number": number, "reason": reason, "record_key": record_key})

    def absorb(self, other: "Report") -> None:
        self.new += other.new
        self.updated += other.updated
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.rejections.extend(other.rejections[: MAX_REJECTIONS - len(self.rejections)])

    def columns(self) -> dict[str, Any]:
        return {"read": self.read, "new": self.new, "updated": self.updated, "duplicates": self.duplicates,
                "rejected": self.rejected, "rejections": list(self.rejections)}


async def ingest(session_maker, source_id: int, records: Iterable | AsyncIterable, *, origin: str | None = None,
                 batch_size: int = 1000) -> SourceRun:
    """Store ``records`` (``ItemRecord`` or ``Rejected``) for the source; returns the finished run.

    An exception raised by ``records`` itself (a reader that cannot go on) ends the run as
    ``partial`` or ``failed`` with the reason in ``SourceRun.message``; it is not re-raised.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    async with session_maker() as session, session.begin():
        if await session.get(Source, source_id) is None:
            raise LookupError(f"no source with id {source_id}")
        run = SourceRun(source_id=source_id, started_at=_now(), status="running", origin=origin, rejections=[])
        session.add(run)
        await session.flush()
        run_id = run.id

    report = Report()
    message: str | None = None
    stopped = False
    failed_in_a_row = 0
    position = 0
    try:
        async for batch, error in _batches(records, batch_size):
            numbered = []
            for record in batch:
                position += 1
                if isinstance(record, Rejected):
                    report.reject(record.number, record.reason, record.record_key)
                else:
                    numbered.append((position, record))
            report.read += len(batch)
            failure = await _store_batch(session_maker, source_id, run_id, numbered, report) if numbered else None
            failed_in_a_row = failed_in_a_row + 1 if failure else 0
            if error is not None:
                message, stopped = _("Reading stopped after %(n)s records: %(error)s", n=position, error=_describe(error)), True
                break
            if failed_in_a_row >= MAX_FAILED_BATCHES:
                message, stopped = _("Stopped after %(n)s batches in a row could not be saved: %(error)s",
                                     n=failed_in_a_row, error=failure), True
                break
    except asyncio.CancelledError:
        await _finish(session_maker, run_id, source_id, report, _("The run was interrupted."), stopped=True)
        raise
    return await _finish(session_maker, run_id, source_id, report, message, stopped=stopped)


async def marc_source_for_path(session_maker, path: Path) -> int:
    """The MARC source reading ``path`` (by its absolute path), created if there is none."""
    absolute = str(path.resolve())
    async with session_maker() as session, session.begin():
        found = await session.scalar(select(Source.id).where(Source.kind == "marc", Source.path == absolute)
                                     .order_by(Source.id).limit(1))
        if found is not None:
            return found
        source = Source(name=path.name[:200], kind="marc", path=absolute, interval_minutes=None)
        session.add(source)
        await session.flush()
        return source.id


# --- reading in batches -------------------------------------------------------------------


def _take(iterator: Iterator, size: int) -> tuple[list, BaseException | None]:
    batch: list = []
    try:
        for record in iterator:
            batch.append(record)
            if len(batch) >= size:
                break
    except Exception as exc:  # noqa: BLE001  (the reader failed: keep what it gave, report why)
        return batch, exc
    return batch, None


async def _batches(records: Iterable | AsyncIterable, size: int) -> AsyncIterator[tuple[list, BaseException | None]]:
    if isinstance(records, AsyncIterable):
        batch: list = []
        try:
            async for record in records:
                batch.append(record)
                if len(batch) >= size:
                    yield batch, None
                    batch = []
        except Exception as exc:  # noqa: BLE001
            yield batch, exc
            return
        if batch:
            yield batch, None
        return
    # Parsing is CPU work: a worker thread keeps the event loop (the web app) responsive, and
    # reads the next batch while the current one is being written (two batches in memory at most).
    iterator = iter(records)
    pending = asyncio.ensure_future(asyncio.to_thread(_take, iterator, size))
    try:
        while True:
            batch, error = await pending
            last = error is not None or len(batch) < size
            if not last:
                pending = asyncio.ensure_future(asyncio.to_thread(_take, iterator, size))
            if batch or error is not None:
                yield batch, error
            if last:
                return
    finally:
        if not pending.done():
            # The consumer stopped early: let the reading thread finish before the stream closes.
            await asyncio.shield(pending)


def _describe(error: BaseException) -> str:
    text = str(error.orig if isinstance(error, DBAPIError) and error.orig is not None else error)
    return (text.strip().splitlines() or [type(error).__name__])[0][:300]


# --- one batch ----------------------------------------------------------------------------


async def _store_batch(session_maker, source_id: int, run_id: int, numbered: list[tuple[int, ItemRecord]],
                       report: Report) -> str | None:
    """Store one batch in one transaction; on failure count its records rejected. Returns the error."""
    error: BaseException | None = None
    for attempt in range(2):
        delta = Report()
        try:
            async with session_maker() as session, session.begin():
                # Writing first takes SQLite's write lock before anything is read, so concurrent
                # runs are serialized instead of failing on a stale snapshot.
                await session.execute(update(RUN).where(RUN.c.id == run_id).values(read=report.read))
                await write_batch(session, source_id, numbered, delta)
                progress = msgspec.structs.replace(report, rejections=list(report.rejections))
                progress.absorb(delta)
                await session.execute(update(RUN).where(RUN.c.id == run_id).values(**progress.columns()))
            report.absorb(delta)
            return None
        except IntegrityError as exc:
            # Another run stored one of these keys meanwhile: the second attempt sees it.
            error = exc
            if attempt == 0:
                continue
        except Exception as exc:  # noqa: BLE001  (any failure rolls back this batch only)
            error = exc
        break
    log.warning("batch of records %s-%s rolled back", numbered[0][0], numbered[-1][0], exc_info=error)
    reason = _describe(error) if error else ""
    report.rejected += len(numbered) - 1
    report.reject(numbered[0][0], _("Records %(first)s to %(last)s were not saved (their batch was rolled back): %(error)s",
                                    first=numbered[0][0], last=numbered[-1][0], error=reason))
    return reason


class _NewItem:
    __slots__ = ("id", "state")

    def __init__(self, state: dict[str, Any]) -> None:
        self.id: int | None = None
        self.state = state


class _Src:
    """This source's record in the batch: its row (if stored), item, hash and deleted flag."""

    __slots__ = ("id", "target", "content_hash", "deleted", "link", "dirty")

    def __init__(self, id: int | None, target: "int | _NewItem | None", content_hash: str, deleted: bool,
                 link: str | None = None) -> None:
        self.id, self.target, self.content_hash, self.deleted, self.link = id, target, content_hash, deleted, link
        self.dirty = False


async def write_batch(session, source_id: int, numbered: list[tuple[int, ItemRecord]], delta: Report) -> None:
    """Store one batch of records in the session's transaction, counting outcomes in ``delta``."""
    now = _now()
    norms: list[Normalized] = []
    for number, record in numbered:
        try:
            norms.append(normalize(record, number))
        except NotStorable as exc:
            delta.reject(number, str(exc), record.record_key)
    if not norms:
        return
    # A record key twice in one batch: the last version is the one that counts.
    last = {n.record_key: n for n in norms}
    delta.duplicates += len(norms) - len(last)
    norms = list(last.values())

    sources: dict[str, _Src] = {}
    for chunk in _chunks(list({n.record_key for n in norms})):
        rows = await session.execute(
            select(ITEM_SOURCE.c.record_key, ITEM_SOURCE.c.id, ITEM_SOURCE.c.item_id, ITEM_SOURCE.c.content_hash,
                   ITEM_SOURCE.c.deleted, ITEM_SOURCE.c.link)
            .where(ITEM_SOURCE.c.source_id == source_id, ITEM_SOURCE.c.record_key.in_(chunk)))
        for key, row_id, item_id, content_hash, deleted, link in rows:
            sources[key] = _Src(row_id, item_id, content_hash, deleted, link)

    work: list[tuple[Normalized, _Src]] = []
    for n in norms:
        src = sources.get(n.record_key)
        if src is not None and src.content_hash == n.content_hash and src.deleted == n.deleted:
            delta.duplicates += 1
        elif n.deleted:
            if src is None or src.deleted:
                delta.duplicates += 1
            else:
                src.deleted, src.content_hash, src.dirty = True, n.content_hash, True
                delta.updated += 1
        else:
            if src is None:
                src = sources[n.record_key] = _Src(None, None, n.content_hash, False)
            work.append((n, src))
    if not work:
        await _write_sources(session, source_id, sources, now)
        return

    owners = await _key_owners(session, [n for n, _src in work])
    new_identifiers: list[tuple[int | _NewItem, str, str]] = []
    plan: list[tuple[Normalized, int | _NewItem, str]] = []
    for n, src in work:
        if src.target is not None:
            target, mode = src.target, "changed"
        else:
            target = next((owners[key] for key in n.keys if key in owners), None)
            mode = "merge"
            if target is None:
                target, mode = _NewItem(dict(n.values)), "new"
            src.target = target
        src.content_hash, src.deleted, src.link, src.dirty = n.content_hash, False, n.link, True
        for key in n.keys:
            if key not in owners:
                owners[key] = target
                new_identifiers.append((target, *key))
        plan.append((n, target, mode))

    existing_ids = sorted({t for _n, t, _m in plan if isinstance(t, int)})
    states, originals = await _load_items(session, existing_ids)
    changed_ids = sorted({t for _n, t, m in plan if m == "changed" and isinstance(t, int)})
    shared = await _items_with_other_sources(session, changed_ids)
    for n, target, mode in plan:
        state = target.state if isinstance(target, _NewItem) else states[target]
        if mode == "new":
            delta.new += 1
        elif mode == "changed":
            if target not in shared:
                state.update({column: n.values[column] for column in DATA_COLUMNS})
            else:
                _override(state, n.values)
            delta.updated += 1
        elif _fill(state, n.values) and isinstance(target, int):
            delta.updated += 1
        else:
            delta.duplicates += 1

    stamps = {"created_at": now, "updated_at": now}  # given, not computed row by row by the column defaults
    new_items = list({id(t): t for _n, t, m in plan if isinstance(t, _NewItem)}.values())
    if new_items:
        for item, item_id in zip(new_items, await _new_item_ids(session, len(new_items)), strict=True):
            item.id = item_id
        await session.execute(insert(ITEM), [{**item.state, "id": item.id, "search_key": search_key(item.state),
                                              "first_seen_at": now, "last_updated_at": now, **stamps}
                                             for item in new_items])
    updates = [{**{f"v_{c}": states[i][c] for c in DATA_COLUMNS}, "v_search_key": search_key(states[i]),
                "v_last_updated_at": now, "v_updated_at": now, "b_id": i}
               for i in existing_ids if states[i] != originals[i]]
    if updates:
        await session.execute(
            update(ITEM).where(ITEM.c.id == bindparam("b_id"))
            .values({c: bindparam(f"v_{c}") for c in (*DATA_COLUMNS, "search_key", "last_updated_at", "updated_at")}),
            updates)
    if new_identifiers:
        await session.execute(insert(IDENTIFIER), [{"item_id": _id_of(t), "kind": kind, "value": value, **stamps}
                                                   for t, kind, value in new_identifiers])
    await _write_sources(session, source_id, sources, now)


async def _new_item_ids(session, count: int) -> list[int]:
    """Ids for new items, so that one multi-row INSERT stores them all (INSERT … RETURNING in
    parameter order is one statement per row on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        rows = await session.execute(text("SELECT nextval(pg_get_serial_sequence('item', 'id')) FROM generate_series(1, :n)"),
                                     {"n": count})
        return [row[0] for row in rows]
    # SQLite: the batch's transaction holds the write lock already (see _store_batch).
    highest = await session.scalar(select(func.coalesce(func.max(ITEM.c.id), 0)))
    return list(range(highest + 1, highest + 1 + count))


async def _key_owners(session, norms: list[Normalized]) -> dict[tuple[str, str], int | _NewItem]:
    wanted: dict[str, set[str]] = {}
    for n in norms:
        for kind, value in n.keys:
            wanted.setdefault(kind, set()).add(value)
    owners: dict[tuple[str, str], int | _NewItem] = {}
    for kind in KEY_KINDS:
        for chunk in _chunks(sorted(wanted.get(kind, ()))):
            rows = await session.execute(select(IDENTIFIER.c.value, IDENTIFIER.c.item_id)
                                         .where(IDENTIFIER.c.kind == kind, IDENTIFIER.c.value.in_(chunk)))
            for value, item_id in rows:
                owners[(kind, value)] = item_id
    return owners


async def _load_items(session, ids: list[int]) -> tuple[dict[int, dict], dict[int, dict]]:
    states: dict[int, dict] = {}
    for chunk in _chunks(ids):
        rows = await session.execute(select(ITEM.c.id, *(ITEM.c[c] for c in DATA_COLUMNS)).where(ITEM.c.id.in_(chunk)))
        for row in rows.mappings():
            states[row["id"]] = {c: (list(row[c] or []) if c in LIST_COLUMNS else row[c]) for c in DATA_COLUMNS}
    originals = {i: {c: (list(v) if isinstance(v, list) else v) for c, v in state.items()} for i, state in states.items()}
    return states, originals


async def _items_with_other_sources(session, ids: list[int]) -> set[int]:
    shared: set[int] = set()
    for chunk in _chunks(ids):
        rows = await session.execute(select(ITEM_SOURCE.c.item_id).where(ITEM_SOURCE.c.item_id.in_(chunk))
                                     .group_by(ITEM_SOURCE.c.item_id).having(func.count() > 1))
        shared.update(rows.scalars())
    return shared


async def _write_sources(session, source_id: int, sources: dict[str, _Src], now: datetime) -> None:
    inserts = [{"item_id": _id_of(s.target), "source_id": source_id, "record_key": key, "content_hash": s.content_hash,
                "seen_at": now, "link": s.link, "deleted": s.deleted, "created_at": now, "updated_at": now}
               for key, s in sources.items() if s.dirty and s.id is None]
    changes = [{"b_id": s.id, "v_hash": s.content_hash, "v_seen": now, "v_link": s.link, "v_deleted": s.deleted,
                "v_item": _id_of(s.target), "v_updated_at": now}
               for s in sources.values() if s.dirty and s.id is not None]
    if inserts:
        await session.execute(insert(ITEM_SOURCE), inserts)
    if changes:
        await session.execute(
            update(ITEM_SOURCE).where(ITEM_SOURCE.c.id == bindparam("b_id"))
            .values(content_hash=bindparam("v_hash"), seen_at=bindparam("v_seen"), link=bindparam("v_link"),
                    deleted=bindparam("v_deleted"), item_id=bindparam("v_item"), updated_at=bindparam("v_updated_at")),
            changes)


def _fill(state: dict[str, Any], values: dict[str, Any]) -> bool:
    """Fill the item's empty fields and unite its lists with a record's; True if anything changed."""
    changed = False
    for column in SCALAR_COLUMNS:
        if state[column] in (None, "") and values[column] not in (None, ""):
            state[column] = values[column]
            changed = True
    for column in LIST_COLUMNS:
        extra = [v for v in values[column] if v not in state[column]]
        if extra:
            state[column] = state[column] + extra
            changed = True
    return changed


def _override(state: dict[str, Any], values: dict[str, Any]) -> None:
    for column in SCALAR_COLUMNS:
        if values[column] not in (None, ""):
            state[column] = values[column]
    for column in LIST_COLUMNS:
        state[column] = values[column] + [v for v in state[column] if v not in values[column]]


def _id_of(target: "int | _NewItem | None") -> int:
    item_id = target.id if isinstance(target, _NewItem) else target
    assert item_id is not None, "items are inserted before their identifiers and sources"
    return item_id


def _chunks(values: list) -> Iterator[list]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start:start + IN_CHUNK]


def _now() -> datetime:
    return datetime.now(UTC)


# --- the end of a run ---------------------------------------------------------------------


async def _finish(session_maker, run_id: int, source_id: int, report: Report, message: str | None,
                  *, stopped: bool) -> SourceRun:
    stored = report.new + report.updated + report.duplicates
    if (stopped and report.read == 0) or (report.rejected and not stored):
        status = "failed"
    elif stopped or report.rejected:
        status = "partial"
    else:
        status = "ok"
    now = _now()
    async with session_maker() as session, session.begin():
        run = await session.get(SourceRun, run_id)
        for column, value in report.columns().items():
            setattr(run, column, value)
        run.status, run.finished_at, run.message = status, now, message
        source = await session.get(Source, source_id)
        if source is not None:
            source.last_run_at, source.last_status = now, status
    return run
