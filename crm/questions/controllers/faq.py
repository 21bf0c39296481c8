"""The public knowledge base /faq, and the librarians' list of entries to edit, hide or show again."""

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.forms import form_values, validate
from crm.liaison.params import IdParam, parse_page, query_string
from crm.questions import schemas
from crm.questions.models import FaqEntry
from crm.questions.services import faq
from crm.security.guards import librarian_required


class FaqController(Controller):
    path = "/faq"
    include_in_schema = False

    @get("/")
    async def faq_page(self, db_session: AsyncSession, q: str | None = None, course: str | None = None,
                       topic: str | None = None, page: str | None = None) -> Template:
        result = await faq.list_entries(db_session, q=q, course=course, topic=topic, page=parse_page(page))
        courses, topics = await faq.filter_options(db_session)
        values = {"q": q or "", "course": course or "", "topic": topic or ""}
        return Template("questions/faq.html", context={
            "page": result, "values": values, "query": query_string(values), "courses": courses, "topics": topics,
            "items": await faq.recommended_items(db_session, result.items),
        })


async def get_entry(db: AsyncSession, entry_id: int) -> FaqEntry:
    entry = await faq.get_entry(db, entry_id)
    if entry is None:
        raise NotFoundException()
    return entry


class FaqAdminController(Controller):
    path = "/questions/faq"
    guards = [librarian_required]
    include_in_schema = False

    async def _list(self, db: AsyncSession, q: str | None = None, page: str | None = None,
                    errors: dict | None = None, status: int = 200) -> Template:
        result = await faq.list_entries(db, q=q, published_only=False, page=parse_page(page))
        values = {"q": q or ""}
        return Template("questions/faq_admin.html", status_code=status, context={
            "page": result, "values": values, "query": query_string(values), "errors": errors or {}})

    @get("/")
    async def entries(self, db_session: AsyncSession, q: str | None = None, page: str | None = None) -> Template:
        return await self._list(db_session, q, page)

    @get("/{entry_id:int}/edit")
    async def edit_page(self, db_session: AsyncSession, entry_id: IdParam) -> Template:
        entry = await get_entry(db_session, entry_id)
        values = {"topic": entry.topic, "course": entry.course, "question_text": entry.question_text,
                  "answer_text": entry.answer_text}
        return Template("questions/faq_edit.html", context={"entry": entry, "values": values, "errors": {}})

    @post("/{entry_id:int}/edit")
    async def edit(self, request: Request, db_session: AsyncSession, entry_id: IdParam) -> Template | Redirect:
        entry = await get_entry(db_session, entry_id)
        form = await request.form()
        data = {k: form.get(k) for k in ("topic", "course", "question_text", "answer_text") if form.get(k)}
        try:
            await faq.update_entry(db_session, entry, validate(data, schemas.FaqForm))
        except FieldErrors as exc:
            return Template("questions/faq_edit.html", status_code=exc.status_code,
                            context={"entry": entry, "values": form_values(form), "errors": exc.errors})
        return Redirect(path="/questions/faq", status_code=303)

    @post("/{entry_id:int}/publish")
    async def publish(self, request: Request, db_session: AsyncSession, entry_id: IdParam) -> Template | Redirect:
        form = await request.form()
        entry = await get_entry(db_session, entry_id)
        try:
            await faq.set_published(db_session, entry, form.get("published") == "1", request.user)
        except FieldErrors as exc:
            return await self._list(db_session, errors=exc.errors, status=exc.status_code)
        return Redirect(path="/questions/faq", status_code=303)


ROUTES = [FaqController, FaqAdminController]
