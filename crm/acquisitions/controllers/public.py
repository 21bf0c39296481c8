"""Suggesting a purchase without an account: students at /suggest, lecturers at their signed /suggest/{token}.

Both forms carry the CSRF token, are rate limited per client address, and the student form has a
honeypot field people never see (a bot that fills it is thanked and nothing is stored). The
lecturer's link names only them: it shows their own suggestions and nothing else.
"""

from typing import Any

from litestar import Controller, Request, get, post
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.acquisitions import labels, schemas
from crm.acquisitions.controllers.common import settings_of
from crm.acquisitions.services.courses import CourseService, student_counts
from crm.acquisitions.services.suggestions import SUGGEST_PURPOSE, SuggestionService, clean_isbn, wanted_of
from crm.errors import FieldErrors
from crm.forms import form_values, normalize_email, validate
from crm.i18n import _, current_language
from crm.liaison.models import Contact
from crm.security.tokens import TokenError, read_token

#: Per client address: a class behind one router can still suggest, a flood cannot.
SUGGEST_RATE_LIMIT = RateLimitConfig(rate_limit=("minute", 10), exclude=[], store="acquisitions_suggest_rate")
#: The field a person never sees (hidden by CSS, skipped by screen readers and tab order).
HONEYPOT = "website"
_FIELDS = ("title", "authors", "isbn", "publisher", "year", "reason", "course_code", "name", "email", "students")
#: How many of their own suggestions a lecturer sees on their page.
OWN_SUGGESTIONS = 50


def _data(form: Any) -> dict[str, Any]:
    return {k: form.get(k) for k in _FIELDS if form.get(k) not in (None, "")}


class PublicSuggestionController(Controller):
    include_in_schema = False

    # --- students -------------------------------------------------------------------------

    @get("/suggest")
    async def student_form(self) -> Template:
        return Template("acquisitions/public/suggest.html", context={"values": {}, "errors": {}, "held": None})

    @post("/suggest", middleware=[SUGGEST_RATE_LIMIT.middleware])
    async def student_submit(self, request: Request, db_session: AsyncSession) -> Template:
        form = await request.form()
        if form.get(HONEYPOT):
            return Template("acquisitions/public/thanks.html", context={"suggestion": None, "duplicate": False})
        settings = settings_of(request)
        service = SuggestionService(db_session, settings)
        errors: dict[str, str] = {}
        try:
            data = validate(_data(form), schemas.PublicSuggestion)
        except FieldErrors as exc:
            errors.update(exc.errors)
            data = None
        if data is not None:
            if not data.name:
                errors["name"] = _("This field is required.")
            if not data.email:
                errors["email"] = _("Give your email: the library writes to you about your suggestion.")
            else:
                try:
                    normalize_email(data.email)
                except FieldErrors as exc:
                    errors.update(exc.errors)
        isbn = course = None
        try:
            isbn = clean_isbn(data.isbn) if data else None
        except FieldErrors as exc:
            errors.update(exc.errors)
        if data and data.course_code:
            course = await CourseService(db_session).by_code(data.course_code)
            if course is None:
                errors["course_code"] = _("No course has this code. Leave it empty if you do not know it.")
        if errors:
            return Template("acquisitions/public/suggest.html", status_code=400,
                            context={"values": form_values(form), "errors": errors, "held": None})
        held, _resolution = await service.held(wanted_of(data.title, data.authors, isbn, data.year))
        if held is not None and not form.get("anyway"):
            return Template("acquisitions/public/suggest.html",
                            context={"values": form_values(form), "errors": {}, "held": held})
        contact = await db_session.scalar(select(Contact).where(Contact.email_key == data.email.strip().lower()))
        suggestion = await service.create(
            title=data.title, authors=data.authors, isbn=isbn, publisher=data.publisher, year=data.year,
            reason=data.reason, course=course, kind="student", contact=contact, name=data.name, email=data.email,
            language=current_language(), students=1)
        return Template("acquisitions/public/thanks.html",
                        context={"suggestion": suggestion, "duplicate": suggestion.duplicate_of_id is not None})

    # --- lecturers ------------------------------------------------------------------------

    async def _lecturer(self, request: Request, db: AsyncSession, token: str) -> tuple[Contact | None, Template | None]:
        try:
            payload = read_token(settings_of(request), SUGGEST_PURPOSE, token)
        except TokenError as exc:
            message = (_("This link has expired. Ask the library for a new one.") if exc.reason == "expired"
                       else _("This link is not valid. Check that it was copied whole, or ask the library for a new one."))
            return None, Template("acquisitions/public/invalid.html", context={"message": message},
                                  status_code=410 if exc.reason == "expired" else 404)
        contact_id = payload.get("c") if isinstance(payload, dict) else None
        contact = await db.get(Contact, contact_id) if isinstance(contact_id, int) else None
        if contact is None or not contact.is_active:
            return None, Template("acquisitions/public/invalid.html", status_code=404, context={
                "message": _("This link is not valid. Check that it was copied whole, or ask the library for a new one.")})
        return contact, None

    async def _lecturer_page(self, request: Request, db: AsyncSession, contact: Contact, token: str, values: dict,
                             errors: dict, status: int = 200, held=None, created=None) -> Template:
        courses = await CourseService(db).courses_of(contact.id)
        own = await SuggestionService(db, settings_of(request)).list_suggestions(contact_id=contact.id,
                                                                                 per_page=OWN_SUGGESTIONS)
        return Template("acquisitions/public/lecturer.html", status_code=status, context={
            "contact": contact, "token": token, "courses": courses, "own": own.items, "values": values,
            "errors": errors, "held": held, "created": created, "L": labels})

    @get("/suggest/{token:str}")
    async def lecturer_form(self, request: Request, db_session: AsyncSession, token: str) -> Template:
        contact, refusal = await self._lecturer(request, db_session, token)
        if refusal is not None:
            return refusal
        return await self._lecturer_page(request, db_session, contact, token, {}, {})

    @post("/suggest/{token:str}", middleware=[SUGGEST_RATE_LIMIT.middleware])
    async def lecturer_submit(self, request: Request, db_session: AsyncSession, token: str) -> Template:
        contact, refusal = await self._lecturer(request, db_session, token)
        if refusal is not None:
            return refusal
        form = await request.form()
        data_in = {k: v for k, v in _data(form).items() if k not in ("name", "email", "course_code")}
        errors: dict[str, str] = {}
        course = None
        try:
            data = validate(data_in, schemas.PublicSuggestion)
            isbn = clean_isbn(data.isbn)
        except FieldErrors as exc:
            errors.update(exc.errors)
            data, isbn = None, None
        course_id = form.get("course_id")
        if course_id:
            course = next((c for c in await CourseService(db_session).courses_of(contact.id) if str(c.id) == course_id), None)
            if course is None:
                errors["course_id"] = _("Choose one of your courses, or none.")
        if errors:
            return await self._lecturer_page(request, db_session, contact, token, form_values(form), errors, 400)
        service = SuggestionService(db_session, settings_of(request))
        held, _resolution = await service.held(wanted_of(data.title, data.authors, isbn, data.year))
        if held is not None and not form.get("anyway"):
            return await self._lecturer_page(request, db_session, contact, token, form_values(form), {}, held=held)
        students = data.students
        if course is not None and "students" not in data_in:
            students = max(1, (await student_counts(db_session, [course])).get(course.id, 1))
        suggestion = await service.create(
            title=data.title, authors=data.authors, isbn=isbn, publisher=data.publisher, year=data.year,
            reason=data.reason, course=course, kind="lecturer", contact=contact, students=students)
        return await self._lecturer_page(request, db_session, contact, token, {}, {}, created=suggestion)

