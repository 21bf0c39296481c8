"""The lecturer's reply page, reached only through the signed link of one relay of one question.

The answer form searches the library's item store itself (a "Search" button in the same form,
so what was typed is kept), and ``/items`` answers the same search as JSON for scripts; both
only while the link's question waits for this lecturer's answer.
"""

from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import TooManyRequestsException
from litestar.middleware.rate_limit import RateLimitConfig, get_remote_address
from litestar.response import Redirect, Response, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.forms import form_values, validate
from crm.liaison.params import parse_ids, parse_int
from crm.questions import schemas
from crm.questions.controllers.public import link_problem, too_many
from crm.questions.models import Question
from crm.questions.services import asking, replies
from crm.questions.services.common import LinkError, question_for_reply

REPLY_RATE_LIMIT = RateLimitConfig(rate_limit=("minute", 60),
                                   identifier_for_request=lambda r: f"reply:{get_remote_address(r)}")
ACTIONS = ("search", "answer", "pass")


class ReplyController(Controller):
    path = "/questions/reply"
    include_in_schema = False
    exception_handlers = {TooManyRequestsException: too_many}
    middleware = [REPLY_RATE_LIMIT.middleware]

    async def _page(self, db: AsyncSession, token: str, question: Question, values: dict | None = None,
                    errors: dict | None = None, status: int = 200, found: list | None = None,
                    **extra: Any) -> Template:
        values = values or {}
        chosen = await replies.items_by_id(db, parse_ids(_list(values.get("item_ids"))))
        state = replies.reply_state(question)
        return Template("questions/reply.html", status_code=status, context={
            "question": question, "token": token, "state": state, "values": values, "errors": errors or {},
            "chosen": chosen, "found": [i for i in (found or []) if i not in chosen],
            "searched": found is not None, "colleagues": await replies.colleagues(db, question) if state == "open" else [],
            "answers": await asking.answers_of(db, question) if state == "answered" else [], **extra,
        })

    async def _question(self, request: Request, db: AsyncSession, token: str) -> Question:
        return await question_for_reply(db, request.app.state.settings, token)

    @get("/{token:str}")
    async def reply_page(self, request: Request, db_session: AsyncSession, token: str,
                         done: str | None = None) -> Template:
        try:
            question = await self._question(request, db_session, token)
        except LinkError as exc:
            return link_problem(exc)
        return await self._page(db_session, token, question, done=done)

    @post("/{token:str}")
    async def reply(self, request: Request, db_session: AsyncSession, token: str) -> Template | Redirect:
        try:
            question = await self._question(request, db_session, token)
        except LinkError as exc:
            return link_problem(exc)
        form = await request.form()
        values = form_values(form)
        action = form.get("action") if form.get("action") in ACTIONS else "answer"
        settings = request.app.state.settings
        if replies.reply_state(question) != "open":
            return await self._page(db_session, token, question, status=409)
        if action == "search":
            found = await replies.search_items(db_session, form.get("items_q"))
            return await self._page(db_session, token, question, values, found=found)
        try:
            if action == "answer":
                data = {"answer": form.get("answer"), "item_ids": form.getall("item_ids", []),
                        "faq_consent": form.get("faq_consent")}
                await replies.answer_question(db_session, settings, question, validate(
                    {k: v for k, v in data.items() if v is not None}, schemas.AnswerForm))
                return Redirect(path=f"/questions/reply/{token}?done=answered", status_code=303)
            data = {"reason": form.get("reason"), "colleague_id": parse_int(form.get("colleague_id")),
                    "colleague": form.get("colleague")}
            await replies.pass_on(db_session, settings, question, validate(
                {k: v for k, v in data.items() if v not in (None, "")}, schemas.PassOn))
            return Redirect(path=f"/questions/reply/{token}?done=passed", status_code=303)
        except FieldErrors as exc:
            return await self._page(db_session, token, question, values, exc.errors, exc.status_code,
                                    pass_errors=action == "pass")

    @get("/{token:str}/items")
    async def items(self, request: Request, db_session: AsyncSession, token: str, q: str | None = None) -> Response:
        """Items matching ``q`` (folded, every word), for the link's question while it waits for an answer."""
        try:
            question = await self._question(request, db_session, token)
        except LinkError as exc:
            return Response({"detail": exc.reason}, status_code=exc.status_code)
        if replies.reply_state(question) != "open":
            return Response({"detail": "closed"}, status_code=409)
        found = await replies.search_items(db_session, q)
        return Response({"items": [{"id": i.id, "title": i.title, "authors": list(i.authors or []), "year": i.year,
                                    "publisher": i.publisher} for i in found]})


def _list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


ROUTES = [ReplyController]
