"""The acquisitions overview (/acquisitions), the purchase plan with its exports and budget lines, and
the weeding report."""

from collections.abc import AsyncIterator
from datetime import date

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Stream, Template
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.acquisitions import labels, schemas
from crm.acquisitions.controllers.common import csv_stream, settings_of, xlsx_response
from crm.acquisitions.models import BudgetLine, Course
from crm.acquisitions.services import exports, weeding
from crm.acquisitions.services.citations import CitationService
from crm.acquisitions.services.plan import build_plan, create_budget_line, save_edit, update_budget_line
from crm.acquisitions.services.slips import SlipService
from crm.acquisitions.services.suggestions import SuggestionService
from crm.errors import FieldErrors
from crm.forms import form_values, validate
from crm.i18n import _
from crm.liaison.params import IdParam, parse_int, parse_page, query_string
from crm.liaison.services.csv_table import write_csv
from crm.pagination import Page, clamp
from crm.security.guards import librarian_required

PLAN_PAGE_SIZE = 50
#: Candidates shown on the overview.
OVERVIEW_TOP = 10


def plan_filters(decision: str | None, budget_line_id: str | None, source: str | None) -> dict:
    return {"decision": decision if decision in labels.DECISIONS else None,
            "budget_line_id": parse_int(budget_line_id),
            "source": source if source in labels.PLAN_SOURCES else None}


def _years(value: str | None) -> tuple[int, dict[str, str]]:
    years = parse_int(value)
    if value and (years is None or not weeding.MIN_YEARS <= years <= weeding.MAX_YEARS):
        return weeding.DEFAULT_YEARS, {"years": _("Give a number of years between %(low)s and %(high)s.",
                                                  low=weeding.MIN_YEARS, high=weeding.MAX_YEARS)}
    return years or weeding.DEFAULT_YEARS, {}


class AcquisitionsPageController(Controller):
    path = "/acquisitions"
    guards = [librarian_required]
    include_in_schema = False

    @get("/")
    async def overview(self, request: Request, db_session: AsyncSession) -> Template:
        settings = settings_of(request)
        plan = await build_plan(db_session)
        return Template("acquisitions/index.html", context={
            "courses": await db_session.scalar(select(func.count()).select_from(Course)) or 0,
            "to_confirm": await CitationService(db_session, settings).to_confirm(limit=20),
            "suggestions": await SuggestionService(db_session, settings).status_counts(),
            "refusals": await SlipService(db_session).recent_refusals(),
            "plan": plan, "top": plan.candidates[:OVERVIEW_TOP], "L": labels,
        })

    # --- the plan -------------------------------------------------------------------------

    @get("/plan")
    async def plan(self, db_session: AsyncSession, decision: str | None = None, budget_line_id: str | None = None,
                   source: str | None = None, page: str | None = None) -> Template:
        filters = plan_filters(decision, budget_line_id, source)
        plan = await build_plan(db_session, **filters)
        number, size = clamp(parse_page(page), PLAN_PAGE_SIZE)
        shown = Page(items=plan.candidates[(number - 1) * size:number * size], total=len(plan.candidates),
                     number=number, per_page=size)
        values = {k: v or "" for k, v in filters.items()}
        return Template("acquisitions/plan/index.html", context={
            "plan": plan, "page": shown, "values": values, "errors": {}, "query": query_string(values), "L": labels,
            "lines": [(b.id, b.name) for b in plan.budget_lines], "saved": None,
        })

    @post("/plan/entry")
    async def save_entry(self, request: Request, db_session: AsyncSession) -> Template | Redirect:
        form = await request.form()
        data = {k: form.get(k) for k in ("key", "unit_price", "copies", "budget_line_id", "decision", "note")
                if form.get(k) not in (None, "")}
        if "unit_price" in data:
            data["unit_price"] = str(data["unit_price"]).replace(".", "").replace(",", "").replace(" ", "")
        back = form.get("next") or "/acquisitions/plan"
        if not back.startswith("/acquisitions/plan") or "//" in back:
            back = "/acquisitions/plan"
        try:
            await save_edit(db_session, validate(data, schemas.PlanEdit), request.user)
        except FieldErrors as exc:
            return Template("errors/error.html", status_code=exc.status_code, context={
                "status": exc.status_code, "title": _("The plan was not saved"),
                "message": "; ".join(exc.errors.values())})
        anchor = f"#p-{form.get('anchor')}" if (form.get("anchor") or "").isalnum() else ""
        return Redirect(path=back + anchor, status_code=303)

    @get("/plan.csv")
    async def plan_csv(self, request: Request, db_session: AsyncSession, decision: str | None = None,
                       budget_line_id: str | None = None, source: str | None = None) -> Stream:
        plan = await build_plan(db_session, **plan_filters(decision, budget_line_id, source))

        async def make(_session: AsyncSession) -> AsyncIterator[str]:
            async for chunk in exports.plan_csv(plan):
                yield chunk

        return csv_stream(f"ke-hoach-bo-sung-{date.today():%Y%m%d}.csv", make, request)

    @get("/plan.xlsx")
    async def plan_xlsx(self, db_session: AsyncSession, decision: str | None = None,
                        budget_line_id: str | None = None, source: str | None = None) -> Response:
        plan = await build_plan(db_session, **plan_filters(decision, budget_line_id, source))
        return xlsx_response(f"ke-hoach-bo-sung-{date.today():%Y%m%d}.xlsx", exports.plan_xlsx(plan))

    # --- budget lines ---------------------------------------------------------------------

    async def _budgets(self, db: AsyncSession, status: int = 200, errors: dict | None = None,
                       values: dict | None = None, edit_errors: dict | None = None) -> Template:
        plan = await build_plan(db)
        return Template("acquisitions/plan/budgets.html", status_code=status, context={
            "plan": plan, "errors": errors or {}, "values": values or {}, "edit_errors": edit_errors or {}})

    @get("/budgets")
    async def budgets(self, db_session: AsyncSession) -> Template:
        return await self._budgets(db_session)

    @post("/budgets")
    async def create_budget(self, request: Request, db_session: AsyncSession) -> Template | Redirect:
        form = await request.form()
        data = {k: form.get(k) for k in ("name", "amount", "notes") if form.get(k) not in (None, "")}
        if "amount" in data:
            data["amount"] = str(data["amount"]).replace(".", "").replace(",", "").replace(" ", "")
        try:
            await create_budget_line(db_session, validate(data, schemas.BudgetLineCreate))
        except FieldErrors as exc:
            return await self._budgets(db_session, exc.status_code, exc.errors, form_values(form))
        return Redirect(path="/acquisitions/budgets", status_code=303)

    @post("/budgets/{line_id:int}")
    async def update_budget(self, request: Request, db_session: AsyncSession, line_id: IdParam) -> Template | Redirect:
        line = await db_session.get(BudgetLine, line_id)
        if line is None:
            raise NotFoundException()
        form = await request.form()
        data = {k: form.get(k) for k in ("name", "amount", "notes") if form.get(k) not in (None, "")}
        if "amount" in data:
            data["amount"] = str(data["amount"]).replace(".", "").replace(",", "").replace(" ", "")
        try:
            await update_budget_line(db_session, line, validate(data, schemas.BudgetLineCreate))
        except FieldErrors as exc:
            return await self._budgets(db_session, exc.status_code, edit_errors={line.id: exc.errors})
        return Redirect(path="/acquisitions/budgets", status_code=303)

    # --- weeding --------------------------------------------------------------------------

    @get("/weeding")
    async def weeding(self, db_session: AsyncSession, years: str | None = None, page: str | None = None) -> Template:
        count, errors = _years(years)
        result = await weeding.weeding_page(db_session, count, parse_page(page))
        return Template("acquisitions/weeding.html", status_code=400 if errors else 200, context={
            "page": result, "years": count, "cutoff": weeding.cutoff_year(count), "errors": errors,
            "values": {"years": years or count}, "query": query_string({"years": count})})

    @get("/weeding.csv")
    async def weeding_csv(self, request: Request, years: str | None = None) -> Stream:
        count, _errors = _years(years)
        header = [_("Item"), _("Title"), _("Authors"), _("Year"), _("Call number"), _("Publisher"), _("ISBN")]

        def make(session: AsyncSession) -> AsyncIterator[str]:
            return write_csv(header, weeding.weeding_rows(session, count))

        return csv_stream(f"thanh-loc-{count}-nam-{date.today():%Y%m%d}.csv", make, request)
