"""What every part of the relay shares: references, search keys, the audit trail and the signed links."""

import secrets
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.i18n import _
from crm.liaison.ids import storable
from crm.liaison.models import Contact
from crm.questions.models import Question, QuestionEvent
from crm.security.models import User
from crm.security.tokens import TokenError, make_token, read_token
from crm.settings import Settings
from crm.text import fold

#: Student-facing references: no 0/O or 1/I, so they can be read out over the phone.
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
REFERENCE_LENGTH = 7
TRACK_PURPOSE = "question-track"
REPLY_PURPOSE = "question-reply"


def now_utc() -> datetime:
    return datetime.now(UTC)


def new_reference() -> str:
    return "CH-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def search_key(question: Question) -> str:
    parts = [question.reference, question.student_name, question.student_email, question.course,
             question.requested_lecturer_text, question.topic, question.body]
    if question.relayed_text != question.body:
        parts.append(question.relayed_text)
    return fold(" ".join(p for p in parts if p))


def status_label(status: str) -> str:
    return {
        "new": _("New"), "relayed": _("Relayed to the lecturer"), "answered": _("Answered"),
        "closed": _("Closed"), "declined": _("Declined"), "duplicate": _("Duplicate"),
    }.get(status, status)


def lecturer_label(contact: Contact) -> str:
    """``TS. Ngô Minh Khoa``: how a lecturer is addressed in letters."""
    return f"{contact.academic_title} {contact.full_name}" if contact.academic_title else contact.full_name


async def record_event(session: AsyncSession, question: Question, action: str, actor: str, *,
                       user: User | None = None, contact: Contact | None = None, from_status: str | None = None,
                       to_status: str | None = None, note: str | None = None, at: datetime | None = None) -> QuestionEvent:
    """One line of the audit trail; a status change names both ends."""
    event = QuestionEvent(question_id=question.id, at=at or now_utc(), actor=actor,
                          user_id=user.id if user else None, contact_id=contact.id if contact else None,
                          action=action, from_status=from_status, to_status=to_status, note=note)
    session.add(event)
    return event


def change_status(question: Question, status: str, at: datetime) -> str:
    """Set the status with its timestamp; returns the previous status."""
    previous = question.status
    question.status = status
    if status == "relayed":
        question.relayed_at = at
    elif status == "answered":
        question.answered_at = at
        question.closed_at = None
    elif status in ("closed", "declined", "duplicate"):
        question.closed_at = at
    elif status == "new":
        question.closed_at = None
    return previous


# --- signed links -------------------------------------------------------------------------


class LinkError(Exception):
    """A link that cannot be used: ``invalid`` (tampered, unknown), ``expired``, or ``superseded``
    (the question was relayed again, so an older reply link no longer applies)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def status_code(self) -> int:
        return 400 if self.reason == "invalid" else 410


def track_token(settings: Settings, question: Question) -> str:
    return make_token(settings, TRACK_PURPOSE, {"q": question.id, "r": question.reference})


def track_url(settings: Settings, question: Question) -> str:
    return f"{settings.base_url}/questions/track/{track_token(settings, question)}"


def reply_token(settings: Settings, question: Question) -> str:
    return make_token(settings, REPLY_PURPOSE, {"q": question.id, "n": question.relay_count})


def reply_url(settings: Settings, question: Question) -> str:
    return f"{settings.base_url}/questions/reply/{reply_token(settings, question)}"


def _payload(settings: Settings, purpose: str, token: str, field: str) -> tuple[int, object]:
    try:
        payload = read_token(settings, purpose, token)
    except TokenError as exc:
        raise LinkError(exc.reason) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("q"), int) or field not in payload:
        raise LinkError("invalid")
    if not storable(payload["q"]):
        raise LinkError("invalid")
    return payload["q"], payload[field]


async def question_for_track(session: AsyncSession, settings: Settings, token: str) -> Question:
    """The one question a tracking link names (the reference must match too)."""
    question_id, reference = _payload(settings, TRACK_PURPOSE, token, "r")
    question = await session.get(Question, question_id)
    if question is None or question.reference != reference:
        raise LinkError("invalid")
    return question


async def question_for_reply(session: AsyncSession, settings: Settings, token: str) -> Question:
    """The one question a reply link names; a link from an earlier relay is superseded."""
    question_id, relay_number = _payload(settings, REPLY_PURPOSE, token, "n")
    question = await session.get(Question, question_id)
    if question is None:
        raise LinkError("invalid")
    if relay_number != question.relay_count:
        raise LinkError("superseded")
    return question


async def find_question(session: AsyncSession, ref: str | None) -> Question | None:
    """A question by its reference (``CH-…``, any case) or its id."""
    text = (ref or "").strip().upper()
    if not text:
        return None
    if text.isdigit():
        number = int(text) if len(text) <= 18 else 0
        return await session.get(Question, number) if storable(number) else None
    if not text.startswith("CH-"):
        text = "CH-" + text
    return await session.scalar(select(Question).where(Question.reference == text))
