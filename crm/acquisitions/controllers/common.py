"""What the acquisitions controllers share: lookups that answer 404, uploads, file responses."""

from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.datastructures import UploadFile
from litestar.exceptions import NotFoundException
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from crm.acquisitions.models import Citation, Course, RequestSlip, Suggestion
from crm.acquisitions.services.citations import CitationService
from crm.acquisitions.services.courses import CourseService
from crm.acquisitions.services.slips import SlipService
from crm.acquisitions.services.suggestions import SuggestionService
from crm.settings import Settings

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Uploads larger than this are refused before they are read (reading lists and slips are small).
MAX_UPLOAD_BYTES = 5 * 1024 * 1024


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


async def get_course(db: AsyncSession, course_id: int) -> Course:
    course = await CourseService(db).get(course_id)
    if course is None:
        raise NotFoundException()
    return course


async def get_citation(db: AsyncSession, settings: Settings, citation_id: int) -> Citation:
    citation = await CitationService(db, settings).get(citation_id)
    if citation is None:
        raise NotFoundException()
    return citation


async def get_suggestion(db: AsyncSession, settings: Settings, suggestion_id: int) -> Suggestion:
    suggestion = await SuggestionService(db, settings).get(suggestion_id)
    if suggestion is None:
        raise NotFoundException()
    return suggestion


async def get_slip(db: AsyncSession, slip_id: int) -> RequestSlip:
    slip = await SlipService(db).get(slip_id)
    if slip is None:
        raise NotFoundException()
    return slip


class TooLarge(Exception):
    pass


async def uploaded(form: Any, field: str = "file") -> tuple[bytes, str | None] | None:
    """The bytes and name of a form's file field; None when no file was chosen; TooLarge past the limit."""
    upload = form.get(field)
    if not isinstance(upload, UploadFile):
        return None
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if not data and not upload.filename:
        return None
    if len(data) > MAX_UPLOAD_BYTES:
        raise TooLarge()
    return data, upload.filename


async def request_file(request: Request) -> tuple[bytes, str | None] | None:
    """An API upload: a multipart ``file`` field, or the raw body."""
    content_type, _options = request.content_type
    if content_type == "multipart/form-data":
        return await uploaded(await request.form())
    data = await request.body()
    if len(data) > MAX_UPLOAD_BYTES:
        raise TooLarge()
    return (data, None) if data else None


def attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}",
            "Cache-Control": "no-store"}


def csv_stream(name: str, make: Callable[[AsyncSession], AsyncIterator[str]], request: Request) -> Stream:
    """Stream a CSV from a session of its own (the request's is closed once the response starts)."""
    session_maker = request.app.state.session_maker

    async def body() -> AsyncIterator[bytes]:
        async with session_maker() as session:
            async for chunk in make(session):
                yield chunk.encode("utf-8")

    return Stream(body(), media_type=CSV_MEDIA_TYPE, headers=attachment(name))


def xlsx_response(name: str, content: bytes) -> Response:
    return Response(content=content, media_type=XLSX_MEDIA_TYPE, headers=attachment(name))
