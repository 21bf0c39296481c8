"""The source registry's JSON API: /api/sources (with runs, harvest now, upload) and /api/runs."""

from litestar import Controller, Request, delete, get, patch, post
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.i18n import _
from crm.security.guards import librarian_required
from crm.sources import harvest, schemas, uploads
from crm.db import release
from crm.sources.controllers.common import (
    UPLOAD_BODY_LIMIT, IdParam, PageParam, PerPageParam, editable_source, get_run, get_source, settings_of,
    too_large_handler, upload_from_request,
)
from crm.sources.services.sources import SourceService, run_schema, to_schema


class SourceApiController(Controller):
    path = "/api/sources"
    tags = ["sources"]
    guards = [librarian_required]
    exception_handlers = {RequestEntityTooLarge: too_large_handler, uploads.UploadTooLarge: too_large_handler}

    @get("/")
    async def list_sources(self, request: Request, db_session: AsyncSession, page: PageParam = 1,
                           per_page: PerPageParam = 50) -> schemas.SourcePage:
        settings = settings_of(request)
        result = await SourceService(db_session, settings).list_sources(page, per_page)
        return schemas.SourcePage(items=[to_schema(s, settings) for s in result.items], total=result.total,
                                  page=result.number, per_page=result.per_page)

    @post("/")
    async def create_source(self, request: Request, db_session: AsyncSession, data: schemas.SourceCreate) -> schemas.Source:
        """Feeds and OAI-PMH endpoints take an http(s) ``url``; only administrators give a MARC file's ``path``
        (librarians create a MARC source and then upload its file)."""
        settings = settings_of(request)
        return to_schema(await SourceService(db_session, settings).create_source(data, request.user), settings)

    @get("/{source_id:int}")
    async def get_source(self, request: Request, db_session: AsyncSession, source_id: IdParam) -> schemas.Source:
        settings = settings_of(request)
        return to_schema(await get_source(db_session, settings, source_id), settings)

    @patch("/{source_id:int}")
    async def update_source(self, request: Request, db_session: AsyncSession, source_id: IdParam,
                            data: schemas.SourceUpdate) -> schemas.Source:
        settings = settings_of(request)
        source = await editable_source(db_session, request, source_id)
        return to_schema(await SourceService(db_session, settings).update_source(source, data, request.user), settings)

    @delete("/{source_id:int}")
    async def delete_source(self, request: Request, db_session: AsyncSession, source_id: IdParam) -> None:
        source = await editable_source(db_session, request, source_id)
        await SourceService(db_session, settings_of(request)).delete_source(source)

    @get("/{source_id:int}/runs")
    async def list_runs(self, request: Request, db_session: AsyncSession, source_id: IdParam, page: PageParam = 1,
                        per_page: PerPageParam = 50) -> schemas.RunPage:
        settings = settings_of(request)
        await get_source(db_session, settings, source_id)
        result = await SourceService(db_session, settings).list_runs(source_id, page, per_page)
        return schemas.RunPage(items=[run_schema(r) for r in result.items], total=result.total,
                               page=result.number, per_page=result.per_page)

    @post("/{source_id:int}/harvest")
    async def harvest_source(self, request: Request, db_session: AsyncSession, source_id: IdParam) -> schemas.Run:
        """Harvest now and answer with the run's report (a failed harvest is a run too, with its message)."""
        await editable_source(db_session, request, source_id)
        await release(db_session)
        run = await harvest.run_source(request.app.state.session_maker, source_id, settings=settings_of(request))
        return run_schema(run)

    @post("/{source_id:int}/upload", request_max_body_size=UPLOAD_BODY_LIMIT)
    async def upload_file(self, request: Request, db_session: AsyncSession, source_id: IdParam,
                          filename: str | None = None) -> schemas.Run:
        """A MARC21 or MARCXML file as the raw body (``?filename=`` names it) or as the ``file`` field of a
        multipart form; it replaces the source's file and is imported at once."""
        source = await editable_source(db_session, request, source_id)
        if source.kind != "marc":
            raise FieldErrors({"file": _("Only a MARC source takes a file.")})
        path = await upload_from_request(request, filename)
        await release(db_session)
        run = await harvest.import_upload(request.app.state.session_maker, source_id, path, settings=settings_of(request))
        return run_schema(run)


class RunApiController(Controller):
    path = "/api/runs"
    tags = ["sources"]
    guards = [librarian_required]

    @get("/{run_id:int}")
    async def get_run(self, request: Request, db_session: AsyncSession, run_id: IdParam) -> schemas.Run:
        return run_schema(await get_run(db_session, settings_of(request), run_id))
