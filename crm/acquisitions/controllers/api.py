"""The acquisitions JSON API under /api/acquisitions (writes need a Bearer token)."""

from datetime import date

from litestar import Controller, MediaType, Request, Response, delete, get, patch, post, put
from litestar.exceptions import NotFoundException
from sqlalchemy.ext.asyncio import AsyncSession

from crm.acquisitions import schemas
from crm.acquisitions.controllers.common import (
    TooLarge, get_citation, get_course, get_slip, get_suggestion, request_file, settings_of, xlsx_response,
)
from crm.acquisitions.models import BudgetLine
from crm.acquisitions.services import exports, weeding
from crm.acquisitions.services.citations import CitationService, ImportProblems, to_schema as citation_schema
from crm.acquisitions.services.courses import CourseService, item_ref, student_counts, to_schema as course_schema
from crm.acquisitions.services.parsing import Problem
from crm.acquisitions.services.plan import build_plan, create_budget_line, save_edit, update_budget_line
from crm.acquisitions.services.slips import SlipFilter, SlipService, to_schema as slip_schema
from crm.acquisitions.services.suggestions import SuggestionService
from crm.acquisitions.models import Suggestion
from crm.errors import FieldErrors
from crm.i18n import _
from crm.liaison.params import IdParam, OptionalId, PageParam, PerPageParam
from crm.security.guards import librarian_required


def suggestion_schema(s: Suggestion) -> schemas.Suggestion:
    return schemas.Suggestion(
        id=s.id, title=s.title, authors=s.authors, isbn=s.isbn, publisher=s.publisher, year=s.year, reason=s.reason,
        course=schemas.Ref(id=s.course.id, name=s.course.code) if s.course else None, suggester_kind=s.suggester_kind,
        suggester_name=s.suggester_name, suggester_email=s.suggester_email, contact_id=s.contact_id,
        students=s.students, status=s.status, status_reason=s.status_reason, status_changed_at=s.status_changed_at,
        item=item_ref(s.item), duplicate_of_id=s.duplicate_of_id, created_at=s.created_at,
    )


def problems_response(problems: list[Problem], status: int = 400) -> Response:
    """All or nothing: nothing was saved; every problem with its line or record."""
    return Response(content={
        "status_code": status, "detail": _("Nothing was imported: correct these lines and try again."),
        "problems": [{"message": p.message, "line": p.line, "record": p.record, "column": p.column} for p in problems],
    }, status_code=status, media_type=MediaType.JSON)


def _too_large() -> Response:
    return problems_response([Problem(_("The file is larger than %(mb)s MB. Split it into smaller files.", mb=5))], 413)


class AcquisitionsApiController(Controller):
    path = "/api/acquisitions"
    tags = ["acquisitions"]
    guards = [librarian_required]

    # --- courses and reading lists --------------------------------------------------------

    @get("/courses")
    async def list_courses(self, db_session: AsyncSession, q: str | None = None, unit_id: OptionalId = None,
                           contact_id: OptionalId = None, page: PageParam = 1, per_page: PerPageParam = 50) -> schemas.CoursePage:
        result = await CourseService(db_session).list_courses(q, unit_id, contact_id, page, per_page)
        students = await student_counts(db_session, result.items)
        return schemas.CoursePage(items=[course_schema(c, students[c.id]) for c in result.items], total=result.total,
                                  page=result.number, per_page=result.per_page)

    @post("/courses")
    async def create_course(self, db_session: AsyncSession, data: schemas.CourseCreate) -> schemas.Course:
        course = await CourseService(db_session).create_course(data)
        return course_schema(course, (await student_counts(db_session, [course]))[course.id])

    @get("/courses/{course_id:int}")
    async def get_course(self, db_session: AsyncSession, course_id: IdParam) -> schemas.Course:
        course = await get_course(db_session, course_id)
        return course_schema(course, (await student_counts(db_session, [course]))[course.id])

    @patch("/courses/{course_id:int}")
    async def update_course(self, db_session: AsyncSession, course_id: IdParam, data: schemas.CourseUpdate) -> schemas.Course:
        course = await CourseService(db_session).update_course(await get_course(db_session, course_id), data)
        return course_schema(course, (await student_counts(db_session, [course]))[course.id])

    @delete("/courses/{course_id:int}")
    async def delete_course(self, db_session: AsyncSession, course_id: IdParam) -> None:
        await CourseService(db_session).delete_course(await get_course(db_session, course_id))

    @get("/courses/{course_id:int}/citations")
    async def reading_list(self, request: Request, db_session: AsyncSession, course_id: IdParam,
                           status: str | None = None) -> list[schemas.Citation]:
        course = await get_course(db_session, course_id)
        citations = await CitationService(db_session, settings_of(request)).reading_list(course.id, status)
        return [citation_schema(c) for c in citations]

    @post("/courses/{course_id:int}/citations")
    async def add_citation(self, request: Request, db_session: AsyncSession, course_id: IdParam,
                           data: schemas.CitationCreate) -> schemas.Citation:
        course = await get_course(db_session, course_id)
        return citation_schema(await CitationService(db_session, settings_of(request)).create_citation(course, data))

    @post("/courses/{course_id:int}/citations/import", status_code=200)
    async def import_citations(self, request: Request, db_session: AsyncSession, course_id: IdParam,
                               data: schemas.CitationImport) -> schemas.CitationImportResult | Response:
        """Pasted lines or a RIS, BibTeX or CSV file's text; all or nothing (400 with the problems)."""
        course = await get_course(db_session, course_id)
        service = CitationService(db_session, settings_of(request))
        try:
            created = await service.import_citations(course, data.text.encode("utf-8"), data.filename, data.format,
                                                     data.requirement)
        except ImportProblems as exc:
            return problems_response(exc.problems)
        count = {s: sum(1 for c in created if c.status == s) for s in ("held", "uncertain", "not_held")}
        return schemas.CitationImportResult(created=len(created), held=count["held"], uncertain=count["uncertain"],
                                            not_held=count["not_held"], citations=[citation_schema(c) for c in created])

    @post("/courses/{course_id:int}/resolve", status_code=200)
    async def resolve_course(self, request: Request, db_session: AsyncSession, course_id: IdParam) -> dict[str, int]:
        """Check the course's unsettled citations against the item store again; counts by status."""
        course = await get_course(db_session, course_id)
        service = CitationService(db_session, settings_of(request))
        return await service.reresolve(await service.reading_list(course.id))

    @patch("/citations/{citation_id:int}")
    async def update_citation(self, request: Request, db_session: AsyncSession, citation_id: IdParam,
                              data: schemas.CitationUpdate) -> schemas.Citation:
        settings = settings_of(request)
        citation = await get_citation(db_session, settings, citation_id)
        return citation_schema(await CitationService(db_session, settings).update_citation(citation, data))

    @post("/citations/{citation_id:int}/confirm", status_code=200)
    async def confirm_citation(self, request: Request, db_session: AsyncSession, citation_id: IdParam,
                               data: schemas.Confirm) -> schemas.Citation:
        settings = settings_of(request)
        citation = await get_citation(db_session, settings, citation_id)
        return citation_schema(await CitationService(db_session, settings).confirm(citation, request.user, data.item_id))

    @post("/citations/{citation_id:int}/reject", status_code=200)
    async def reject_citation(self, request: Request, db_session: AsyncSession, citation_id: IdParam) -> schemas.Citation:
        settings = settings_of(request)
        citation = await get_citation(db_session, settings, citation_id)
        return citation_schema(await CitationService(db_session, settings).reject(citation, request.user))

    @delete("/citations/{citation_id:int}")
    async def delete_citation(self, request: Request, db_session: AsyncSession, citation_id: IdParam) -> None:
        settings = settings_of(request)
        await CitationService(db_session, settings).delete_citation(await get_citation(db_session, settings, citation_id))

    # --- suggestions ----------------------------------------------------------------------

    @get("/suggestions")
    async def list_suggestions(self, request: Request, db_session: AsyncSession, status: str | None = None,
                               kind: str | None = None, q: str | None = None, course_id: OptionalId = None,
                               page: PageParam = 1, per_page: PerPageParam = 50) -> schemas.SuggestionPage:
        result = await SuggestionService(db_session, settings_of(request)).list_suggestions(
            status, kind, q, course_id, None, page, per_page)
        return schemas.SuggestionPage(items=[suggestion_schema(s) for s in result.items], total=result.total,
                                      page=result.number, per_page=result.per_page)

    @post("/suggestions")
    async def create_suggestion(self, request: Request, db_session: AsyncSession,
                                data: schemas.SuggestionCreate) -> schemas.Suggestion:
        return suggestion_schema(await SuggestionService(db_session, settings_of(request)).create_for(data, request.user))

    @get("/suggestions/{suggestion_id:int}")
    async def get_suggestion(self, request: Request, db_session: AsyncSession, suggestion_id: IdParam) -> schemas.Suggestion:
        return suggestion_schema(await get_suggestion(db_session, settings_of(request), suggestion_id))

    @post("/suggestions/{suggestion_id:int}/status", status_code=200)
    async def change_status(self, request: Request, db_session: AsyncSession, suggestion_id: IdParam,
                            data: schemas.StatusChange) -> schemas.Suggestion:
        settings = settings_of(request)
        suggestion = await get_suggestion(db_session, settings, suggestion_id)
        await SuggestionService(db_session, settings).change_status(suggestion, data.status, data.reason, request.user)
        return suggestion_schema(suggestion)

    # --- slips ----------------------------------------------------------------------------

    @get("/slips")
    async def list_slips(self, db_session: AsyncSession, q: str | None = None, outcome: str | None = None,
                         reason: str | None = None, subject: str | None = None, date_from: date | None = None,
                         date_to: date | None = None, page: PageParam = 1, per_page: PerPageParam = 50) -> schemas.SlipPage:
        result = await SlipService(db_session).list_slips(SlipFilter(q, outcome, reason, subject, date_from, date_to),
                                                          page, per_page)
        return schemas.SlipPage(items=[slip_schema(s) for s in result.items], total=result.total, page=result.number,
                                per_page=result.per_page)

    @post("/slips")
    async def create_slip(self, request: Request, db_session: AsyncSession, data: schemas.SlipCreate) -> schemas.Slip:
        return slip_schema(await SlipService(db_session).create_slip(data, request.user))

    @delete("/slips/{slip_id:int}")
    async def delete_slip(self, db_session: AsyncSession, slip_id: IdParam) -> None:
        await SlipService(db_session).delete_slip(await get_slip(db_session, slip_id))

    @post("/slips/import", status_code=200)
    async def import_slips(self, request: Request, db_session: AsyncSession) -> schemas.SlipImportResult | Response:
        """A CSV file (multipart ``file`` or the raw body); all or nothing, errors by row."""
        try:
            upload = await request_file(request)
        except TooLarge:
            return _too_large()
        if upload is None:
            raise FieldErrors({"file": _("Choose a file to import.")})
        result = await SlipService(db_session).import_csv(upload[0], request.user)
        content = schemas.SlipImportResult(created=result.created, errors=[
            schemas.ProblemOut(message=e.message, line=e.row, column=e.column) for e in result.errors])
        return Response(content=content, status_code=200 if result.ok else 400, media_type=MediaType.JSON)

    @get("/slips/summary")
    async def slip_summary(self, db_session: AsyncSession, date_from: date | None = None,
                           date_to: date | None = None) -> schemas.SlipSummary:
        return await SlipService(db_session).summary(SlipFilter(date_from=date_from, date_to=date_to))

    # --- plan, budgets, weeding -----------------------------------------------------------

    @get("/plan")
    async def plan(self, db_session: AsyncSession, decision: str | None = None, budget_line_id: OptionalId = None,
                   source: str | None = None) -> schemas.Plan:
        return await build_plan(db_session, decision, budget_line_id, source)

    @get("/plan.xlsx")
    async def plan_xlsx(self, db_session: AsyncSession) -> Response:
        return xlsx_response(f"ke-hoach-bo-sung-{date.today():%Y%m%d}.xlsx", exports.plan_xlsx(await build_plan(db_session)))

    @put("/plan/entries")
    async def save_plan_entry(self, request: Request, db_session: AsyncSession, data: schemas.PlanEdit) -> schemas.PlanEdit:
        entry = await save_edit(db_session, data, request.user)
        return schemas.PlanEdit(key=entry.candidate_key, unit_price=entry.unit_price, copies=entry.copies,
                                budget_line_id=entry.budget_line_id, decision=entry.decision, note=entry.note)

    @get("/budgets")
    async def list_budgets(self, db_session: AsyncSession) -> list[schemas.BudgetLine]:
        return (await build_plan(db_session)).budget_lines

    @post("/budgets")
    async def create_budget(self, db_session: AsyncSession, data: schemas.BudgetLineCreate) -> schemas.BudgetLine:
        line = await create_budget_line(db_session, data)
        return schemas.BudgetLine(id=line.id, name=line.name, amount=line.amount, committed=0, remaining=line.amount,
                                  notes=line.notes)

    @patch("/budgets/{line_id:int}")
    async def update_budget(self, db_session: AsyncSession, line_id: IdParam, data: schemas.BudgetLineCreate) -> schemas.BudgetLine:
        line = await db_session.get(BudgetLine, line_id)
        if line is None:
            raise NotFoundException()
        await update_budget_line(db_session, line, data)
        return next(b for b in (await build_plan(db_session)).budget_lines if b.id == line.id)

    @get("/weeding")
    async def weeding_report(self, db_session: AsyncSession, years: int = weeding.DEFAULT_YEARS, page: PageParam = 1,
                             per_page: PerPageParam = 50) -> schemas.WeedingPage:
        if not weeding.MIN_YEARS <= years <= weeding.MAX_YEARS:
            raise FieldErrors({"years": _("Give a number of years between %(low)s and %(high)s.",
                                          low=weeding.MIN_YEARS, high=weeding.MAX_YEARS)})
        result = await weeding.weeding_page(db_session, years, page, per_page)
        return schemas.WeedingPage(items=[schemas.WeedingRow(id=i.id, title=i.title, authors=list(i.authors or []),
                                                             year=i.year, call_number=i.ddc or i.lcc,
                                                             publisher=i.publisher) for i in result.items],
                                   total=result.total, page=result.number, per_page=result.per_page, years=years,
                                   cutoff_year=weeding.cutoff_year(years))
