"""Students' pages, without login: the question form /ask and the tracking page of one question.

The lecturer field is a text input with a <datalist> of lecturers' names and units, rendered by
the server: it is searchable as you type in every current browser, needs no JavaScript, and
exposes nothing a faculty's own web page does not (names and units, never addresses), so no
public search endpoint is needed (nor another thing to rate-limit). What does not name a known
lecturer is kept as typed, for the librarian.
"""

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import TooManyRequestsException
from litestar.middleware.rate_limit import RateLimitConfig, get_remote_address
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.forms import form_values, validate
from crm.questions import schemas
from crm.questions.services import asking
from crm.questions.services.common import LinkError, question_for_track, track_token

#: Per client address, on top of the per-email limit: a class in a lab shares one address.
ASK_RATE_LIMIT = RateLimitConfig(rate_limit=("minute", 6), identifier_for_request=lambda r: f"ask:{get_remote_address(r)}")
#: Ratings and tracking pages per client address.
TRACK_RATE_LIMIT = RateLimitConfig(rate_limit=("minute", 60),
                                   identifier_for_request=lambda r: f"track:{get_remote_address(r)}")
#: The honeypot: a field people never see, so only robots fill it in.
HONEYPOT = "website"
_ASK_FIELDS = ("student_name", "email", "course", "topic", "question", "lecturer", "consent_share_email")


def too_many(request: Request, exc: Exception) -> Response:
    headers = getattr(exc, "headers", None) or {}
    return Template("questions/limited.html", status_code=429, headers=headers)


def link_problem(exc: LinkError) -> Template:
    return Template("questions/link_error.html", context={"reason": exc.reason}, status_code=exc.status_code)


class AskController(Controller):
    path = "/ask"
    include_in_schema = False
    exception_handlers = {TooManyRequestsException: too_many}

    async def _form(self, db: AsyncSession, values: dict, errors: dict, status: int = 200) -> Template:
        return Template("questions/ask.html", status_code=status, context={
            "values": values, "errors": errors, "honeypot": HONEYPOT,
            "lecturers": await asking.lecturer_choices(db), "courses": await asking.course_choices(db),
        })

    @get("/")
    async def ask_page(self, db_session: AsyncSession) -> Template:
        return await self._form(db_session, {}, {})

    @post("/", middleware=[ASK_RATE_LIMIT.middleware])
    async def ask(self, request: Request, db_session: AsyncSession) -> Template | Redirect:
        form = await request.form()
        if (form.get(HONEYPOT) or "").strip():
            return Template("questions/ask_done.html", context={})
        data: dict[str, Any] = {k: form.get(k) for k in _ASK_FIELDS if form.get(k) is not None}
        try:
            question = await asking.submit_question(db_session, request.app.state.settings,
                                                    validate(data, schemas.AskForm))
        except FieldErrors as exc:
            return await self._form(db_session, form_values(form), exc.errors, exc.status_code)
        except asking.TooManyQuestions:
            return Template("questions/limited.html", status_code=429, context={"per_email": True})
        token = track_token(request.app.state.settings, question)
        return Redirect(path=f"/questions/track/{token}?sent=1", status_code=303)


class TrackController(Controller):
    """One question, for the student who asked it: status, answer, rating."""

    path = "/questions/track"
    include_in_schema = False
    exception_handlers = {TooManyRequestsException: too_many}
    middleware = [TRACK_RATE_LIMIT.middleware]

    async def _page(self, db: AsyncSession, token: str, question, values: dict | None = None,
                    errors: dict | None = None, status: int = 200, **extra: Any) -> Template:
        return Template("questions/track.html", status_code=status, context={
            "question": question, "token": token, "events": await asking.public_events(db, question),
            "answers": await asking.answers_of(db, question), "can_rate": asking.can_rate(question),
            "values": values or _rating_values(question), "errors": errors or {}, **extra,
        })

    @get("/{token:str}")
    async def track(self, request: Request, db_session: AsyncSession, token: str, sent: str | None = None,
                    rated: str | None = None) -> Template:
        try:
            question = await question_for_track(db_session, request.app.state.settings, token)
        except LinkError as exc:
            return link_problem(exc)
        return await self._page(db_session, token, question, sent=bool(sent), rated=bool(rated))

    @post("/{token:str}/rating")
    async def rate(self, request: Request, db_session: AsyncSession, token: str) -> Template | Redirect:
        try:
            question = await question_for_track(db_session, request.app.state.settings, token)
        except LinkError as exc:
            return link_problem(exc)
        form = await request.form()
        data = {k: form.get(k) for k in ("helpful", "used_sources", "comment", "faq_consent") if form.get(k) is not None}
        try:
            await asking.rate_answer(db_session, question, validate(data, schemas.Rating))
        except FieldErrors as exc:
            return await self._page(db_session, token, question, form_values(form), exc.errors, exc.status_code)
        return Redirect(path=f"/questions/track/{token}?rated=1#rating", status_code=303)


def _rating_values(question) -> dict:
    used = {True: "yes", False: "no"}.get(question.rating_used_sources, "none")
    helpful = {True: "yes", False: "no"}.get(question.rating_helpful, "")
    return {"helpful": helpful, "used_sources": used, "comment": question.rating_comment or "",
            "faq_consent": question.faq_student_consent}


ROUTES = [AskController, TrackController]
