"""The source registry's pages: /sources (list, form, details with the run history, upload) and /runs.

A harvest or an import works in sessions of its own (it commits batch by batch), so a source it
needs is written and committed first, in a short transaction of its own, never in the request's.
"""

from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.forms import cleaned, form_values, validate
from crm.i18n import _
from crm.security.guards import librarian_required
from crm.security.services import UserService
from crm.sources import harvest, labels, schemas, uploads
from crm.db import release
from crm.sources.controllers.common import (
    UPLOAD_BODY_LIMIT, IdParam, editable_source, get_run, get_source, parse_page, settings_of, too_large_handler,
    upload_from_form,
)
from crm.sources.models import Source
from crm.sources.services.sources import MIN_INTERVAL_MINUTES, SourceService, can_edit, rejections

FIELDS = ("name", "kind", "url", "path", "oai_set", "oai_metadata_prefix", "interval_minutes", "enabled", "owner_id", "notes")
#: Fields only administrators see and send: a file on the server, and another owner.
ADMIN_FIELDS = ("path", "owner_id")
DEFAULT_INTERVAL_MINUTES = 1440
RUNS_PER_PAGE = 25


def _is_admin(request: Request) -> bool:
    return request.user.role == "admin"


def _form_data(form: Any, is_admin: bool) -> dict[str, Any]:
    return {k: form.get(k) for k in FIELDS if (is_admin or k not in ADMIN_FIELDS) and form.get(k) is not None}


async def _parse(request: Request, db: AsyncSession, form: Any, source: Source | None) -> schemas.SourceForm:
    """The typed form; on bad input, FieldErrors with the type errors and the service's rule errors together."""
    data = _form_data(form, _is_admin(request))
    try:
        return validate(data, schemas.SourceForm)
    except FieldErrors as exc:
        readable = cleaned(validate({k: v for k, v in data.items() if k not in exc.errors}, schemas.SourceForm))
        readable = {k: v for k, v in readable.items() if k not in exc.errors}
        rules = await SourceService(db, settings_of(request)).problems(readable, request.user, source)
        raise FieldErrors({**rules, **exc.errors}) from None


def _has_file(form: Any) -> bool:
    upload = form.get("file")
    return hasattr(upload, "filename") and bool(upload.filename)


def _only_marc() -> FieldErrors:
    return FieldErrors({"file": _("Only a MARC source takes a file.")})


class SourcePageController(Controller):
    path = "/sources"
    guards = [librarian_required]
    include_in_schema = False
    exception_handlers = {RequestEntityTooLarge: too_large_handler, uploads.UploadTooLarge: too_large_handler}

    async def _form(self, request: Request, db: AsyncSession, item: Source | None, values: dict, errors: dict,
                    status: int = 200) -> Template:
        is_admin = _is_admin(request)
        owners = [(u.id, u.full_name) for u in await UserService(db).list_librarians()] if is_admin else []
        return Template("sources/form.html", status_code=status, context={
            "item": item, "values": values, "errors": errors, "is_admin": is_admin, "owners": owners,
            "kinds": labels.options(labels.SOURCE_KINDS), "min_interval": MIN_INTERVAL_MINUTES,
            "max_mb": uploads.MAX_UPLOAD_BYTES // (1024 * 1024),
            "uploaded": uploads.is_upload(item.path, settings_of(request)) if item else False,
            "file_name": uploads.display_name(item.path) if item else "",
        })

    async def _create(self, request: Request, data: schemas.SourceCreate | schemas.SourceForm) -> int:
        async with request.app.state.session_maker() as session, session.begin():
            source = await SourceService(session, settings_of(request)).create_source(data, request.user)
            return source.id

    @get("/")
    async def index(self, request: Request, db_session: AsyncSession, page: str | None = None) -> Template:
        result = await SourceService(db_session, settings_of(request)).list_sources(parse_page(page))
        return Template("sources/index.html", context={"page": result, "L": labels, "user_id": request.user.id,
                                                       "is_admin": _is_admin(request)})

    @get("/new")
    async def new(self, request: Request, db_session: AsyncSession, kind: str | None = None) -> Template:
        values = {"kind": kind if kind in labels.SOURCE_KINDS else "feed", "interval_minutes": DEFAULT_INTERVAL_MINUTES,
                  "enabled": True, "oai_metadata_prefix": "oai_dc", "owner_id": request.user.id}
        return await self._form(request, db_session, None, values, {})

    @post("/new", request_max_body_size=UPLOAD_BODY_LIMIT)
    async def create(self, request: Request, db_session: AsyncSession) -> Template | Redirect:
        form = await request.form()
        settings = settings_of(request)
        path = None
        try:
            data = await _parse(request, db_session, form, None)
            if _has_file(form) and data.kind != "marc":
                raise _only_marc()
            path = await upload_from_form(form, settings)
            await release(db_session)
            source_id = await self._create(request, data)
        except FieldErrors as exc:
            uploads.remove(str(path) if path else None, settings)
            return await self._form(request, db_session, None, form_values(form), exc.errors, exc.status_code)
        if path is not None:
            run = await harvest.import_upload(request.app.state.session_maker, source_id, path, settings=settings)
            return Redirect(path=f"/runs/{run.id}", status_code=303)
        return Redirect(path=f"/sources/{source_id}", status_code=303)

    @get("/upload")
    async def upload_new_form(self) -> Template:
        return self._upload_page(None, {}, {})

    @post("/upload", request_max_body_size=UPLOAD_BODY_LIMIT)
    async def upload_new(self, request: Request, db_session: AsyncSession) -> Template | Redirect:
        """A new MARC source from a file: harvested by hand (upload the next file to the same source)."""
        form = await request.form()
        settings = settings_of(request)
        path = None
        try:
            if not _has_file(form):
                raise FieldErrors({"file": _("Choose a MARC file to upload.")})
            path = await upload_from_form(form, settings)
            name = (str(form.get("name") or "").strip() or uploads.display_name(str(path)))[:200]
            data = validate({"name": name, "kind": "marc", "enabled": "on", "notes": form.get("notes")},
                            schemas.SourceCreate)
            await release(db_session)  # the request's transaction (it loaded the user) holds the write lock
            source_id = await self._create(request, data)
        except FieldErrors as exc:
            uploads.remove(str(path) if path else None, settings)
            return self._upload_page(None, form_values(form), exc.errors, exc.status_code)
        run = await harvest.import_upload(request.app.state.session_maker, source_id, path, settings=settings)  # type: ignore[arg-type]
        return Redirect(path=f"/runs/{run.id}", status_code=303)

    @staticmethod
    def _upload_page(source: Source | None, values: dict, errors: dict, status: int = 200) -> Template:
        return Template("sources/upload.html", status_code=status, context={
            "source": source, "values": values, "errors": errors, "max_mb": uploads.MAX_UPLOAD_BYTES // (1024 * 1024),
        })

    @get("/{source_id:int}")
    async def detail(self, request: Request, db_session: AsyncSession, source_id: IdParam,
                     page: str | None = None) -> Template:
        settings = settings_of(request)
        source = await get_source(db_session, settings, source_id)
        runs = await SourceService(db_session, settings).list_runs(source_id, parse_page(page), RUNS_PER_PAGE)
        return Template("sources/detail.html", context={
            "source": source, "runs": runs, "L": labels, "editable": can_edit(source, request.user),
            "uploaded": uploads.is_upload(source.path, settings), "file_name": uploads.display_name(source.path),
        })

    @get("/{source_id:int}/edit")
    async def edit(self, request: Request, db_session: AsyncSession, source_id: IdParam) -> Template:
        source = await editable_source(db_session, request, source_id)
        return await self._form(request, db_session, source, {k: getattr(source, k) for k in FIELDS}, {})

    @post("/{source_id:int}/edit")
    async def update(self, request: Request, db_session: AsyncSession, source_id: IdParam) -> Template | Redirect:
        source = await editable_source(db_session, request, source_id)
        form = await request.form()
        is_admin = _is_admin(request)
        try:
            data = await _parse(request, db_session, form, source)
            fields = {f: getattr(data, f) for f in data.__struct_fields__ if is_admin or f not in ADMIN_FIELDS}
            await SourceService(db_session, settings_of(request)).update_source(
                source, schemas.SourceUpdate(**fields), request.user)
        except FieldErrors as exc:
            return await self._form(request, db_session, source, form_values(form), exc.errors, exc.status_code)
        return Redirect(path=f"/sources/{source.id}", status_code=303)

    @post("/{source_id:int}/delete")
    async def remove(self, request: Request, db_session: AsyncSession, source_id: IdParam) -> Redirect:
        source = await editable_source(db_session, request, source_id)
        await SourceService(db_session, settings_of(request)).delete_source(source)
        return Redirect(path="/sources", status_code=303)

    @post("/{source_id:int}/harvest")
    async def harvest_now(self, request: Request, db_session: AsyncSession, source_id: IdParam) -> Redirect:
        await editable_source(db_session, request, source_id)
        await release(db_session)
        run = await harvest.run_source(request.app.state.session_maker, source_id, settings=settings_of(request))
        return Redirect(path=f"/runs/{run.id}", status_code=303)

    @get("/{source_id:int}/upload")
    async def upload_form(self, request: Request, db_session: AsyncSession, source_id: IdParam) -> Template:
        return self._upload_page(await editable_source(db_session, request, source_id), {}, {})

    @post("/{source_id:int}/upload", request_max_body_size=UPLOAD_BODY_LIMIT)
    async def upload(self, request: Request, db_session: AsyncSession, source_id: IdParam) -> Template | Redirect:
        source = await editable_source(db_session, request, source_id)
        form = await request.form()
        try:
            if source.kind != "marc":
                raise _only_marc()
            path = await upload_from_form(form, settings_of(request))
            if path is None:
                raise FieldErrors({"file": _("Choose a MARC file to upload.")})
        except FieldErrors as exc:
            return self._upload_page(source, {}, exc.errors, exc.status_code)
        await release(db_session)
        run = await harvest.import_upload(request.app.state.session_maker, source_id, path, settings=settings_of(request))
        return Redirect(path=f"/runs/{run.id}", status_code=303)


class RunPageController(Controller):
    path = "/runs"
    guards = [librarian_required]
    include_in_schema = False

    @get("/{run_id:int}")
    async def detail(self, request: Request, db_session: AsyncSession, run_id: IdParam) -> Template:
        run = await get_run(db_session, settings_of(request), run_id)
        return Template("sources/run.html", context={
            "run": run, "rejections": rejections(run), "L": labels,
            "editable": can_edit(run.source, request.user) if run.source else False,
        })
