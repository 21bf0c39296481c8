"""The lecturer's side, reached through the signed reply link: answer, decline, or name a colleague."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.i18n import _
from crm.liaison.ids import storable
from crm.liaison.models import Contact
from crm.liaison.services.units import UnitService
from crm.questions import schemas
from crm.questions.models import Answer, Question
from crm.questions.services import notify
from crm.questions.services.common import change_status, lecturer_label, now_utc, record_event
from crm.questions.services.timeline import sync_interaction
from crm.settings import Settings
from crm.sources.models import Item
from crm.sources.services.items import ItemFilter, ItemService
from crm.text import nfc

#: Items offered per search on the reply page.
ITEM_SEARCH_LIMIT = 20
MAX_COLLEAGUES = 80


def reply_state(question: Question) -> str:
    """What the reply page shows: the form (open), the answer (answered), or why it cannot be answered."""
    if question.status == "relayed":
        return "open"
    if question.answered_at is not None and question.status in ("answered", "closed"):
        return "answered"
    if question.status == "new":
        return "passed"
    return "closed"


async def search_items(session: AsyncSession, q: str | None, limit: int = ITEM_SEARCH_LIMIT) -> list[Item]:
    """Items of the library's store matching every word (folded), newest first."""
    if not (q or "").strip():
        return []
    page = await ItemService(session).list_items(ItemFilter(q=q), 1, limit)
    return page.items


async def items_by_id(session: AsyncSession, ids: list[int]) -> list[Item]:
    ids = [i for i in dict.fromkeys(ids) if storable(i)]
    if not ids:
        return []
    return list(await session.scalars(select(Item).where(Item.id.in_(ids)).order_by(Item.title)))


async def colleagues(session: AsyncSession, question: Question) -> list[Contact]:
    """Lecturers the link's holder may pass the question to: their unit and the units around it."""
    lecturer = question.lecturer
    if lecturer is None or lecturer.unit_id is None:
        return []
    root = lecturer.unit.parent_id if lecturer.unit is not None and lecturer.unit.parent_id else lecturer.unit_id
    units = await UnitService(session).descendant_ids([root])
    query = (select(Contact).where(Contact.unit_id.in_(units), Contact.is_active, Contact.id != lecturer.id,
                                   Contact.kind.in_(("lecturer", "researcher")))
             .order_by(Contact.sort_key).limit(MAX_COLLEAGUES))
    return list(await session.scalars(query))


def _open(question: Question) -> None:
    if reply_state(question) != "open":
        raise FieldErrors({"_": _("This question can no longer be answered through this link.")})


async def answer_question(session: AsyncSession, settings: Settings, question: Question, data: schemas.AnswerForm,
                          now: datetime | None = None) -> Answer:
    """Store the answer, mark the question answered, and queue it to the student."""
    _open(question)
    now = now or now_utc()
    body = nfc(data.answer)
    if not body:
        raise FieldErrors({"answer": _("This field is required.")})
    items = await items_by_id(session, data.item_ids)
    if len(items) != len({i for i in data.item_ids}):
        raise FieldErrors({"item_ids": _("Some of the chosen items are no longer in the library's catalogue.")})
    answer = Answer(question_id=question.id, contact_id=question.lecturer_id, body=body, items=items)
    session.add(answer)
    question.faq_lecturer_consent = data.faq_consent
    previous = change_status(question, "answered", now)
    await record_event(session, question, "answered", "lecturer", contact=question.lecturer, from_status=previous,
                       to_status="answered", note=_("%(n)s recommended item(s)", n=len(items)) if items else None, at=now)
    await session.flush()
    await session.refresh(answer, ["contact", "items"])
    await notify.queue_answer(session, settings, question, answer)
    await sync_interaction(session, settings, question)
    return answer


async def pass_on(session: AsyncSession, settings: Settings, question: Question, data: schemas.PassOn,
                  now: datetime | None = None) -> Question:
    """Decline, or name a colleague: the question goes back to triage with the reason, and the librarian is told."""
    _open(question)
    now = now or now_utc()
    reason = nfc(data.reason) or ""
    lecturer = question.lecturer
    colleague: Contact | None = None
    if data.colleague_id is not None:
        allowed = {c.id: c for c in await colleagues(session, question)}
        colleague = allowed.get(data.colleague_id)
        if colleague is None:
            raise FieldErrors({"colleague_id": _("Choose a colleague from the list.")})
    colleague_text = lecturer_label(colleague) if colleague else nfc(data.colleague)
    action = "redirected" if colleague_text else "lecturer_declined"
    note = reason if not colleague_text else _("Suggests %(name)s: %(reason)s", name=colleague_text, reason=reason)
    previous = change_status(question, "new", now)
    if colleague is not None:
        question.lecturer = colleague
    await record_event(session, question, action, "lecturer", contact=lecturer, from_status=previous,
                       to_status="new", note=note, at=now)
    await session.flush()
    if question.librarian is not None:
        await notify.queue_returned(session, settings, question, question.librarian, lecturer, reason, colleague_text)
    await sync_interaction(session, settings, question)
    return question
