"""CSV export and import of units and contacts: pages (/units/…, /contacts/…) and the API (/api/…).

Exports stream from a session of their own: the request's session is committed and closed when
the response starts, while the rows are still being sent.
"""

from collections.abc import AsyncIterator, Callable
from typing import Any

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.response import Stream, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.i18n import _, lazy
from crm.liaison.controllers.contacts import page_filter
from crm.liaison.schemas.contacts import ContactKind
from crm.liaison.services import csv_io
from crm.liaison.services.contacts import ContactFilter
from crm.liaison.services.csv_io import MAX_IMPORT_BYTES, ImportResult, RowError
from crm.security.guards import admin_required, librarian_required

#: Room for the multipart envelope (boundaries, the CSRF field) around a file of the maximum size.
UPLOAD_ENVELOPE = 64 * 1024
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


#: What each column holds, shown on the import pages.
COLUMN_HELP = {
    "units": {
        "code": lazy("Unique code of the unit, e.g. CNTT."),
        "name_vi": lazy("Name in Vietnamese."),
        "name_en": lazy("Name in English (optional)."),
        "kind": lazy("university, faculty, school, institute, department, lab, center, office or other (or the Vietnamese name of the type); blank: department."),
        "parent_code": lazy("Code of the unit it belongs to (in the database or anywhere in the file); blank: top level."),
    },
    "contacts": {
        "full_name": lazy("Family name first, e.g. Nguyễn Văn An."),
        "email": lazy("Identifies the contact: a known email updates that contact."),
        "kind": lazy("lecturer, researcher, student or staff (or giảng viên, nghiên cứu viên, sinh viên, cán bộ); blank: lecturer."),
        "unit_code": lazy("Code of an existing unit (optional)."),
        "academic_title": lazy("For example PGS.TS., TS. or ThS. (optional)."),
        "position": lazy("Position (optional)."),
        "phone": lazy("Phone (optional)."),
        "language": lazy("Language of emails: vi or en; blank: vi."),
        "active": lazy("1 or 0 (yes or no, có or không); blank: 1."),
        "notes": lazy("Notes (optional)."),
    },
}


class TooLarge(Exception):
    pass


def too_large_message() -> str:
    return _("The file is larger than %(mb)s MB. Split it into smaller files.", mb=MAX_IMPORT_BYTES // (1024 * 1024))


def too_large_handler(request: Request, exc: Exception) -> Response:
    message = too_large_message()
    if request.url.path.startswith("/api"):
        return Response(content={"status_code": 413, "detail": message,
                                 "errors": [{"row": None, "column": None, "message": message}]},
                        status_code=413, media_type=MediaType.JSON)
    return Template("errors/error.html", context={"status": 413, "title": _("Import CSV"), "message": message},
                    status_code=413)


async def read_upload(request: Request) -> bytes | None:
    """The CSV of a request: a multipart file field, or the raw body. None when no file was sent."""
    content_type, _options = request.content_type
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            upload = next((v for v in form.values() if isinstance(v, UploadFile)), None)
        if upload is None:
            return None
        data = await upload.read(MAX_IMPORT_BYTES + 1)
        if not data and not upload.filename:  # a browser sends an empty part when no file was chosen
            return None
    else:
        data = await request.body()
    if len(data) > MAX_IMPORT_BYTES:
        raise TooLarge()
    return data


def _stream(name: str, make: Callable[[AsyncSession], AsyncIterator[str]], request: Request) -> Stream:
    session_maker = request.app.state.session_maker

    async def body() -> AsyncIterator[bytes]:
        async with session_maker() as session:
            async for chunk in make(session):
                yield chunk.encode("utf-8")

    return Stream(body(), media_type=CSV_MEDIA_TYPE,
                  headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


def _export_contacts(request: Request, filters: ContactFilter) -> Stream:
    return _stream("contacts.csv", lambda s: csv_io.export_contacts(s, filters), request)


def _export_units(request: Request) -> Stream:
    return _stream("units.csv", csv_io.export_units, request)


Importer = Callable[[AsyncSession, bytes], Any]
IMPORTERS: dict[str, Importer] = {"units": csv_io.import_units, "contacts": csv_io.import_contacts}


async def run_import(request: Request, db: AsyncSession, what: str) -> tuple[ImportResult, int]:
    """The import's result and the HTTP status to answer with (nothing is committed unless 200)."""
    try:
        data = await read_upload(request)
    except TooLarge:
        return ImportResult(errors=[RowError(None, None, too_large_message())]), 413
    if data is None:
        return ImportResult(errors=[RowError(None, None, _("Choose a CSV file to import."))]), 400
    result = await IMPORTERS[what](db, data)
    return result, 200 if result.ok else 400


class CsvApiController(Controller):
    path = "/api"
    tags = ["csv"]
    guards = [librarian_required]
    exception_handlers = {RequestEntityTooLarge: too_large_handler}

    @get("/units/export.csv", media_type=CSV_MEDIA_TYPE)
    async def export_units(self, request: Request) -> Stream:
        """Every unit, parents first: code, name_vi, name_en, kind, parent_code (UTF-8 with BOM)."""
        return _export_units(request)

    @get("/contacts/export.csv", media_type=CSV_MEDIA_TYPE)
    async def export_contacts(self, request: Request, q: str | None = None, kind: ContactKind | None = None,
                              unit_id: int | None = None, active: bool | None = None) -> Stream:
        """The contacts matching the same filters as ``GET /api/contacts``."""
        return _export_contacts(request, ContactFilter(q, kind, unit_id, active))

    @post("/units/import", guards=[admin_required], request_max_body_size=MAX_IMPORT_BYTES + UPLOAD_ENVELOPE)
    async def import_units(self, request: Request, db_session: AsyncSession) -> Response:
        """A CSV as the request body (text/csv) or as the ``file`` field of a multipart form."""
        return self._answer(*await run_import(request, db_session, "units"))

    @post("/contacts/import", request_max_body_size=MAX_IMPORT_BYTES + UPLOAD_ENVELOPE)
    async def import_contacts(self, request: Request, db_session: AsyncSession) -> Response:
        """Creates contacts, or updates them when the email is known; all rows or none."""
        return self._answer(*await run_import(request, db_session, "contacts"))

    @staticmethod
    def _answer(result: ImportResult, status: int) -> Response:
        if result.ok:
            return Response(content={"created": result.created, "updated": result.updated, "errors": []}, status_code=200)
        detail = too_large_message() if status == 413 else _("Nothing was imported: correct these rows and try again.")
        errors = [{"row": e.row, "column": e.column, "message": e.message} for e in result.errors]
        return Response(content={"status_code": status, "detail": detail, "errors": errors}, status_code=status)


class CsvPageController(Controller):
    path = "/"
    guards = [librarian_required]
    include_in_schema = False
    exception_handlers = {RequestEntityTooLarge: too_large_handler}

    @get("/units/export.csv", media_type=CSV_MEDIA_TYPE)
    async def export_units(self, request: Request) -> Stream:
        return _export_units(request)

    @get("/contacts/export.csv", media_type=CSV_MEDIA_TYPE)
    async def export_contacts(self, request: Request, q: str | None = None, kind: str | None = None,
                              unit_id: str | None = None, active: str | None = None) -> Stream:
        return _export_contacts(request, page_filter(q, kind, unit_id, active))

    @staticmethod
    def _page(what: str, result: ImportResult | None = None, status: int = 200) -> Template:
        spec = csv_io.UNIT_HEADERS if what == "units" else csv_io.CONTACT_HEADERS
        return Template("liaison/csv/import.html", context={
            "what": what, "result": result, "columns": spec, "help": COLUMN_HELP[what],
            "required": ("code", "name_vi") if what == "units" else ("full_name", "email"),
            "max_mb": MAX_IMPORT_BYTES // (1024 * 1024),
        }, status_code=status)

    @get("/units/import", guards=[admin_required])
    async def units_form(self) -> Template:
        return self._page("units")

    @post("/units/import", guards=[admin_required], request_max_body_size=MAX_IMPORT_BYTES + UPLOAD_ENVELOPE)
    async def import_units(self, request: Request, db_session: AsyncSession) -> Template:
        return self._page("units", *await run_import(request, db_session, "units"))

    @get("/contacts/import")
    async def contacts_form(self) -> Template:
        return self._page("contacts")

    @post("/contacts/import", request_max_body_size=MAX_IMPORT_BYTES + UPLOAD_ENVELOPE)
    async def import_contacts(self, request: Request, db_session: AsyncSession) -> Template:
        return self._page("contacts", *await run_import(request, db_session, "contacts"))


ROUTES = [CsvApiController, CsvPageController]
