"""The librarians' pages: the queue /questions and one question with its actions and audit trail."""

from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.forms import form_values, validate
from crm.i18n import _, current_language
from crm.liaison.ids import storable
from crm.liaison.models import Contact
from crm.liaison.params import IdParam, parse_date, parse_int, parse_page, query_string
from crm.liaison.services.units import UnitService
from crm.questions import schemas
from crm.questions.models import Question
from crm.questions.services import faq
from crm.questions.services.common import status_label
from crm.questions.services.suggest import Suggester
from crm.questions.services.triage import STATUS_FILTERS, QuestionFilter, QuestionService
from crm.security.guards import librarian_required


async def get_question(service: QuestionService, question_id: int) -> Question:
    question = await service.get(question_id)
    if question is None:
        raise NotFoundException()
    return question


def _service(request: Request, db: AsyncSession) -> QuestionService:
    return QuestionService(db, request.app.state.settings)


def read_filter(status: str | None, unit_id: str | None, lecturer_id: str | None, date_from: str | None,
                date_to: str | None, q: str | None, errors: dict[str, str]) -> QuestionFilter:
    """The queue's filters from a query string; a bad date is reported, not a 400."""
    f = QuestionFilter(status=status if status in STATUS_FILTERS else None, unit_id=parse_int(unit_id),
                       lecturer_id=parse_int(lecturer_id), q=q)
    for name in ("date_from", "date_to"):
        try:
            setattr(f, name, parse_date({"date_from": date_from, "date_to": date_to}[name]))
        except ValueError:
            errors[name] = _("Not a valid date (use YYYY-MM-DD or dd/mm/yyyy).")
    return f


class QuestionPageController(Controller):
    path = "/questions"
    guards = [librarian_required]
    include_in_schema = False

    @get("/")
    async def queue(self, request: Request, db_session: AsyncSession, status: str | None = "open",
                    unit_id: str | None = None, lecturer_id: str | None = None, date_from: str | None = None,
                    date_to: str | None = None, q: str | None = None, page: str | None = None) -> Template:
        service = _service(request, db_session)
        errors: dict[str, str] = {}
        f = read_filter(status, unit_id, lecturer_id, date_from, date_to, q, errors)
        result = await service.list_questions(f, parse_page(page))
        suggester = Suggester(db_session)
        suggestions = {qn.id: (await suggester.suggest(qn, 1) or [None])[0]
                       for qn in result.items if qn.status == "new" and qn.lecturer_id is None}
        lecturer = await db_session.get(Contact, f.lecturer_id) if f.lecturer_id and storable(f.lecturer_id) else None
        values = {"status": status if status in (*STATUS_FILTERS, "all") else "open", "unit_id": f.unit_id, "lecturer_id": f.lecturer_id, "q": q or "",
                  "date_from": date_from or "", "date_to": date_to or ""}
        return Template("questions/queue.html", context={
            "page": result, "values": values, "errors": errors, "query": query_string(values),
            "counts": await service.status_counts(), "suggestions": suggestions, "status_label": status_label,
            "units": await UnitService(db_session).options(current_language()), "filter_lecturer": lecturer,
            "status_filters": STATUS_FILTERS,
        })

    async def _detail(self, request: Request, db: AsyncSession, question: Question, status: int = 200,
                      errors: dict | None = None, values: dict | None = None, lecturer_q: str | None = None,
                      faq_values: dict | None = None) -> Template:
        service = _service(request, db)
        entry = await faq.entry_for(db, question)
        can_publish = faq.can_publish(question)
        return Template("questions/detail.html", status_code=status, context={
            "question": question, "events": await service.events(question), "notes": await service.notes(question),
            "answers": await service.answers(question),
            "suggestions": await Suggester(db).suggest(question) if question.status in ("new", "relayed") else [],
            "lecturer_q": lecturer_q or "", "lecturer_results": await service.lecturer_choices(lecturer_q),
            "errors": errors or {}, "values": {"relayed_text": question.relayed_text, **(values or {})},
            "status_label": status_label, "faq_entry": entry, "can_publish": can_publish,
            "faq_values": faq_values or (await faq.proposal(db, question) if can_publish and entry is None else
                                         _entry_values(entry) if entry else {}),
            "duplicate_of": await service.get(question.duplicate_of_id) if question.duplicate_of_id else None,
        })

    @get("/{question_id:int}")
    async def detail(self, request: Request, db_session: AsyncSession, question_id: IdParam,
                     lecturer_q: str | None = None) -> Template:
        question = await get_question(_service(request, db_session), question_id)
        return await self._detail(request, db_session, question, lecturer_q=lecturer_q)

    async def _act(self, request: Request, db: AsyncSession, question_id: int, action) -> Template | Redirect:
        service = _service(request, db)
        question = await get_question(service, question_id)
        form = await request.form()
        try:
            await action(service, question, form)
        except FieldErrors as exc:
            return await self._detail(request, db, question, exc.status_code, exc.errors, form_values(form))
        return Redirect(path=f"/questions/{question.id}", status_code=303)

    @post("/{question_id:int}/assign")
    async def assign(self, request: Request, db_session: AsyncSession, question_id: IdParam) -> Template | Redirect:
        async def run(service: QuestionService, question: Question, form: Any) -> None:
            lecturer_id = parse_int(form.get("lecturer_id"))
            if lecturer_id is None:
                raise FieldErrors({"lecturer_id": _("Choose the lecturer to relay the question to.")})
            await service.assign(question, lecturer_id, request.user)
            if form.get("relay"):
                await service.relay(question, request.user)

        return await self._act(request, db_session, question_id, run)

    @post("/{question_id:int}/text")
    async def edit_text(self, request: Request, db_session: AsyncSession, question_id: IdParam) -> Template | Redirect:
        async def run(service: QuestionService, question: Question, form: Any) -> None:
            data = validate({"relayed_text": form.get("relayed_text")}, schemas.TextUpdate)
            await service.update_text(question, data.relayed_text, request.user)

        return await self._act(request, db_session, question_id, run)

    @post("/{question_id:int}/relay")
    async def relay(self, request: Request, db_session: AsyncSession, question_id: IdParam) -> Template | Redirect:
        async def run(service: QuestionService, question: Question, form: Any) -> None:
            await service.relay(question, request.user)

        return await self._act(request, db_session, question_id, run)

    @post("/{question_id:int}/status")
    async def set_status(self, request: Request, db_session: AsyncSession, question_id: IdParam) -> Template | Redirect:
        async def run(service: QuestionService, question: Question, form: Any) -> None:
            data = {k: form.get(k) for k in ("status", "duplicate_of", "message") if form.get(k)}
            await service.set_status(question, validate(data, schemas.StatusUpdate), request.user)

        return await self._act(request, db_session, question_id, run)

    @post("/{question_id:int}/notes")
    async def add_note(self, request: Request, db_session: AsyncSession, question_id: IdParam) -> Template | Redirect:
        async def run(service: QuestionService, question: Question, form: Any) -> None:
            data = validate({"body": form.get("body")}, schemas.NoteCreate)
            await service.add_note(question, data.body, request.user)

        return await self._act(request, db_session, question_id, run)

    @post("/{question_id:int}/faq")
    async def publish(self, request: Request, db_session: AsyncSession, question_id: IdParam) -> Template | Redirect:
        service = _service(request, db_session)
        question = await get_question(service, question_id)
        form = await request.form()
        data = {k: form.get(k) for k in ("topic", "course", "question_text", "answer_text") if form.get(k)}
        try:
            await faq.publish(db_session, question, validate(data, schemas.FaqForm), request.user)
        except FieldErrors as exc:
            return await self._detail(request, db_session, question, exc.status_code, exc.errors,
                                      faq_values=form_values(form))
        return Redirect(path=f"/questions/{question.id}#faq", status_code=303)


def _entry_values(entry) -> dict:
    return {"topic": entry.topic, "course": entry.course, "question_text": entry.question_text,
            "answer_text": entry.answer_text}


ROUTES = [QuestionPageController]
