"""What the sources and items controllers share: lenient query parsing, lookups, uploads, 413 answers."""

import asyncio
import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import MediaType, Request, Response
from litestar.datastructures import UploadFile
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import Parameter
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.i18n import _
from crm.settings import Settings
from crm.sources import uploads
from crm.sources.models import Source, SourceRun
from crm.sources.services.sources import MAX_ID, SourceService, can_edit

MAX_PAGE = 100_000
#: Room for the multipart envelope (boundaries, the CSRF field, the other fields) around a file.
UPLOAD_ENVELOPE = 256 * 1024
UPLOAD_BODY_LIMIT = uploads.MAX_UPLOAD_BYTES + UPLOAD_ENVELOPE
IdParam = Annotated[int, Parameter(ge=1, le=MAX_ID)]
OptionalId = Annotated[int | None, Parameter(ge=1, le=MAX_ID)]
PageParam = Annotated[int, Parameter(ge=1, le=MAX_PAGE)]
PerPageParam = Annotated[int, Parameter(ge=1, le=MAX_PAGE)]
_VN_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def parse_int(value: Any) -> int | None:
    """An id from a query string or a form; blank, not a number or out of range → None."""
    text = str(value if value is not None else "").strip()
    if not text.isdigit() or len(text) > 18:
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def parse_page(value: Any) -> int:
    return min(parse_int(value) or 1, MAX_PAGE)


def parse_date(value: Any) -> dt.date | None:
    """YYYY-MM-DD or dd/mm/yyyy; ValueError for anything else that is not blank."""
    text = str(value or "").strip()
    if not text:
        return None
    if m := _VN_DATE.match(text):
        return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    return dt.date.fromisoformat(text)


def query_string(values: Mapping[str, Any]) -> str:
    return urlencode({k: v for k, v in values.items() if v not in (None, "", False)})


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


async def get_source(db: AsyncSession, settings: Settings, source_id: int) -> Source:
    source = await SourceService(db, settings).get(source_id)
    if source is None:
        raise NotFoundException()
    return source


async def editable_source(db: AsyncSession, request: Request, source_id: int) -> Source:
    source = await get_source(db, settings_of(request), source_id)
    if not can_edit(source, request.user):
        raise PermissionDeniedException()
    return source


async def get_run(db: AsyncSession, settings: Settings, run_id: int) -> SourceRun:
    run = await SourceService(db, settings).get_run(run_id)
    if run is None:
        raise NotFoundException()
    return run


def too_large_message() -> str:
    return _("The file is larger than %(mb)s MB. Give an administrator the file to import on the server, or split it.",
             mb=uploads.MAX_UPLOAD_BYTES // (1024 * 1024))


def too_large_handler(request: Request, exc: Exception) -> Response:
    message = too_large_message()
    if request.url.path.startswith("/api"):
        return Response(content={"status_code": 413, "detail": message, "errors": {"file": message}},
                        status_code=413, media_type=MediaType.JSON)
    return Template("errors/error.html", context={"status": 413, "title": _("Upload a MARC file"), "message": message},
                    status_code=413)


def empty_upload() -> FieldErrors:
    return FieldErrors({"file": _("The file is empty.")})


async def upload_from_form(form: Any, settings: Settings) -> Path | None:
    """Store the ``file`` field of a multipart form; None when no file was chosen."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        return None
    if not upload.filename:  # a browser sends an empty part when no file was chosen
        return None
    try:
        return await asyncio.to_thread(uploads.store_file, upload.file, settings, upload.filename)
    except uploads.EmptyUpload:
        raise empty_upload() from None


async def upload_from_request(request: Request, filename: str | None) -> Path:
    """The file of an API request: the ``file`` field of a multipart form, or the raw body."""
    settings = settings_of(request)
    if request.content_type[0] == "multipart/form-data":
        path = await upload_from_form(await request.form(), settings)
        if path is None:
            raise FieldErrors({"file": _("Choose a MARC file to upload.")})
        return path
    try:
        return await uploads.store_stream(request.stream(), settings, filename)
    except uploads.EmptyUpload:
        raise empty_upload() from None
