"""Purchase suggestions: librarian pages under /acquisitions/suggestions (list, record on someone's
behalf, change status, invite lecturers)."""

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.acquisitions import labels, schemas
from crm.acquisitions.controllers.common import get_suggestion, settings_of
from crm.acquisitions.models import Suggestion
from crm.acquisitions.services.courses import CourseService
from crm.acquisitions.services.suggestions import TRANSITIONS, SuggestionService, suggestion_link
from crm.errors import FieldErrors
from crm.forms import form_values, validate
from crm.i18n import _
from crm.liaison.ids import storable
from crm.liaison.models import Contact
from crm.liaison.params import IdParam, parse_int, parse_page, query_string
from crm.liaison.services.interactions import InteractionService
from crm.security.guards import librarian_required

_FIELDS = ("title", "authors", "isbn", "publisher", "year", "reason", "suggester_name", "suggester_email", "students")


async def _contact(db: AsyncSession, contact_id: Any) -> Contact | None:
    cid = parse_int(contact_id)
    return await db.get(Contact, cid) if storable(cid) else None


class SuggestionPageController(Controller):
    path = "/acquisitions/suggestions"
    guards = [librarian_required]
    include_in_schema = False

    @get("/")
    async def index(self, request: Request, db_session: AsyncSession, status: str | None = None,
                    kind: str | None = None, q: str | None = None, course_id: str | None = None,
                    page: str | None = None) -> Template:
        status = status if status in labels.SUGGESTION_STATUSES or status == "open" else None
        kind = kind if kind in labels.SUGGESTER_KINDS else None
        service = SuggestionService(db_session, settings_of(request))
        result = await service.list_suggestions(status, kind, q, parse_int(course_id), page=parse_page(page))
        values = {"status": status or "", "kind": kind or "", "q": q or "", "course_id": parse_int(course_id) or ""}
        return Template("acquisitions/suggestions/index.html", context={
            "page": result, "values": values, "errors": {}, "query": query_string(values), "L": labels,
            "counts": await service.status_counts(),
        })

    async def _form(self, db: AsyncSession, values: dict, errors: dict, status: int = 200, q: str | None = None) -> Template:
        contact = await _contact(db, values.get("contact_id"))
        choices = await InteractionService(db).participant_choices(q) if q else None
        return Template("acquisitions/suggestions/form.html", status_code=status, context={
            "values": values, "errors": errors, "contact": contact, "choices": choices, "q": q or ""})

    @get("/new")
    async def new(self, db_session: AsyncSession, contact_id: str | None = None, course_id: str | None = None,
                  q: str | None = None) -> Template:
        values: dict[str, Any] = {"contact_id": parse_int(contact_id), "students": 1}
        course = await CourseService(db_session).get(parse_int(course_id) or 0)
        if course is not None:
            values["course_code"] = course.code
        return await self._form(db_session, values, {}, q=q)

    @post("/new")
    async def create(self, request: Request, db_session: AsyncSession) -> Template | Redirect:
        form = await request.form()
        data = {k: form.get(k) for k in _FIELDS if form.get(k) not in (None, "")}
        if parse_int(form.get("contact_id")):
            data["contact_id"] = parse_int(form.get("contact_id"))
        errors: dict[str, str] = {}
        code = (form.get("course_code") or "").strip()
        if code:
            course = await CourseService(db_session).by_code(code)
            if course is None:
                errors["course_code"] = _("No course has this code.")
            else:
                data["course_id"] = course.id
        try:
            checked = validate(data, schemas.SuggestionCreate)
            if errors:
                raise FieldErrors(errors)
            suggestion = await SuggestionService(db_session, settings_of(request)).create_for(checked, request.user)
        except FieldErrors as exc:
            return await self._form(db_session, form_values(form), {**errors, **exc.errors}, exc.status_code)
        return Redirect(path=f"/acquisitions/suggestions/{suggestion.id}", status_code=303)

    async def _detail(self, request: Request, db: AsyncSession, suggestion: Suggestion, status: int = 200,
                      errors: dict | None = None, values: dict | None = None) -> Template:
        service = SuggestionService(db, settings_of(request))
        original = await service.get(suggestion.duplicate_of_id) if suggestion.duplicate_of_id else None
        return Template("acquisitions/suggestions/detail.html", status_code=status, context={
            "item": suggestion, "original": original, "votes": await service.votes(suggestion), "L": labels,
            "next_statuses": [(s, labels.label(labels.SUGGESTION_STATUSES, s))
                              for s in labels.SUGGESTION_STATUSES if s in TRANSITIONS[suggestion.status]],
            "errors": errors or {}, "values": values or {},
        })

    @get("/{suggestion_id:int}")
    async def detail(self, request: Request, db_session: AsyncSession, suggestion_id: IdParam) -> Template:
        return await self._detail(request, db_session, await get_suggestion(db_session, settings_of(request), suggestion_id))

    @post("/{suggestion_id:int}/status")
    async def change_status(self, request: Request, db_session: AsyncSession, suggestion_id: IdParam) -> Template | Redirect:
        suggestion = await get_suggestion(db_session, settings_of(request), suggestion_id)
        form = await request.form()
        try:
            change = validate(form, schemas.StatusChange)
            await SuggestionService(db_session, settings_of(request)).change_status(
                suggestion, change.status, change.reason, request.user)
        except FieldErrors as exc:
            return await self._detail(request, db_session, suggestion, exc.status_code, exc.errors, form_values(form))
        return Redirect(path=f"/acquisitions/suggestions/{suggestion.id}?done=status", status_code=303)

    @get("/invite")
    async def invite_page(self, db_session: AsyncSession, q: str | None = None, contact_id: str | None = None) -> Template:
        choices = await InteractionService(db_session).participant_choices(q) if q else None
        return Template("acquisitions/suggestions/invite.html", context={
            "q": q or "", "choices": choices, "contact": await _contact(db_session, contact_id), "link": None,
            "errors": {}, "values": {}})

    @post("/invite")
    async def invite(self, request: Request, db_session: AsyncSession) -> Template:
        """Email a lecturer their personal suggestion link, and show it (to paste in a message)."""
        form = await request.form()
        contact = await _contact(db_session, form.get("contact_id"))
        errors: dict[str, str] = {}
        course = None
        if contact is None:
            errors["contact_id"] = _("Unknown contact.")
        code = (form.get("course_code") or "").strip()
        if code:
            course = await CourseService(db_session).by_code(code)
            if course is None:
                errors["course_code"] = _("No course has this code.")
        context = {"q": "", "choices": None, "contact": contact, "errors": errors, "values": form_values(form), "link": None}
        if errors:
            return Template("acquisitions/suggestions/invite.html", context=context, status_code=400)
        send = form.get("send") != "0"
        service = SuggestionService(db_session, settings_of(request))
        link = await service.invite(contact, course, request.user) if send else suggestion_link(settings_of(request), contact.id)
        return Template("acquisitions/suggestions/invite.html", context={**context, "link": link, "sent": send})
