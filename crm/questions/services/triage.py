"""The librarians' side: the queue, assigning, editing the relayed text, relaying, statuses and notes.

Every change writes a line of the audit trail with who did it; a change the student should know
about (declined, duplicate, closed with a message) queues an email to them.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.i18n import _
from crm.liaison.ids import storable
from crm.liaison.models import Contact
from crm.liaison.services.units import UnitService
from crm.pagination import Page, paginate
from crm.questions import schemas
from crm.questions.models import OPEN_STATUSES, STATUSES, Answer, Question, QuestionEvent, QuestionNote
from crm.questions.services import notify
from crm.questions.services.common import (change_status, find_question, lecturer_label, now_utc, record_event,
                                           search_key, status_label)
from crm.questions.services.timeline import sync_interaction
from crm.security.models import User
from crm.settings import Settings
from crm.text import fold, nfc

#: Words of a search, at most.
MAX_SEARCH_TERMS = 8
#: Status filters besides the statuses themselves.
STATUS_FILTERS = ("open", *STATUSES)


@dataclass
class QuestionFilter:
    #: One status, "open" (new or relayed), or None for every question.
    status: str | None = None
    unit_id: int | None = None
    lecturer_id: int | None = None
    librarian_id: int | None = None
    group_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    q: str | None = None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min).astimezone()


class QuestionService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings

    async def get(self, question_id: int) -> Question | None:
        return await self.session.get(Question, question_id) if storable(question_id) else None

    async def _filtered(self, f: QuestionFilter) -> Select:
        query = select(Question)
        if f.status == "open":
            query = query.where(Question.status.in_(OPEN_STATUSES))
        elif f.status:
            query = query.where(Question.status == f.status)
        if f.unit_id is not None:
            units = await UnitService(self.session).descendant_ids([f.unit_id])
            query = query.where(Question.unit_id.in_(units))
        if f.lecturer_id is not None:
            query = query.where(Question.lecturer_id == f.lecturer_id)
        if f.librarian_id is not None:
            query = query.where(Question.librarian_id == f.librarian_id)
        if f.group_id is not None:
            query = query.where(Question.group_id == f.group_id)
        if f.date_from is not None:
            query = query.where(Question.created_at >= _day_start(f.date_from))
        if f.date_to is not None:
            query = query.where(Question.created_at < _day_start(f.date_to + timedelta(days=1)))
        for term in fold(f.q).split()[:MAX_SEARCH_TERMS]:
            query = query.where(Question.search_key.contains(term, autoescape=True))
        return query

    async def list_questions(self, f: QuestionFilter, page: int | None = 1, per_page: int | None = None) -> Page[Question]:
        """Oldest open questions first (they wait longest); otherwise the newest first."""
        query = await self._filtered(f)
        if f.status in ("open", "new", "relayed"):
            query = query.order_by(Question.created_at, Question.id)
        else:
            query = query.order_by(Question.created_at.desc(), Question.id.desc())
        return await paginate(self.session, query, page, per_page)

    async def status_counts(self) -> dict[str, int]:
        rows = await self.session.execute(select(Question.status, func.count()).group_by(Question.status))
        counts = {status: 0 for status in STATUSES}
        counts.update({status: n for status, n in rows.all()})
        counts["open"] = sum(counts[s] for s in OPEN_STATUSES)
        return counts

    async def events(self, question: Question) -> list[QuestionEvent]:
        rows = await self.session.scalars(select(QuestionEvent).where(QuestionEvent.question_id == question.id)
                                          .order_by(QuestionEvent.at, QuestionEvent.id))
        return list(rows.unique())

    async def notes(self, question: Question) -> list[QuestionNote]:
        rows = await self.session.scalars(select(QuestionNote).where(QuestionNote.question_id == question.id)
                                          .order_by(QuestionNote.created_at, QuestionNote.id))
        return list(rows.unique())

    async def answers(self, question: Question) -> list[Answer]:
        rows = await self.session.scalars(select(Answer).where(Answer.question_id == question.id).order_by(Answer.id))
        return list(rows.unique())

    async def lecturer_choices(self, q: str | None, limit: int = 30) -> list[Contact]:
        """Lecturers and researchers whose name or address contains every word of ``q``."""
        terms = fold(q).split()
        if not terms:
            return []
        query = select(Contact).where(Contact.is_active, Contact.kind.in_(("lecturer", "researcher")))
        for term in terms[:MAX_SEARCH_TERMS]:
            query = query.where(Contact.search_key.contains(term, autoescape=True))
        return list(await self.session.scalars(query.order_by(Contact.sort_key).limit(limit)))

    # --- changes -------------------------------------------------------------------------------

    def _editable(self, question: Question) -> None:
        if question.status not in OPEN_STATUSES:
            raise FieldErrors({"_": _("This question is no longer open (%(status)s); reopen it first.",
                                      status=status_label(question.status))})

    async def assign(self, question: Question, lecturer_id: int, acting: User) -> Question:
        self._editable(question)
        lecturer = await self.session.get(Contact, lecturer_id) if storable(lecturer_id) else None
        if lecturer is None:
            raise FieldErrors({"lecturer_id": _("Unknown contact.")})
        if not lecturer.is_active:
            raise FieldErrors({"lecturer_id": _("This contact is no longer active.")})
        if lecturer.id == question.lecturer_id:
            return question
        if question.status == "relayed":
            # The link sent to the previous lecturer must not answer for the new one: withdraw it.
            question.relay_count += 1
            previous = change_status(question, "new", now_utc())
            await record_event(self.session, question, "withdrawn", "librarian", user=acting, contact=question.lecturer,
                               from_status=previous, to_status="new")
        question.lecturer = lecturer
        question.librarian = acting
        if question.unit_id is None:
            question.unit_id = lecturer.unit_id
        await record_event(self.session, question, "assigned", "librarian", user=acting, contact=lecturer,
                           note=lecturer_label(lecturer))
        await self.session.flush()
        await sync_interaction(self.session, self.settings, question)
        return question

    async def update_text(self, question: Question, text: str, acting: User) -> Question:
        self._editable(question)
        text = nfc(text) or ""
        if not text:
            raise FieldErrors({"relayed_text": _("This field is required.")})
        if text == question.relayed_text:
            return question
        question.relayed_text = text
        question.search_key = search_key(question)
        await record_event(self.session, question, "edited", "librarian", user=acting)
        await self.session.flush()
        await sync_interaction(self.session, self.settings, question)
        return question

    async def relay(self, question: Question, acting: User, now: datetime | None = None) -> Question:
        """Email the question to its lecturer with a new signed reply link (older links stop working)."""
        self._editable(question)
        if question.lecturer is None:
            raise FieldErrors({"lecturer_id": _("Choose the lecturer to relay the question to.")})
        now = now or now_utc()
        question.relay_count += 1
        question.reminded_at = None
        question.escalated_at = None
        question.librarian = acting
        previous = change_status(question, "relayed", now)
        await record_event(self.session, question, "relayed", "librarian", user=acting, contact=question.lecturer,
                           from_status=previous, to_status="relayed", note=lecturer_label(question.lecturer), at=now)
        await self.session.flush()
        await notify.queue_relay(self.session, self.settings, question, acting)
        await sync_interaction(self.session, self.settings, question)
        return question

    async def set_status(self, question: Question, change: schemas.StatusUpdate, acting: User,
                         now: datetime | None = None) -> Question:
        now = now or now_utc()
        target = change.status
        message = nfc(change.message)
        if target == "new":
            if question.status in OPEN_STATUSES or question.status == "answered":
                raise FieldErrors({"status": _("Only a closed, declined or duplicate question can be reopened.")})
            target = "answered" if question.answered_at is not None else "new"
            action = "reopened"
        elif target == "closed":
            if question.status == "closed":
                raise FieldErrors({"status": _("This question is already closed.")})
            action = "closed"
        else:
            if question.status not in OPEN_STATUSES:
                raise FieldErrors({"status": _("Only a new or relayed question can be declined or marked as a duplicate.")})
            action = target
        if target == "duplicate":
            original = await find_question(self.session, change.duplicate_of)
            if original is None or original.id == question.id:
                raise FieldErrors({"duplicate_of": _("Give the reference of the question this one repeats.")})
            question.duplicate_of_id = original.id
            note = original.reference + (f" — {message}" if message else "")
        else:
            note = message
        if target == "declined" and not message:
            raise FieldErrors({"message": _("Tell the student why the question is declined.")})
        previous = change_status(question, target, now)
        if message:
            question.student_message = message
        question.librarian = acting
        event = await record_event(self.session, question, action, "librarian", user=acting, from_status=previous,
                                   to_status=target, note=note, at=now)
        await self.session.flush()
        if target in ("declined", "duplicate") or (target == "closed" and message):
            await notify.queue_status(self.session, self.settings, question, event.id)
        await sync_interaction(self.session, self.settings, question)
        return question

    async def add_note(self, question: Question, body: str, acting: User) -> QuestionNote:
        text = nfc(body)
        if not text:
            raise FieldErrors({"body": _("This field is required.")})
        note = QuestionNote(question_id=question.id, user_id=acting.id, body=text)
        self.session.add(note)
        await record_event(self.session, question, "noted", "librarian", user=acting)
        await self.session.flush()
        return note
