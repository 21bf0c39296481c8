"""The source registry: what to harvest, how often, whose it is, and the history of its runs."""

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.forms import cleaned
from crm.i18n import _
from crm.pagination import Page, clamp
from crm.security.models import User
from crm.settings import Settings
from crm.sources import schemas, uploads
from crm.sources.models import Source, SourceRun

#: Harvesting more often than this only loads the remote server; None means by hand only.
MIN_INTERVAL_MINUTES = 15
MAX_INTERVAL_MINUTES = 366 * 24 * 60
DEFAULT_METADATA_PREFIX = "oai_dc"
URL_SCHEMES = ("http", "https")
#: A claimed source is not due again for this long, so another process does not run it twice
#: meanwhile (a harvest takes minutes); if the claiming process dies, the source is due again after.
CLAIM_LEASE = timedelta(hours=2)
MAX_ID = 2**63 - 1
_PREFIX = re.compile(r"^[A-Za-z0-9_.\-]+$")
_SET_SPEC = re.compile(r"^[A-Za-z0-9\-_.!~*'():]+$")
_FIELDS = ("name", "kind", "url", "path", "oai_set", "oai_metadata_prefix", "interval_minutes", "enabled", "owner_id", "notes")


def storable(value: int | None) -> bool:
    return value is not None and 0 < value <= MAX_ID


def can_edit(source: Source, user: User | None) -> bool:
    """Librarians change the sources they own; administrators any source."""
    if user is None:
        return False
    return user.role == "admin" or (source.owner_id is not None and source.owner_id == user.id)


def url_problem(value: str) -> str | None:
    """Why ``value`` is not an http(s) URL a harvester may fetch, or None when it is one."""
    if any(ch.isspace() or ord(ch) < 32 for ch in value):
        return _("A URL cannot contain spaces.")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        return _("Not a valid URL.")
    if parts.scheme.lower() not in URL_SCHEMES:
        return _("Only http:// and https:// addresses can be harvested.")
    if not host:
        return _("The URL needs a host name, e.g. https://thuvien.example.edu.vn/rss.")
    if parts.username is not None or parts.password is not None:
        return _("Do not put a user name or password in the URL: every librarian can read it.")
    return None


def path_problem(value: str) -> str | None:
    path = Path(value)
    if not path.is_absolute():
        return _("Give the absolute path of the file on the server, e.g. /srv/koha/exports/new.mrc.")
    if not path.is_file():
        return _("There is no such file on the server.")
    return None


def next_due(source: Source, after: datetime | None) -> datetime | None:
    """When a scheduled source is next due: ``after`` + its interval; None for manual sources.

    A scheduled source that has never run (``after`` None) has no time yet: it is due now.
    """
    if source.interval_minutes is None or after is None:
        return None
    return after + timedelta(minutes=source.interval_minutes)


def due_condition(now: datetime):
    return and_(
        Source.enabled.is_(True),
        or_(Source.next_due_at <= now, and_(Source.next_due_at.is_(None), Source.interval_minutes.is_not(None))),
    )


class SourceService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings

    async def get(self, source_id: int) -> Source | None:
        return await self.session.get(Source, source_id) if storable(source_id) else None

    async def list_sources(self, page: int | None = 1, per_page: int | None = None) -> Page[Source]:
        number, size = clamp(page, per_page)
        query = select(Source).order_by(func.lower(Source.name), Source.id).limit(size).offset((number - 1) * size)
        items = list((await self.session.scalars(query)).unique())
        total = await self.session.scalar(select(func.count()).select_from(Source)) or 0
        return Page(items=items, total=total, number=number, per_page=size)

    async def options(self) -> list[tuple[int, str]]:
        """(id, name) of every source, for filters."""
        rows = await self.session.execute(select(Source.id, Source.name).order_by(func.lower(Source.name), Source.id))
        return [(row.id, row.name) for row in rows]

    # --- writes ---------------------------------------------------------------------------

    async def check(self, values: dict[str, Any], acting: User | None, source: Source | None = None) -> dict[str, Any]:
        """Normalize and check input against the merged state; FieldErrors lists every bad field.

        ``acting`` None is the server's operator (the CLI): like an administrator, owning nothing.
        """
        current = {f: getattr(source, f) for f in _FIELDS} if source else {}
        merged = {**current, **values}
        errors: dict[str, str] = {}
        is_admin = acting is None or acting.role == "admin"
        kind = merged.get("kind")
        for required in ("name", "kind"):
            if (required in values or source is None) and not values.get(required):
                errors[required] = _("This field is required.")
        if kind in ("feed", "oai"):
            if not merged.get("url"):
                errors["url"] = _("Give the address of the feed or of the OAI-PMH endpoint.")
            elif "url" in values and (problem := url_problem(values["url"])):
                errors["url"] = problem
            if values.get("path"):
                errors["path"] = _("A server path is only for MARC files.")
            values["path"] = None
        elif kind == "marc":
            if values.get("url"):
                errors["url"] = _("A MARC source has no URL: upload the file or give its path on the server.")
            values["url"] = None
        path = values.get("path")
        if path and path != (source.path if source else None):
            if not is_admin:
                errors["path"] = _("Only administrators can name a file on the server; upload the file instead.")
            elif problem := path_problem(path):
                errors["path"] = problem
        if values.get("oai_set") and not _SET_SPEC.match(values["oai_set"]):
            errors["oai_set"] = _("Not a valid OAI-PMH set (letters, digits and - _ . ! ~ * ' ( ) :).")
        if "oai_metadata_prefix" in values:
            prefix = values["oai_metadata_prefix"] or DEFAULT_METADATA_PREFIX
            values["oai_metadata_prefix"] = prefix
            if not _PREFIX.match(prefix):
                errors["oai_metadata_prefix"] = _("Not a valid metadata prefix (e.g. oai_dc or marc21).")
        interval = values.get("interval_minutes")
        if interval is not None and not MIN_INTERVAL_MINUTES <= interval <= MAX_INTERVAL_MINUTES:
            errors["interval_minutes"] = _("Between %(low)s and %(high)s minutes, or blank to harvest by hand only.",
                                           low=MIN_INTERVAL_MINUTES, high=MAX_INTERVAL_MINUTES)
        await self._check_owner(values, acting, is_admin, source, errors)
        if errors:
            raise FieldErrors(errors)
        return values

    async def problems(self, values: dict[str, Any], acting: User | None, source: Source | None = None) -> dict[str, str]:
        """The rule errors of input that also failed to parse, so a form shows every problem at once."""
        try:
            await self.check(dict(values), acting, source)
        except FieldErrors as exc:
            return exc.errors
        return {}

    async def _check_owner(self, values: dict[str, Any], acting: User | None, is_admin: bool, source: Source | None,
                           errors: dict[str, str]) -> None:
        if source is None and values.get("owner_id") is None and acting is not None:
            values["owner_id"] = acting.id
        if "owner_id" not in values or values["owner_id"] == (source.owner_id if source else None):
            return
        owner_id = values["owner_id"]
        if not is_admin and owner_id != acting.id:  # type: ignore[union-attr]
            errors["owner_id"] = _("Only administrators can give a source to another librarian.")
        elif owner_id is not None and (not storable(owner_id) or await self.session.get(User, owner_id) is None):
            errors["owner_id"] = _("Unknown account.")

    def _apply(self, source: Source, values: dict[str, Any]) -> None:
        before = {f: getattr(source, f, None) for f in ("kind", "url", "oai_set", "oai_metadata_prefix", "interval_minutes")}
        for key, value in values.items():
            setattr(source, key, value)
        if source.oai_metadata_prefix is None:
            source.oai_metadata_prefix = DEFAULT_METADATA_PREFIX
        if source.kind != before["kind"] or source.url != before["url"]:
            # Another address: its conditional-GET state means nothing there.
            source.etag = source.last_modified = None
        if any(getattr(source, f) != before[f] for f in ("kind", "url", "oai_set", "oai_metadata_prefix")):
            source.oai_last_datestamp = None  # another endpoint or set: harvest it in full
        if source.interval_minutes != before["interval_minutes"]:
            source.next_due_at = next_due(source, source.last_run_at)

    async def create_source(self, data: schemas.SourceCreate | schemas.SourceForm, acting: User | None) -> Source:
        values = await self.check(cleaned(data), acting)
        source = Source(kind=values["kind"], oai_metadata_prefix=DEFAULT_METADATA_PREFIX)
        self._apply(source, values)
        source.next_due_at = None  # a scheduled source is due as soon as it exists
        self.session.add(source)
        await self.session.flush()
        await self.session.refresh(source, ["owner"])
        return source

    async def update_source(self, source: Source, data: schemas.SourceUpdate, acting: User | None) -> Source:
        old_path = source.path
        values = await self.check(cleaned(data), acting, source)
        self._apply(source, values)
        await self.session.flush()
        await self.session.refresh(source, ["owner"])
        if old_path != source.path:
            uploads.remove(old_path, self.settings)
        return source

    async def set_uploaded_file(self, source: Source, path: Path) -> Source:
        """Point a MARC source at a newly stored upload (the previous upload is deleted)."""
        old_path = source.path
        source.path = str(path)
        await self.session.flush()
        if old_path != source.path:
            uploads.remove(old_path, self.settings)
        return source

    async def delete_source(self, source: Source) -> None:
        """Its runs and its item links go with it (the items stay: other sources may have them)."""
        path = source.path
        await self.session.delete(source)
        await self.session.flush()
        uploads.remove(path, self.settings)

    # --- runs and schedule ----------------------------------------------------------------

    async def list_runs(self, source_id: int, page: int | None = 1, per_page: int | None = None) -> Page[SourceRun]:
        number, size = clamp(page, per_page)
        where = SourceRun.source_id == source_id
        query = (select(SourceRun).where(where).order_by(SourceRun.started_at.desc(), SourceRun.id.desc())
                 .limit(size).offset((number - 1) * size))
        items = list((await self.session.scalars(query)).unique())
        total = await self.session.scalar(select(func.count()).select_from(SourceRun).where(where)) or 0
        return Page(items=items, total=total, number=number, per_page=size)

    async def get_run(self, run_id: int) -> SourceRun | None:
        return await self.session.get(SourceRun, run_id) if storable(run_id) else None

    async def due_sources(self, now: datetime) -> list[Source]:
        """Enabled sources whose time has come, the longest waiting first (never run: first of all)."""
        query = select(Source).where(due_condition(now)).order_by(Source.next_due_at.asc().nulls_first(), Source.id)
        return list((await self.session.scalars(query)).unique())

    async def claim(self, source_id: int, now: datetime) -> bool:
        """Take a due source for this process: only one of several concurrent callers gets True.

        One UPDATE that re-checks that the source is still due, as the transaction's first
        statement: PostgreSQL re-evaluates the WHERE on the locked row, SQLite has one writer at a
        time, so a second process that read the same list finds the source claimed. Commit right
        after, in a short transaction; the run then sets the real next time.
        """
        result = await self.session.execute(
            update(Source).where(Source.id == source_id, due_condition(now)).values(next_due_at=now + CLAIM_LEASE)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1


def to_schema(source: Source, settings: Settings) -> schemas.Source:
    owner = schemas.OwnerRef(id=source.owner.id, full_name=source.owner.full_name) if source.owner else None
    return schemas.Source(
        id=source.id, name=source.name, kind=source.kind, url=source.url, path=source.path,  # type: ignore[arg-type]
        uploaded=uploads.is_upload(source.path, settings), oai_set=source.oai_set,
        oai_metadata_prefix=source.oai_metadata_prefix, interval_minutes=source.interval_minutes,
        enabled=source.enabled, owner=owner, notes=source.notes, next_due_at=source.next_due_at,
        last_run_at=source.last_run_at, last_status=source.last_status,  # type: ignore[arg-type]
    )


def rejections(run: SourceRun) -> list[schemas.Rejection]:
    """A run's stored rejections, read leniently (the list is JSON written by the ingest)."""
    out = []
    for entry in run.rejections or []:
        if isinstance(entry, dict):
            number = entry.get("number")
            key = entry.get("record_key")
            out.append(schemas.Rejection(number=number if isinstance(number, int) else None,
                                         reason=str(entry.get("reason") or ""), record_key=str(key) if key else None))
    return out


def run_schema(run: SourceRun) -> schemas.Run:
    return schemas.Run(
        id=run.id, source_id=run.source_id, source_name=run.source.name if run.source else "",
        started_at=run.started_at, finished_at=run.finished_at, status=run.status,  # type: ignore[arg-type]
        origin=run.origin, read=run.read, new=run.new, updated=run.updated, duplicates=run.duplicates,
        rejected=run.rejected, rejections=rejections(run), message=run.message,
    )
