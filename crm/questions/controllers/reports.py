"""Evaluation of the relay: /questions/reports (table and chart) and its CSV export."""

from litestar import Controller, Request, get
from litestar.response import Response, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.i18n import _, current_language
from crm.liaison.ids import storable
from crm.liaison.models import Contact
from crm.liaison.params import parse_date, parse_int, query_string
from crm.liaison.services.units import UnitService
from crm.questions.services import reports
from crm.security.guards import librarian_required

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


async def _report(db: AsyncSession, group_by: str | None, date_from: str | None, date_to: str | None,
                  unit_id: str | None, lecturer_id: str | None, errors: dict) -> reports.Report:
    dates = {}
    for name, value in (("date_from", date_from), ("date_to", date_to)):
        try:
            dates[name] = parse_date(value)
        except ValueError:
            errors[name] = _("Not a valid date (use YYYY-MM-DD or dd/mm/yyyy).")
            dates[name] = None
    unit, lecturer = parse_int(unit_id), parse_int(lecturer_id)
    return await reports.build_report(db, group_by or "unit", dates["date_from"], dates["date_to"],
                                      unit if storable(unit) else None, lecturer if storable(lecturer) else None)


class ReportController(Controller):
    path = "/questions/reports"
    guards = [librarian_required]
    include_in_schema = False

    @get("/")
    async def report_page(self, db_session: AsyncSession, group_by: str | None = None, date_from: str | None = None,
                          date_to: str | None = None, unit_id: str | None = None,
                          lecturer_id: str | None = None) -> Template:
        errors: dict[str, str] = {}
        report = await _report(db_session, group_by, date_from, date_to, unit_id, lecturer_id, errors)
        lecturer = parse_int(lecturer_id)
        values = {"group_by": report.group_by, "date_from": date_from or "", "date_to": date_to or "",
                  "unit_id": parse_int(unit_id), "lecturer_id": lecturer}
        return Template("questions/reports.html", context={
            "report": report, "values": values, "errors": errors, "query": query_string(values),
            "units": await UnitService(db_session).options(current_language()),
            "filter_lecturer": await db_session.get(Contact, lecturer) if storable(lecturer) else None,
        })

    @get("/export.csv", media_type=CSV_MEDIA_TYPE)
    async def export(self, request: Request, db_session: AsyncSession, group_by: str | None = None,
                     date_from: str | None = None, date_to: str | None = None, unit_id: str | None = None,
                     lecturer_id: str | None = None) -> Response:
        errors: dict[str, str] = {}
        report = await _report(db_session, group_by, date_from, date_to, unit_id, lecturer_id, errors)
        body = "".join([chunk async for chunk in reports.export_csv(report)])
        name = f"questions-by-{report.group_by}.csv"
        return Response(body.encode("utf-8"), media_type=CSV_MEDIA_TYPE,
                        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


ROUTES = [ReportController]
