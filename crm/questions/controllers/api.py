"""The question relay's JSON API under /api/questions (librarians; writes need an API token)."""

from datetime import date

from litestar import Controller, Request, get, patch, post
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.i18n import _
from crm.liaison.params import IdParam, OptionalId, PageParam, PerPageParam
from crm.questions import schemas
from crm.questions.controllers.triage import get_question
from crm.questions.models import Answer, Question, QuestionEvent, QuestionNote
from crm.questions.services import reports
from crm.questions.services.suggest import Suggester
from crm.questions.services.triage import STATUS_FILTERS, QuestionFilter, QuestionService
from crm.security.guards import librarian_required


def _person(obj, name: str | None = None) -> schemas.Person | None:
    return schemas.Person(id=obj.id, name=name or obj.full_name) if obj is not None else None


def summary(q: Question) -> schemas.QuestionSummary:
    return schemas.QuestionSummary(
        id=q.id, reference=q.reference, status=q.status, created_at=q.created_at,  # type: ignore[arg-type]
        student_name=q.student_name, course=q.course,
        group=schemas.Person(id=q.group.id, name=q.group.name) if q.group else None,
        unit=schemas.Person(id=q.unit.id, name=q.unit.name_vi) if q.unit else None, topic=q.topic,
        lecturer=_person(q.lecturer), relayed_at=q.relayed_at, answered_at=q.answered_at)


def _event(e: QuestionEvent) -> schemas.Event:
    who = e.user.full_name if e.user else (e.contact.full_name if e.contact else None)
    return schemas.Event(at=e.at, actor=e.actor, who=who, action=e.action, from_status=e.from_status,
                         to_status=e.to_status, note=e.note)


def _note(n: QuestionNote) -> schemas.Note:
    return schemas.Note(id=n.id, at=n.created_at, author=n.user.full_name if n.user else None, body=n.body)


def _answer(a: Answer) -> schemas.AnswerOut:
    return schemas.AnswerOut(id=a.id, at=a.created_at, lecturer=_person(a.contact), body=a.body, items=[
        schemas.RecommendedItem(id=i.id, title=i.title, authors=list(i.authors or []), year=i.year, link=i.link)
        for i in a.items])


async def detail(service: QuestionService, q: Question) -> schemas.QuestionDetail:
    duplicate = await service.get(q.duplicate_of_id) if q.duplicate_of_id else None
    return schemas.QuestionDetail(
        id=q.id, reference=q.reference, status=q.status, created_at=q.created_at,  # type: ignore[arg-type]
        student_name=q.student_name, student_email=q.student_email, consent_share_email=q.consent_share_email,
        course=q.course, group=schemas.Person(id=q.group.id, name=q.group.name) if q.group else None,
        unit=schemas.Person(id=q.unit.id, name=q.unit.name_vi) if q.unit else None,
        requested_lecturer=q.requested_lecturer.full_name if q.requested_lecturer else q.requested_lecturer_text,
        lecturer=_person(q.lecturer), librarian=_person(q.librarian), topic=q.topic, body=q.body,
        relayed_text=q.relayed_text, language=q.language, duplicate_of=duplicate.reference if duplicate else None,
        student_message=q.student_message, relayed_at=q.relayed_at, answered_at=q.answered_at, closed_at=q.closed_at,
        rating_helpful=q.rating_helpful, rating_used_sources=q.rating_used_sources, rating_comment=q.rating_comment,
        faq_student_consent=q.faq_student_consent, faq_lecturer_consent=q.faq_lecturer_consent,
        events=[_event(e) for e in await service.events(q)], notes=[_note(n) for n in await service.notes(q)],
        answers=[_answer(a) for a in await service.answers(q)])


def _report_row(row: reports.Row) -> schemas.ReportRowOut:
    return schemas.ReportRowOut(key=row.key, label=row.label, asked=row.asked, answered=row.answered,
                                resolved_share=round(row.resolved_share, 4) if row.resolved_share is not None else None,
                                median_hours_to_answer=row.median_hours, sources_recommended=row.recommended,
                                ratings=row.ratings, sources_used=row.used, helpful=row.helpful)


class QuestionApiController(Controller):
    path = "/api/questions"
    tags = ["questions"]
    guards = [librarian_required]

    @get("/")
    async def list_questions(self, request: Request, db_session: AsyncSession, status: str | None = None,
                             unit_id: OptionalId = None, lecturer_id: OptionalId = None, group_id: OptionalId = None,
                             date_from: date | None = None, date_to: date | None = None, q: str | None = None,
                             page: PageParam = 1, per_page: PerPageParam = 50) -> schemas.QuestionPage:
        """``status``: one status, or ``open`` (new and relayed); ``q`` searches folded text; ``unit_id`` includes sub-units."""
        if status is not None and status not in STATUS_FILTERS:
            raise FieldErrors({"status": _("Not one of the allowed values.")})
        f = QuestionFilter(status=status, unit_id=unit_id, lecturer_id=lecturer_id, group_id=group_id,
                           date_from=date_from, date_to=date_to, q=q)
        result = await QuestionService(db_session, request.app.state.settings).list_questions(f, page, per_page)
        return schemas.QuestionPage(items=[summary(x) for x in result.items], total=result.total,
                                    page=result.number, per_page=result.per_page)

    @get("/reports")
    async def report(self, db_session: AsyncSession, group_by: str = "unit", date_from: date | None = None,
                     date_to: date | None = None, unit_id: OptionalId = None,
                     lecturer_id: OptionalId = None) -> schemas.ReportOut:
        """Per ``unit``, ``lecturer`` or ``month``: asked, answered, resolved share, median hours, sources."""
        if group_by not in reports.GROUPINGS:
            raise FieldErrors({"group_by": _("Not one of the allowed values.")})
        report = await reports.build_report(db_session, group_by, date_from, date_to, unit_id, lecturer_id)
        return schemas.ReportOut(group_by=report.group_by, date_from=date_from.isoformat() if date_from else None,
                                 date_to=date_to.isoformat() if date_to else None,
                                 rows=[_report_row(r) for r in report.rows], total=_report_row(report.total))

    @get("/{question_id:int}")
    async def question_detail(self, request: Request, db_session: AsyncSession, question_id: IdParam) -> schemas.QuestionDetail:
        service = QuestionService(db_session, request.app.state.settings)
        return await detail(service, await get_question(service, question_id))

    @get("/{question_id:int}/suggestions")
    async def suggestions(self, db_session: AsyncSession, request: Request,
                          question_id: IdParam) -> list[schemas.SuggestionOut]:
        service = QuestionService(db_session, request.app.state.settings)
        question = await get_question(service, question_id)
        return [schemas.SuggestionOut(lecturer=schemas.Person(id=s.contact.id, name=s.contact.full_name),
                                      score=round(s.score, 2), reasons=s.reasons)
                for s in await Suggester(db_session).suggest(question)]

    @patch("/{question_id:int}")
    async def update_text(self, request: Request, db_session: AsyncSession, question_id: IdParam,
                          data: schemas.TextUpdate) -> schemas.QuestionDetail:
        service = QuestionService(db_session, request.app.state.settings)
        question = await get_question(service, question_id)
        await service.update_text(question, data.relayed_text, request.user)
        return await detail(service, question)

    @post("/{question_id:int}/assign", status_code=200)
    async def assign(self, request: Request, db_session: AsyncSession, question_id: IdParam,
                     data: schemas.Assign) -> schemas.QuestionDetail:
        service = QuestionService(db_session, request.app.state.settings)
        question = await get_question(service, question_id)
        await service.assign(question, data.lecturer_id, request.user)
        return await detail(service, question)

    @post("/{question_id:int}/relay", status_code=200)
    async def relay(self, request: Request, db_session: AsyncSession, question_id: IdParam) -> schemas.QuestionDetail:
        service = QuestionService(db_session, request.app.state.settings)
        question = await get_question(service, question_id)
        await service.relay(question, request.user)
        return await detail(service, question)

    @post("/{question_id:int}/status", status_code=200)
    async def set_status(self, request: Request, db_session: AsyncSession, question_id: IdParam,
                         data: schemas.StatusUpdate) -> schemas.QuestionDetail:
        service = QuestionService(db_session, request.app.state.settings)
        question = await get_question(service, question_id)
        await service.set_status(question, data, request.user)
        return await detail(service, question)

    @post("/{question_id:int}/notes", status_code=201)
    async def add_note(self, request: Request, db_session: AsyncSession, question_id: IdParam,
                       data: schemas.NoteCreate) -> schemas.Note:
        service = QuestionService(db_session, request.app.state.settings)
        question = await get_question(service, question_id)
        note = await service.add_note(question, data.body, request.user)
        await db_session.refresh(note, ["user"])
        return _note(note)


ROUTES = [QuestionApiController]
