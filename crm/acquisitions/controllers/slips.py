"""Request and unavailable slips: librarian pages under /acquisitions/slips (list with the aggregation
by title and by subject, record by form, import CSV)."""

from datetime import date

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.acquisitions import labels, schemas
from crm.acquisitions.controllers.common import MAX_UPLOAD_BYTES, TooLarge, get_slip, uploaded
from crm.acquisitions.services.slips import SLIP_HEADERS, SlipFilter, SlipService
from crm.errors import FieldErrors
from crm.forms import form_values, validate
from crm.i18n import _, lazy
from crm.liaison.params import IdParam, parse_date, parse_page, query_string
from crm.liaison.services.csv_table import ImportResult, RowError
from crm.security.guards import librarian_required

_FIELDS = ("title", "author", "isbn", "requested_on", "outcome", "refusal_reason", "note", "subject", "students")
#: What each CSV column holds, shown on the import page.
COLUMN_HELP = {
    "title": lazy("Title asked for."),
    "author": lazy("Author (optional)."),
    "isbn": lazy("ISBN (optional)."),
    "requested_on": lazy("Date of the request: dd/mm/yyyy or YYYY-MM-DD; blank: today."),
    "outcome": lazy("met or refused (đáp ứng or từ chối); blank: refused when a reason is given."),
    "refusal_reason": lazy("not_held, on_loan, lost, restricted or other (or không có, đang mượn, mất, hạn chế, khác)."),
    "subject": lazy("Subject, class number or course (optional)."),
    "students": lazy("Readers who asked (default 1)."),
    "note": lazy("Note (optional)."),
}


class SlipPageController(Controller):
    path = "/acquisitions/slips"
    guards = [librarian_required]
    include_in_schema = False

    @get("/")
    async def index(self, db_session: AsyncSession, q: str | None = None, outcome: str | None = None,
                    reason: str | None = None, subject: str | None = None, date_from: str | None = None,
                    date_to: str | None = None, page: str | None = None) -> Template:
        errors: dict[str, str] = {}
        dates: dict[str, date | None] = {}
        for name, raw in (("date_from", date_from), ("date_to", date_to)):
            try:
                dates[name] = parse_date(raw)
            except ValueError:
                dates[name] = None
                errors[name] = _("Not a valid date (use YYYY-MM-DD or dd/mm/yyyy).")
        filters = SlipFilter(q=q, outcome=outcome if outcome in labels.OUTCOMES else None,
                             reason=reason if reason in labels.REFUSAL_REASONS else None, subject=subject or None, **dates)
        service = SlipService(db_session)
        values = {"q": q or "", "outcome": filters.outcome or "", "reason": filters.reason or "",
                  "subject": subject or "", "date_from": date_from or "", "date_to": date_to or ""}
        return Template("acquisitions/slips/index.html", context={
            "page": await service.list_slips(filters, parse_page(page)), "summary": await service.summary(filters),
            "values": values, "errors": errors, "query": query_string(values), "L": labels,
        })

    @get("/new")
    async def new(self) -> Template:
        values = {"requested_on": date.today().isoformat(), "outcome": "refused", "students": 1}
        return Template("acquisitions/slips/form.html", context={"values": values, "errors": {}, "L": labels})

    @post("/new")
    async def create(self, request: Request, db_session: AsyncSession) -> Template | Redirect:
        form = await request.form()
        data = {k: form.get(k) for k in _FIELDS if form.get(k) not in (None, "")}
        try:
            await SlipService(db_session).create_slip(validate(data, schemas.SlipCreate), request.user)
        except FieldErrors as exc:
            return Template("acquisitions/slips/form.html", status_code=exc.status_code,
                            context={"values": form_values(form), "errors": exc.errors, "L": labels})
        if form.get("another"):
            return Redirect(path="/acquisitions/slips/new?done=1", status_code=303)
        return Redirect(path="/acquisitions/slips", status_code=303)

    def _import_page(self, result: ImportResult | None, status: int = 200) -> Template:
        return Template("acquisitions/slips/import.html", status_code=status, context={
            "result": result, "columns": SLIP_HEADERS, "help": COLUMN_HELP, "required": ["title"],
            "max_mb": MAX_UPLOAD_BYTES // (1024 * 1024)})

    @get("/import")
    async def import_page(self) -> Template:
        return self._import_page(None)

    @post("/import")
    async def import_csv(self, request: Request, db_session: AsyncSession) -> Template:
        form = await request.form()
        try:
            upload = await uploaded(form)
        except TooLarge:
            message = _("The file is larger than %(mb)s MB. Split it into smaller files.", mb=MAX_UPLOAD_BYTES // (1024 * 1024))
            return self._import_page(ImportResult(errors=[RowError(None, None, message)]), 413)
        if upload is None:
            return self._import_page(ImportResult(errors=[RowError(None, None, _("Choose a file to import."))]), 400)
        result = await SlipService(db_session).import_csv(upload[0], request.user)
        return self._import_page(result, 200 if result.ok else 400)

    @post("/{slip_id:int}/delete")
    async def remove(self, db_session: AsyncSession, slip_id: IdParam) -> Redirect:
        await SlipService(db_session).delete_slip(await get_slip(db_session, slip_id))
        return Redirect(path="/acquisitions/slips", status_code=303)
