"""Courses and their reading lists: librarian pages under /acquisitions/courses and /acquisitions/citations."""

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.acquisitions import labels, schemas
from crm.acquisitions.controllers.common import TooLarge, get_citation, get_course, settings_of, uploaded
from crm.acquisitions.models import Course
from crm.acquisitions.services.citations import CitationService, ImportProblems
from crm.acquisitions.services.courses import CourseService, student_counts
from crm.acquisitions.services.parsing import MAX_IMPORT_BYTES, Problem
from crm.acquisitions.services.suggestions import SuggestionService
from crm.errors import FieldErrors
from crm.forms import form_values, validate
from crm.i18n import _, current_language
from crm.liaison.params import IdParam, parse_ids, parse_int, parse_page, query_string
from crm.liaison.services.interactions import InteractionService
from crm.liaison.services.units import UnitService
from crm.security.guards import librarian_required

_COURSE_FIELDS = ("code", "name", "term", "unit_id", "enrolment", "notes")
_CITATION_FIELDS = ("title", "year", "isbn", "doi", "publisher", "requirement")


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [] if value in (None, "") else [value]


def _getall(form: Any, name: str) -> list:
    return form.getall(name, []) if hasattr(form, "getall") else _as_list(form.get(name))


def _course_data(form: Any) -> dict[str, Any]:
    data: dict[str, Any] = {k: form.get(k) for k in _COURSE_FIELDS if form.get(k) not in (None, "")}
    data["lecturer_ids"] = parse_ids(_getall(form, "contact_ids"))
    data["group_ids"] = parse_ids(_getall(form, "group_ids"))
    return data


def citation_data(form: Any) -> dict[str, Any]:
    data: dict[str, Any] = {k: form.get(k) for k in _CITATION_FIELDS if form.get(k) not in (None, "")}
    data["authors"] = [a.strip() for a in (form.get("authors") or "").splitlines() if a.strip()]
    return data


def _course_values(course: Course) -> dict[str, Any]:
    values: dict[str, Any] = {k: getattr(course, k) for k in _COURSE_FIELDS}
    values["contact_ids"] = [c.id for c in course.lecturers]
    values["group_ids"] = [g.id for g in course.groups]
    return values


async def course_page(request: Request, db: AsyncSession, course: Course, status: int = 200, **extra: Any) -> Template:
    """The course with its reading list; ``extra`` carries a form's values, errors or import problems."""
    citations = await CitationService(db, settings_of(request)).reading_list(course.id)
    counts: dict[str, int] = {}
    for citation in citations:
        counts[citation.status] = counts.get(citation.status, 0) + 1
    students = (await student_counts(db, [course])).get(course.id, 0)
    context = {"course": course, "citations": citations, "counts": counts, "students": students, "L": labels,
               "values": {"requirement": "required", "format": "auto"}, "errors": {}, "problems": None,
               "paste": "", "notice": request.query_params.get("done"), "max_mb": MAX_IMPORT_BYTES // (1024 * 1024)}
    context.update(extra)
    return Template("acquisitions/courses/detail.html", context=context, status_code=status)


class CoursePageController(Controller):
    path = "/acquisitions/courses"
    guards = [librarian_required]
    include_in_schema = False

    async def _form(self, db: AsyncSession, item: Course | None, values: dict, errors: dict, status: int = 200,
                    choices=None) -> Template:
        contacts, groups = await InteractionService(db).participants(
            parse_ids(_as_list(values.get("contact_ids"))), parse_ids(_as_list(values.get("group_ids"))))
        return Template("acquisitions/courses/form.html", status_code=status, context={
            "item": item, "values": values, "errors": errors, "contacts": contacts, "groups": groups,
            "choices": choices, "units": await UnitService(db).options(current_language()),
        })

    async def _find(self, db: AsyncSession, item: Course | None, form: Any) -> Template:
        """The lecturer and group search without JavaScript: the form comes back with matches to tick."""
        unit_id = parse_int(form.get("participant_unit"))
        units = await UnitService(db).descendant_ids([unit_id]) if unit_id else None
        choices = await InteractionService(db).participant_choices(form.get("participant_q"), units)
        data = _course_data(form)
        values = {**form_values(form), "contact_ids": data["lecturer_ids"], "group_ids": data["group_ids"]}
        return await self._form(db, item, values, {}, choices=choices)

    @get("/")
    async def index(self, db_session: AsyncSession, q: str | None = None, unit_id: str | None = None,
                    page: str | None = None) -> Template:
        service = CourseService(db_session)
        result = await service.list_courses(q, parse_int(unit_id), page=parse_page(page))
        values = {"q": q or "", "unit_id": parse_int(unit_id) or ""}
        return Template("acquisitions/courses/index.html", context={
            "page": result, "counts": await service.citation_counts([c.id for c in result.items]),
            "students": await student_counts(db_session, result.items), "values": values, "errors": {},
            "query": query_string(values), "units": await UnitService(db_session).options(current_language()),
        })

    @get("/new")
    async def new(self, db_session: AsyncSession) -> Template:
        return await self._form(db_session, None, {}, {})

    @post("/new")
    async def create(self, request: Request, db_session: AsyncSession) -> Template | Redirect:
        form = await request.form()
        if form.get("_find"):
            return await self._find(db_session, None, form)
        try:
            course = await CourseService(db_session).create_course(validate(_course_data(form), schemas.CourseCreate))
        except FieldErrors as exc:
            data = _course_data(form)
            values = {**form_values(form), "contact_ids": data["lecturer_ids"], "group_ids": data["group_ids"]}
            return await self._form(db_session, None, values, exc.errors, exc.status_code)
        return Redirect(path=f"/acquisitions/courses/{course.id}", status_code=303)

    @get("/{course_id:int}")
    async def detail(self, request: Request, db_session: AsyncSession, course_id: IdParam) -> Template:
        return await course_page(request, db_session, await get_course(db_session, course_id))

    @get("/{course_id:int}/edit")
    async def edit(self, db_session: AsyncSession, course_id: IdParam) -> Template:
        course = await get_course(db_session, course_id)
        return await self._form(db_session, course, _course_values(course), {})

    @post("/{course_id:int}/edit")
    async def update(self, request: Request, db_session: AsyncSession, course_id: IdParam) -> Template | Redirect:
        course = await get_course(db_session, course_id)
        form = await request.form()
        if form.get("_find"):
            return await self._find(db_session, course, form)
        data = _course_data(form)
        try:
            created = validate(data, schemas.CourseCreate)
            update = schemas.CourseUpdate(**{f: getattr(created, f) for f in created.__struct_fields__})
            await CourseService(db_session).update_course(course, update)
        except FieldErrors as exc:
            values = {**form_values(form), "contact_ids": data["lecturer_ids"], "group_ids": data["group_ids"]}
            return await self._form(db_session, course, values, exc.errors, exc.status_code)
        return Redirect(path=f"/acquisitions/courses/{course.id}", status_code=303)

    @post("/{course_id:int}/delete")
    async def remove(self, db_session: AsyncSession, course_id: IdParam) -> Redirect:
        await CourseService(db_session).delete_course(await get_course(db_session, course_id))
        return Redirect(path="/acquisitions/courses", status_code=303)

    # --- the reading list -----------------------------------------------------------------

    @post("/{course_id:int}/citations")
    async def add_citation(self, request: Request, db_session: AsyncSession, course_id: IdParam) -> Template | Redirect:
        course = await get_course(db_session, course_id)
        form = await request.form()
        try:
            data = validate(citation_data(form), schemas.CitationCreate)
            await CitationService(db_session, settings_of(request)).create_citation(course, data)
        except FieldErrors as exc:
            return await course_page(request, db_session, course, exc.status_code, values=form_values(form),
                                     errors=exc.errors, open_form="one")
        return Redirect(path=f"/acquisitions/courses/{course.id}?done=added#reading-list", status_code=303)

    @post("/{course_id:int}/citations/paste")
    async def paste(self, request: Request, db_session: AsyncSession, course_id: IdParam) -> Template | Redirect:
        course = await get_course(db_session, course_id)
        form = await request.form()
        text = form.get("text") or ""
        requirement = form.get("requirement") if form.get("requirement") in labels.REQUIREMENTS else "required"
        problems = await self._import(request, db_session, course, text.encode("utf-8"), None, "text", requirement)
        if problems:
            return await course_page(request, db_session, course, 400, problems=problems, paste=text,
                                     values={"requirement": requirement, "format": "text"}, open_form="paste")
        return Redirect(path=f"/acquisitions/courses/{course.id}?done=imported#reading-list", status_code=303)

    @post("/{course_id:int}/citations/import")
    async def import_file(self, request: Request, db_session: AsyncSession, course_id: IdParam) -> Template | Redirect:
        course = await get_course(db_session, course_id)
        form = await request.form()
        requirement = form.get("requirement") if form.get("requirement") in labels.REQUIREMENTS else "required"
        fmt = form.get("format") if form.get("format") in labels.FORMATS else "auto"
        values = {"requirement": requirement, "format": fmt}
        try:
            upload = await uploaded(form)
        except TooLarge:
            upload, problems = None, [Problem(_("The file is larger than %(mb)s MB. Split it into smaller files.",
                                                mb=MAX_IMPORT_BYTES // (1024 * 1024)))]
        else:
            problems = None if upload else [Problem(_("Choose a file to import."))]
        if upload:
            problems = await self._import(request, db_session, course, upload[0], upload[1], fmt, requirement)
        if problems:
            return await course_page(request, db_session, course, 400, problems=problems, values=values,
                                     open_form="file")
        return Redirect(path=f"/acquisitions/courses/{course.id}?done=imported#reading-list", status_code=303)

    async def _import(self, request: Request, db: AsyncSession, course: Course, data: bytes, filename: str | None,
                      fmt: str, requirement: str) -> list[Problem] | None:
        try:
            await CitationService(db, settings_of(request)).import_citations(course, data, filename, fmt, requirement)
        except ImportProblems as exc:
            return exc.problems
        return None

    @post("/{course_id:int}/resolve")
    async def resolve_again(self, request: Request, db_session: AsyncSession, course_id: IdParam) -> Redirect:
        course = await get_course(db_session, course_id)
        service = CitationService(db_session, settings_of(request))
        await service.reresolve(await service.reading_list(course.id))
        return Redirect(path=f"/acquisitions/courses/{course.id}?done=checked#reading-list", status_code=303)

    @post("/{course_id:int}/invite")
    async def invite(self, request: Request, db_session: AsyncSession, course_id: IdParam) -> Redirect:
        """Email each lecturer of the course their personal suggestion link."""
        course = await get_course(db_session, course_id)
        service = SuggestionService(db_session, settings_of(request))
        for lecturer in course.lecturers:
            if lecturer.is_active and lecturer.email:
                await service.invite(lecturer, course, request.user)
        return Redirect(path=f"/acquisitions/courses/{course.id}?done=invited", status_code=303)


class CitationPageController(Controller):
    """One citation: confirm or reject its candidate, edit, delete (back to its course)."""

    path = "/acquisitions/citations"
    guards = [librarian_required]
    include_in_schema = False

    @staticmethod
    def _back(request: Request, course_id: int, form: Any) -> str:
        back = form.get("next") or ""
        if back.startswith("/acquisitions") and "//" not in back:
            return back
        return f"/acquisitions/courses/{course_id}#reading-list"

    @post("/{citation_id:int}/confirm")
    async def confirm(self, request: Request, db_session: AsyncSession, citation_id: IdParam) -> Template | Redirect:
        citation = await get_citation(db_session, settings_of(request), citation_id)
        form = await request.form()
        try:
            await CitationService(db_session, settings_of(request)).confirm(citation, request.user,
                                                                           parse_int(form.get("item_id")))
        except FieldErrors as exc:
            return await course_page(request, db_session, citation.course, exc.status_code,
                                     citation_errors={citation.id: exc.errors})
        return Redirect(path=self._back(request, citation.course_id, form), status_code=303)

    @post("/{citation_id:int}/reject")
    async def reject(self, request: Request, db_session: AsyncSession, citation_id: IdParam) -> Template | Redirect:
        citation = await get_citation(db_session, settings_of(request), citation_id)
        form = await request.form()
        try:
            await CitationService(db_session, settings_of(request)).reject(citation, request.user)
        except FieldErrors as exc:
            return await course_page(request, db_session, citation.course, exc.status_code,
                                     citation_errors={citation.id: exc.errors})
        return Redirect(path=self._back(request, citation.course_id, form), status_code=303)

    @post("/{citation_id:int}/reopen")
    async def reopen(self, request: Request, db_session: AsyncSession, citation_id: IdParam) -> Redirect:
        citation = await get_citation(db_session, settings_of(request), citation_id)
        await CitationService(db_session, settings_of(request)).reopen(citation)
        return Redirect(path=self._back(request, citation.course_id, await request.form()), status_code=303)

    @post("/{citation_id:int}/delete")
    async def remove(self, request: Request, db_session: AsyncSession, citation_id: IdParam) -> Redirect:
        citation = await get_citation(db_session, settings_of(request), citation_id)
        course_id = citation.course_id
        await CitationService(db_session, settings_of(request)).delete_citation(citation)
        return Redirect(path=f"/acquisitions/courses/{course_id}#reading-list", status_code=303)

    @get("/{citation_id:int}/edit")
    async def edit(self, request: Request, db_session: AsyncSession, citation_id: IdParam) -> Template:
        citation = await get_citation(db_session, settings_of(request), citation_id)
        values = {k: getattr(citation, k) for k in _CITATION_FIELDS}
        values["authors"] = "\n".join(citation.authors or [])
        return Template("acquisitions/courses/citation_form.html",
                        context={"citation": citation, "values": values, "errors": {}, "L": labels})

    @post("/{citation_id:int}/edit")
    async def update(self, request: Request, db_session: AsyncSession, citation_id: IdParam) -> Template | Redirect:
        citation = await get_citation(db_session, settings_of(request), citation_id)
        form = await request.form()
        data = citation_data(form)
        try:
            checked = validate(data, schemas.CitationCreate)
            update = schemas.CitationUpdate(**{f: getattr(checked, f) for f in checked.__struct_fields__})
            await CitationService(db_session, settings_of(request)).update_citation(citation, update)
        except FieldErrors as exc:
            return Template("acquisitions/courses/citation_form.html", status_code=exc.status_code,
                            context={"citation": citation, "values": form_values(form), "errors": exc.errors,
                                     "L": labels})
        return Redirect(path=f"/acquisitions/courses/{citation.course_id}#c{citation.id}", status_code=303)

