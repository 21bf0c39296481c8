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
import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from pathlib import Path

import msgspec
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from crm.i18n import _
from crm.sources.itemstore import Report, now_utc, write_batch
from crm.sources.models import Source, SourceRun
from crm.sources.records import ItemRecord, Rejected

log = logging.getLogger(__name__)

#: Stop reading when this many batches fail in a row (the database is probably gone).
MAX_FAILED_BATCHES = 3
#: SQLite's page cache while ingesting (the default 2 MB makes every index insert a read).
SQLITE_CACHE_KB = 32 * 1024

RUN = SourceRun.__table__


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
        run = SourceRun(source_id=source_id, started_at=now_utc(), status="running", origin=origin, rejections=[])
        session.add(run)
        await session.flush()
        run_id = run.id

    report = Report()
    message: str | None = None
    stopped = False
    failed_in_a_row = 0
    position = 0
    try:
        async with contextlib.aclosing(_batches(records, batch_size)) as batches:
            async for batch, error in batches:
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
                if session.get_bind().dialect.name == "postgresql":
                    # The lookups are prepared statements; a generic plan made while the tables
                    # were small would scan them whole for the rest of the run.
                    await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
                else:
                    await session.execute(text(f"PRAGMA cache_size = -{SQLITE_CACHE_KB}"))
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
    now = now_utc()
    async with session_maker() as session, session.begin():
        run = await session.get(SourceRun, run_id)
        for column, value in report.columns().items():
            setattr(run, column, value)
        run.status, run.finished_at, run.message = status, now, message
        source = await session.get(Source, source_id)
        if source is not None:
            source.last_run_at, source.last_status = now, status
    return run
