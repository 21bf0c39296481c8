"""The knowledge base: answered questions published, anonymized, when student and lecturer agreed.

A librarian publishes: the texts are proposed with the student's name, addresses and phone
numbers removed, and the librarian edits them before (and after) publishing.
"""

import re
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.i18n import _
from crm.liaison.ids import storable
from crm.liaison.models import Contact
from crm.pagination import Page, paginate
from crm.questions import schemas
from crm.questions.models import Answer, FaqEntry, Question
from crm.questions.services.common import now_utc, record_event
from crm.security.models import User
from crm.text import fold, nfc

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", re.UNICODE)
_PHONE = re.compile(r"(?<!\w)(\+?\d[\d .-]{7,}\d)(?!\w)")
REDACTED = "[…]"
MAX_FILTER_OPTIONS = 200


#: Words after which a lone given name is a name ("Chào An", "em Lan"), not the common word it may also be.
_GREETINGS = r"(?:chào|xin chào|dear|hi|hello|em|bạn|anh|chị|sinh viên)"


def _name_variants(name: str) -> list[str]:
    """A Vietnamese full name and its endings of two words or more ("Thị Mai Anh", "Mai Anh")."""
    words = name.split()
    return [" ".join(words[i:]) for i in range(len(words) - 1)]


def anonymize(text: str, names: list[str]) -> str:
    """The text without addresses, phone numbers and the given people's names.

    A full name goes, and so do its last words from two on ("Mai Anh"); the given name alone
    only after a greeting or form of address, because it is often an ordinary word too.
    """
    out = _EMAIL.sub(REDACTED, text)
    out = _PHONE.sub(REDACTED, out)
    variants = {v for n in names if n for v in _name_variants(n.strip())}
    for variant in sorted(variants, key=len, reverse=True):
        out = re.sub(rf"(?<!\w){re.escape(variant)}(?!\w)", REDACTED, out, flags=re.IGNORECASE)
    for name in names:
        given = (name or "").split()[-1:] if name else []
        if given and len(given[0]) > 1:
            out = re.sub(rf"(?<!\w)({_GREETINGS}\s+){re.escape(given[0])}(?!\w)", rf"\g<1>{REDACTED}", out,
                          flags=re.IGNORECASE)
    return out


def faq_search_key(entry: FaqEntry) -> str:
    return fold(" ".join(p for p in (entry.topic, entry.course, entry.question_text, entry.answer_text) if p))


def can_publish(question: Question) -> bool:
    return (question.faq_student_consent and question.faq_lecturer_consent
            and question.status in ("answered", "closed") and question.answered_at is not None)


async def entry_for(session: AsyncSession, question: Question) -> FaqEntry | None:
    return await session.scalar(select(FaqEntry).where(FaqEntry.question_id == question.id))


async def latest_answer(session: AsyncSession, question_id: int | None) -> Answer | None:
    if question_id is None:
        return None
    return await session.scalar(select(Answer).where(Answer.question_id == question_id)
                                .order_by(Answer.id.desc()).limit(1))


async def proposal(session: AsyncSession, question: Question) -> dict[str, str | None]:
    """The form's first values: the relayed text and the latest answer, anonymized."""
    answer = await latest_answer(session, question.id)
    names = [question.student_name]
    student = await session.scalar(select(Contact).where(Contact.email_key == question.email_key))
    if student is not None:
        names.append(student.full_name)
    return {"topic": question.topic, "course": question.group.name if question.group else question.course,
            "question_text": anonymize(question.relayed_text, names),
            "answer_text": anonymize(answer.body, names) if answer else ""}


async def publish(session: AsyncSession, question: Question, data: schemas.FaqForm, acting: User,
                  now: datetime | None = None) -> FaqEntry:
    if not can_publish(question):
        raise FieldErrors({"_": _("Only an answered question whose student and lecturer both agreed can be published.")})
    now = now or now_utc()
    entry = await entry_for(session, question) or FaqEntry(question_id=question.id)
    _apply(entry, data)
    entry.group_id = question.group_id
    entry.published = True
    entry.published_at = now
    entry.published_by_id = acting.id
    session.add(entry)
    await record_event(session, question, "published", "librarian", user=acting, at=now)
    await session.flush()
    return entry


def _apply(entry: FaqEntry, data: schemas.FaqForm) -> None:
    entry.topic = nfc(data.topic) or ""
    entry.course = nfc(data.course)
    entry.question_text = nfc(data.question_text) or ""
    entry.answer_text = nfc(data.answer_text) or ""
    entry.search_key = faq_search_key(entry)


async def get_entry(session: AsyncSession, entry_id: int) -> FaqEntry | None:
    return await session.get(FaqEntry, entry_id) if storable(entry_id) else None


async def update_entry(session: AsyncSession, entry: FaqEntry, data: schemas.FaqForm) -> FaqEntry:
    _apply(entry, data)
    await session.flush()
    return entry


async def set_published(session: AsyncSession, entry: FaqEntry, published: bool, acting: User) -> FaqEntry:
    if published and entry.question_id is not None:
        question = await session.get(Question, entry.question_id)
        if question is not None and not can_publish(question):
            raise FieldErrors({"_": _("Only an answered question whose student and lecturer both agreed can be published.")})
    entry.published = published
    if published:
        entry.published_at = now_utc()
        entry.published_by_id = acting.id
    if entry.question_id is not None:
        question = await session.get(Question, entry.question_id)
        if question is not None:
            await record_event(session, question, "published" if published else "unpublished", "librarian", user=acting)
    await session.flush()
    return entry


async def list_entries(session: AsyncSession, *, q: str | None = None, course: str | None = None,
                       topic: str | None = None, published_only: bool = True, page: int | None = 1,
                       per_page: int | None = None) -> Page[FaqEntry]:
    query = select(FaqEntry)
    if published_only:
        query = query.where(FaqEntry.published.is_(True))
    if course:
        query = query.where(func.lower(FaqEntry.course) == course.lower())
    if topic:
        query = query.where(func.lower(FaqEntry.topic) == topic.lower())
    for term in fold(q).split()[:8]:
        query = query.where(FaqEntry.search_key.contains(term, autoescape=True))
    query = query.order_by(FaqEntry.published_at.desc().nulls_last(), FaqEntry.id.desc())
    return await paginate(session, query, page, per_page)


async def filter_options(session: AsyncSession) -> tuple[list[str], list[str]]:
    """The courses and topics of published entries, for the public filters."""
    published = FaqEntry.published.is_(True)
    courses = await session.scalars(select(FaqEntry.course).where(published, FaqEntry.course.is_not(None))
                                    .distinct().order_by(FaqEntry.course).limit(MAX_FILTER_OPTIONS))
    topics = await session.scalars(select(FaqEntry.topic).where(published).distinct().order_by(FaqEntry.topic)
                                   .limit(MAX_FILTER_OPTIONS))
    return [c for c in courses if c], [t for t in topics if t]


async def recommended_items(session: AsyncSession, entries: list[FaqEntry]) -> dict[int, list]:
    """Entry id → the items recommended in the latest answer of its question."""
    out: dict[int, list] = {}
    for entry in entries:
        answer = await latest_answer(session, entry.question_id)
        out[entry.id] = list(answer.items) if answer else []
    return out
