"""Harvesting a source: read it with its reader, ingest the records, keep the report and the schedule.

Whatever goes wrong with what is read (a missing file, unsafe XML, an unreachable server, an
ill-formed feed) ends as a run with status ``failed`` or ``partial`` and a message saying why;
no such exception escapes, so the job, the CLI and the "harvest now" button all get a report.
"""

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm.i18n import _
from crm.settings import Settings
from crm.sources import uploads
from crm.sources.ingest import ingest
from crm.sources.models import Source, SourceRun
from crm.sources.readers import feeds
from crm.sources.readers.marc import MarcError, iter_marc
from crm.sources.readers.oai import OaiHarvest
from crm.sources.records import ItemRecord
from crm.sources.services.sources import SourceService, next_due
from crm.sources.xmlsafe import UnsafeXml

log = logging.getLogger("crm.sources.harvest")

Progress = Callable[[int], None]
#: Worse statuses win when the ingest's verdict and the reader's are combined.
SEVERITY = {"not_modified": 0, "ok": 0, "partial": 1, "failed": 2, "running": 3}


def unexpected() -> str:
    """The message of a run that broke on something unexpected (the details go to the server log only)."""
    return _("The import stopped on an unexpected error; the details are in the server log.")


class UnknownSource(LookupError):
    pass


@dataclass
class _Plan:
    """What a harvest found out besides the ingest's counts."""

    run_id: int
    status: str | None = None
    message: str | None = None
    #: Source columns to store once the run is known to be good (conditional GET, OAI datestamp).
    on_success: dict[str, Any] = field(default_factory=dict)


class _Reading:
    """Counts what a reader yields and ends the stream cleanly at the reader's first error."""

    def __init__(self, progress: Progress | None) -> None:
        self.count = 0
        self.error: str | None = None
        self.progress = progress

    def _seen(self) -> None:
        self.count += 1
        if self.progress is not None:
            self.progress(self.count)

    def wrap(self, records: Iterable[Any]) -> Iterator[Any]:
        try:
            for record in records:
                self._seen()
                yield record
        except Exception as exc:  # noqa: BLE001  (becomes the run's message)
            self.error = describe_error(exc)

    async def awrap(self, records: AsyncIterable[Any]) -> AsyncIterator[Any]:
        try:
            async for record in records:
                self._seen()
                yield record
        except Exception as exc:  # noqa: BLE001
            self.error = describe_error(exc)


def describe_error(exc: BaseException) -> str:
    """A librarian-readable reason; unexpected errors are logged with their traceback."""
    if isinstance(exc, UnsafeXml):
        return _("The file was refused: %(reason)s.", reason=str(exc))
    if isinstance(exc, feeds.FetchError | MarcError):
        return str(exc)
    if isinstance(exc, OSError):
        return _("The file cannot be read (%(reason)s).", reason=exc.strerror or str(exc))
    log.error("reading a source failed", exc_info=exc)
    return unexpected()


def _now() -> datetime:
    return datetime.now(UTC)


async def _record_run(session_maker: async_sessionmaker, source_id: int, status: str, message: str | None,
                      origin: str | None = None) -> int:
    """A run the ingest never saw: a failure before reading, or a feed that had not changed."""
    async with session_maker() as session, session.begin():
        run = SourceRun(source_id=source_id, started_at=_now(), finished_at=_now(), status=status, origin=origin,
                        message=message, rejections=[])
        session.add(run)
        await session.flush()
        return run.id


async def _ingest(session_maker: async_sessionmaker, source_id: int, records: Any, origin: str | None) -> int:
    return (await ingest(session_maker, source_id, records, origin=origin)).id


async def _open_run_after(session_maker: async_sessionmaker, source_id: int, began: datetime) -> int | None:
    async with session_maker() as session:
        return await session.scalar(
            select(SourceRun.id).where(SourceRun.source_id == source_id, SourceRun.status == "running",
                                       SourceRun.started_at >= began - timedelta(seconds=1))
            .order_by(SourceRun.id.desc()).limit(1)
        )


async def _harvest_marc(session_maker: async_sessionmaker, source: Source, reading: _Reading, settings: Settings) -> _Plan:
    if not source.path:
        return _Plan(await _record_run(session_maker, source.id, "failed",
                                       _("No MARC file yet: upload one, or ask an administrator to give its path on the server.")))
    origin = uploads.display_name(source.path) if uploads.is_upload(source.path, settings) else source.path
    try:
        stream = open(source.path, "rb")  # noqa: SIM115  (closed below, after the ingest)
    except OSError as exc:
        return _Plan(await _record_run(session_maker, source.id, "failed", describe_error(exc), origin))
    with stream:
        try:
            records = iter_marc(stream)  # checks the file's format before any record
        except Exception as exc:  # noqa: BLE001
            return _Plan(await _record_run(session_maker, source.id, "failed", describe_error(exc), origin))
        return _Plan(await _ingest(session_maker, source.id, reading.wrap(records), origin))


async def _harvest_feed(session_maker: async_sessionmaker, source: Source, reading: _Reading) -> _Plan:
    try:
        fetched = await feeds.fetch(source.url, etag=source.etag, last_modified=source.last_modified)
    except feeds.FetchError as exc:
        return _Plan(await _record_run(session_maker, source.id, "failed", describe_error(exc), source.url))
    if fetched.not_modified:
        return _Plan(await _record_run(session_maker, source.id, "not_modified", None, fetched.url or source.url))
    try:
        parsed = await asyncio.to_thread(feeds.parse_feed, fetched.content, fetched.url or source.url,
                                         content_type=fetched.content_type)
    except Exception as exc:  # noqa: BLE001
        return _Plan(await _record_run(session_maker, source.id, "failed", describe_error(exc), fetched.url))
    plan = _Plan(await _ingest(session_maker, source.id, reading.wrap(parsed.records), fetched.url or source.url))
    if parsed.problem:
        recovered = any(isinstance(r, ItemRecord) for r in parsed.records)
        plan.status = "partial" if recovered else "failed"
        plan.message = parsed.problem
    plan.on_success = {"etag": fetched.etag, "last_modified": fetched.last_modified}
    return plan


async def _harvest_oai(session_maker: async_sessionmaker, source: Source, reading: _Reading) -> _Plan:
    harvest = OaiHarvest(source.url, metadata_prefix=source.oai_metadata_prefix or "oai_dc", set_spec=source.oai_set,
                         from_datestamp=source.oai_last_datestamp)
    plan = _Plan(await _ingest(session_maker, source.id, reading.awrap(harvest.records()), source.url))
    if harvest.problem:
        plan.status = "partial" if reading.count else "failed"
        plan.message = str(harvest.problem)
    elif harvest.latest_datestamp:
        plan.on_success = {"oai_last_datestamp": harvest.latest_datestamp}
    return plan


def _reading_verdict(reading: _Reading) -> tuple[str, str]:
    """A reader that broke off: failed when it gave nothing, else partial (what it gave is stored)."""
    if not reading.count:
        return "failed", reading.error or ""
    return "partial", _("Reading stopped after %(n)s records: %(error)s", n=reading.count, error=reading.error)


async def _finish(session_maker: async_sessionmaker, source_id: int, plan: _Plan, reading: _Reading,
                  now: datetime) -> SourceRun:
    """Combine the verdicts, store them on the run and the source, and schedule the next run.

    What a run learnt for the next one (a feed's ETag, the OAI-PMH datestamp) is kept only when
    the reading went to the end, so an interrupted harvest is done again in full next time.
    """
    async with session_maker() as session, session.begin():
        run = await session.get(SourceRun, plan.run_id)
        if run is None:  # the source was deleted meanwhile, and its runs with it
            raise UnknownSource(source_id)
        status, message = plan.status, plan.message
        if reading.error:
            status, message = _reading_verdict(reading)
        if status and SEVERITY.get(status, 0) > SEVERITY.get(run.status, 0):
            run.status = status
        elif run.status == "running":
            run.status = status or "ok"
        if message and message not in (run.message or ""):
            run.message = f"{run.message}\n{message}" if run.message else message
        run.finished_at = run.finished_at or _now()
        source = await session.get(Source, source_id)
        if source is not None:
            if run.status in ("ok", "partial") and not reading.error:
                for key, value in plan.on_success.items():
                    setattr(source, key, value)
            source.last_run_at = run.started_at
            source.last_status = run.status
            source.next_due_at = next_due(source, now)
        await session.flush()
        return run


async def run_source(session_maker: async_sessionmaker, source_id: int, *, settings: Settings,
                     now: datetime | None = None, progress: Progress | None = None) -> SourceRun:
    """Harvest one source now and return its run (with the report); UnknownSource if there is none.

    ``progress`` is called with the number of records read so far (the CLI's counter).
    """
    now = now or _now()
    async with session_maker() as session:
        source = await session.get(Source, source_id)
        if source is None:
            raise UnknownSource(source_id)
    reading = _Reading(progress)
    began = _now()
    try:
        if source.kind == "marc":
            plan = await _harvest_marc(session_maker, source, reading, settings)
        elif source.kind == "feed":
            plan = await _harvest_feed(session_maker, source, reading)
        elif source.kind == "oai":
            plan = await _harvest_oai(session_maker, source, reading)
        else:
            plan = _Plan(await _record_run(session_maker, source_id, "failed",
                                           _("Unknown kind of source: %(kind)s.", kind=source.kind)))
    except Exception:
        async with session_maker() as session:
            if await session.get(Source, source_id) is None:
                raise UnknownSource(source_id) from None
        log.exception("harvesting source %s failed", source_id)
        run_id = await _open_run_after(session_maker, source_id, began)
        if run_id is None:
            run_id = await _record_run(session_maker, source_id, "failed", unexpected())
        plan = _Plan(run_id, status="failed", message=unexpected())
    return await _finish(session_maker, source_id, plan, reading, now)


async def import_upload(session_maker: async_sessionmaker, source_id: int, path: Path, *, settings: Settings,
                        progress: Progress | None = None) -> SourceRun:
    """Point a MARC source at a newly stored upload (its previous upload is deleted) and import it now."""
    async with session_maker() as session, session.begin():
        source = await session.get(Source, source_id)
        if source is None:
            uploads.remove(str(path), settings)
            raise UnknownSource(source_id)
        await SourceService(session, settings).set_uploaded_file(source, path)
    return await run_source(session_maker, source_id, settings=settings, progress=progress)


async def run_due(session_maker: async_sessionmaker, settings: Settings, now: datetime | None = None,
                  progress: Progress | None = None) -> list[SourceRun]:
    """Harvest every due source, one after another; each is claimed first, so two processes share the work."""
    now = now or _now()
    async with session_maker() as session:
        due = [source.id for source in await SourceService(session, settings).due_sources(now)]
    runs: list[SourceRun] = []
    for source_id in due:
        async with session_maker() as session, session.begin():
            claimed = await SourceService(session, settings).claim(source_id, now)
        if not claimed:
            continue
        try:
            runs.append(await run_source(session_maker, source_id, settings=settings, now=now, progress=progress))
        except UnknownSource:
            continue  # deleted since it was claimed
    return runs
