"""The student's side: asking (with the per-address limit), the tracking page and the rating."""

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.forms import normalize_email
from crm.i18n import _, current_language
from crm.liaison.models import Contact, Group
from crm.liaison.services.interactions import group_label
from crm.questions import schemas
from crm.questions.models import Answer, Question, QuestionEvent
from crm.questions.services import notify
from crm.questions.services.common import lecturer_label, new_reference, now_utc, record_event, search_key
from crm.questions.services.timeline import sync_interaction
from crm.settings import Settings
from crm.text import fold, nfc

#: Questions one address may send per hour (the per-IP limit is on the route).
MAX_QUESTIONS_PER_EMAIL = 5
EMAIL_WINDOW = timedelta(hours=1)
#: Lecturers and courses offered on the public form (names and units only, never addresses).
MAX_CHOICES = 2000
COURSE_KINDS = ("cohort", "class")
#: Events the student sees on the tracking page (the rest is internal).
PUBLIC_ACTIONS = ("asked", "relayed", "answered", "declined", "duplicate", "closed", "reopened", "rated")


class TooManyQuestions(Exception):
    """This address has asked MAX_QUESTIONS_PER_EMAIL questions within the last hour."""


def lecturer_choice_label(contact: Contact) -> str:
    unit = contact.unit.name(current_language()) if contact.unit else None
    return f"{lecturer_label(contact)} — {unit}" if unit else lecturer_label(contact)


async def lecturer_choices(session: AsyncSession) -> list[str]:
    query = (select(Contact).where(Contact.is_active, Contact.kind.in_(("lecturer", "researcher")))
             .order_by(Contact.sort_key).limit(MAX_CHOICES))
    return [lecturer_choice_label(c) for c in await session.scalars(query)]


async def course_choices(session: AsyncSession) -> list[str]:
    query = select(Group).where(Group.kind.in_(COURSE_KINDS)).order_by(Group.name).limit(MAX_CHOICES)
    return [group_label(g) for g in await session.scalars(query)]


async def resolve_lecturer(session: AsyncSession, text: str | None) -> Contact | None:
    """The lecturer a typed or picked text names: a choice label, else one unambiguous name."""
    if not text:
        return None
    wanted = fold(text)
    name_part = fold(text.split(" — ")[0])
    candidates = list(await session.scalars(
        select(Contact).where(Contact.is_active, Contact.kind.in_(("lecturer", "researcher")),
                              Contact.search_key.contains(fold(name_part.split()[-1]) if name_part else wanted,
                                                          autoescape=True)).limit(200)))
    exact = [c for c in candidates if fold(lecturer_choice_label(c)) == wanted]
    if len(exact) == 1:
        return exact[0]
    by_name = [c for c in candidates if name_part in (fold(c.full_name), fold(lecturer_label(c)))]
    return by_name[0] if len(by_name) == 1 else None


async def resolve_group(session: AsyncSession, text: str | None) -> Group | None:
    """The group a typed or picked course names: its label, its code, or one unambiguous name."""
    if not text:
        return None
    wanted = fold(text)
    code = text.strip()
    if code.endswith(")") and "(" in code:
        code = code[code.rindex("(") + 1:-1]
    by_code = await session.scalar(select(Group).where(func.lower(Group.code) == code.lower()))
    if by_code is not None:
        return by_code
    rows = list(await session.scalars(select(Group).where(Group.search_key.contains(wanted, autoescape=True)).limit(50)))
    named = [g for g in rows if fold(g.name) == wanted or fold(group_label(g)) == wanted]
    return named[0] if len(named) == 1 else None


async def recent_questions(session: AsyncSession, email_key: str, since: datetime) -> int:
    return await session.scalar(select(func.count()).select_from(Question).where(
        Question.email_key == email_key, Question.created_at >= since)) or 0


async def submit_question(session: AsyncSession, settings: Settings, data: schemas.AskForm,
                          now: datetime | None = None) -> Question:
    """Store a student's question, put it on the timeline and queue the confirmation with the tracking link."""
    now = now or now_utc()
    email = normalize_email(data.email)
    email_key = email.lower()
    if await recent_questions(session, email_key, now - EMAIL_WINDOW) >= MAX_QUESTIONS_PER_EMAIL:
        raise TooManyQuestions()
    lecturer_text = nfc(data.lecturer)
    lecturer = await resolve_lecturer(session, lecturer_text)
    group = await resolve_group(session, nfc(data.course))
    body = nfc(data.question) or ""
    question = Question(
        student_name=nfc(data.student_name) or "", student_email=email, email_key=email_key,
        course=nfc(data.course), group_id=group.id if group else None,
        unit_id=group.unit_id if group and group.unit_id else (lecturer.unit_id if lecturer else None),
        requested_lecturer_id=lecturer.id if lecturer else None,
        requested_lecturer_text=None if lecturer else lecturer_text,
        lecturer_id=lecturer.id if lecturer else None,
        topic=nfc(data.topic) or "", body=body, relayed_text=body, consent_share_email=data.consent_share_email,
        status="new", language=current_language(), relay_count=0,
    )
    for _attempt in range(5):  # a reference collision is astronomically rare; try another one
        question.reference = new_reference()
        question.search_key = search_key(question)
        try:
            async with session.begin_nested():
                session.add(question)
                await session.flush()
            break
        except IntegrityError:
            session.expunge(question)
    else:
        raise RuntimeError("could not allocate a question reference")
    await session.refresh(question)
    await record_event(session, question, "asked", "student", to_status="new", at=now)
    await sync_interaction(session, settings, question)
    await notify.queue_received(session, settings, question)
    await session.flush()
    return question


# --- tracking ----------------------------------------------------------------------------------


async def public_events(session: AsyncSession, question: Question) -> list[QuestionEvent]:
    rows = await session.scalars(select(QuestionEvent).where(
        QuestionEvent.question_id == question.id, QuestionEvent.action.in_(PUBLIC_ACTIONS))
        .order_by(QuestionEvent.at, QuestionEvent.id))
    return list(rows.unique())


async def answers_of(session: AsyncSession, question: Question) -> list[Answer]:
    rows = await session.scalars(select(Answer).where(Answer.question_id == question.id).order_by(Answer.id))
    return list(rows.unique())


def can_rate(question: Question) -> bool:
    return question.status in ("answered", "closed") and question.answered_at is not None


async def rate_answer(session: AsyncSession, question: Question, rating: schemas.Rating,
                      now: datetime | None = None) -> Question:
    """The student's rating; rating again replaces it (the audit trail keeps each one)."""
    if not can_rate(question):
        raise FieldErrors({"_": _("You can rate the answer once the lecturer has answered.")})
    now = now or now_utc()
    question.rating_helpful = rating.helpful == "yes"
    question.rating_used_sources = None if rating.used_sources == "none" else rating.used_sources == "yes"
    question.rating_comment = nfc(rating.comment)
    question.rated_at = now
    question.faq_student_consent = rating.faq_consent
    note = " · ".join(filter(None, [
        _("Helpful") if question.rating_helpful else _("Not helpful"),
        {True: _("used the recommended sources"), False: _("did not use the recommended sources")}.get(
            question.rating_used_sources, ""),
        _("agrees to publish in the FAQ") if rating.faq_consent else "",
    ]))
    await record_event(session, question, "rated", "student", note=note, at=now)
    await session.flush()
    return question
