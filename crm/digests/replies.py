"""Replies to digests land on the contact's timeline, with a follow-up for their liaison librarian.

The mail domain reads inbound mail and stores replies with the outbox message they answer; this
module takes those that answer a digest and turns each into an interaction, marking the inbound
message consumed in the same transaction (so each reply becomes exactly one interaction).
"""

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm import i18n
from crm.digests.models import Digest, Subscription
from crm.digests.schedule import local_today
from crm.liaison.models import Contact, Interaction, Unit
from crm.liaison.services.assignments import AssignmentService
from crm.liaison.services.groups import GroupService
from crm.mail.models import InboundMessage
from crm.mail.services import parse_message
from crm.settings import Settings
from crm.text import nfc

#: The reply's text kept on the timeline (the full message stays in the mailbox).
MAX_NOTES = 5000
#: The liaison librarian is asked to answer within this many days.
FOLLOW_UP_AFTER = timedelta(days=2)
SUBJECT_LENGTH = 255
BATCH_SIZE = 200
#: Where the quoted original starts in common mail clients (English and Vietnamese).
_QUOTE_HEADER = re.compile(
    r"^\s*(-{2,}\s*(Original Message|Thư gốc|Forwarded message)\s*-{2,}"
    r"|On .{4,200} wrote:|Vào .{4,200} đã viết:|Le .{4,200} a écrit :"
    r"|From:\s.+|Từ:\s.+)\s*$", re.IGNORECASE)

log = logging.getLogger("crm.digests")


@dataclass
class RepliesReport:
    consumed: int = 0
    interactions: int = 0


def reply_text(text: str | None) -> str:
    """The words the lecturer wrote: the quoted digest below them is left out."""
    if not text:
        return ""
    kept: list[str] = []
    for line in nfc(text).replace("\r\n", "\n").split("\n"):
        if _QUOTE_HEADER.match(line):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    own = "\n".join(kept).strip()
    if not own:  # a reply that is only quotes (or top-quoted oddly): keep what was sent
        own = nfc(text).strip()
    return own[:MAX_NOTES].rstrip()


def _message_text(raw: bytes) -> str:
    parsed = parse_message(raw)
    if parsed.text:
        return parsed.text
    if parsed.html:
        from lxml import html as lxml_html

        try:
            return lxml_html.fromstring(parsed.html).text_content()
        except Exception:  # malformed HTML: no text rather than no interaction
            return ""
    return ""


async def liaison_librarian_id(session: AsyncSession, contact: Contact, group_id: int | None = None,
                               today: date | None = None) -> int | None:
    """The librarian who looks after this contact: the group's, else the nearest unit's, else a group's.

    A primary liaison wins; a backup is used only where nobody is primary anywhere.
    """
    today = today or date.today()
    assignments = AssignmentService(session)
    backup: int | None = None

    def pick(found) -> int | None:
        nonlocal backup
        for assignment in found:
            if assignment.role == "primary":
                return assignment.librarian_id
            backup = backup or assignment.librarian_id
        return None

    if group_id is not None and (chosen := pick(await assignments.for_group(group_id, today))):
        return chosen
    unit_id, seen = contact.unit_id, set()
    while unit_id is not None and unit_id not in seen:
        seen.add(unit_id)
        if chosen := pick(await assignments.for_unit(unit_id, today)):
            return chosen
        unit = await session.get(Unit, unit_id)
        unit_id = unit.parent_id if unit is not None else None
    for group in await GroupService(session).groups_of(contact.id):
        if chosen := pick(await assignments.for_group(group.id, today)):
            return chosen
    return backup


async def _pending_ids(session_maker: async_sessionmaker, after_id: int) -> list[int]:
    async with session_maker() as session:
        query = (select(InboundMessage.id)
                 .where(InboundMessage.kind == "reply", InboundMessage.consumed_at.is_(None),
                        InboundMessage.outbox_id.in_(select(Digest.outbox_id).where(Digest.outbox_id.is_not(None))),
                        InboundMessage.id > after_id)
                 .order_by(InboundMessage.id).limit(BATCH_SIZE))
        return list(await session.scalars(query))


async def consume_reply(session: AsyncSession, settings: Settings, message: InboundMessage,
                        now: datetime) -> Interaction | None:
    """One reply → one interaction (in the caller's transaction); None when it answers no digest."""
    digest = await session.scalar(select(Digest).where(Digest.outbox_id == message.outbox_id).order_by(Digest.id).limit(1))
    if digest is None:
        return None
    contact = digest.contact
    subscription = await session.get(Subscription, digest.subscription_id) if digest.subscription_id else None
    timezone = settings.digests.timezone
    today = local_today(now, timezone)
    with i18n.language(settings.default_language):
        subject = i18n._("Digest reply: %(subject)s", subject=digest.subject or message.subject or "")
        follow_up_note = i18n._("Answer %(name)s's reply to the digest", name=contact.full_name)
        notes = reply_text(_message_text(message.raw))
        sender = (message.sender or "").strip()
        if sender and sender.lower() != contact.email.lower():
            notes = i18n._("(sent from %(address)s)", address=sender) + ("\n\n" + notes if notes else "")
    interaction = Interaction(
        occurred_on=local_today(message.received_at or now, timezone), kind="email",
        subject=(nfc(subject) or "")[:SUBJECT_LENGTH], notes=notes or None,
        follow_up_on=today + FOLLOW_UP_AFTER, follow_up_note=(nfc(follow_up_note) or "")[:SUBJECT_LENGTH],
        follow_up_done=False, contacts=[contact], groups=[],
        librarian_id=await liaison_librarian_id(session, contact, subscription.group_id if subscription else None, today),
    )
    session.add(interaction)
    await session.flush()
    return interaction


async def consume_digest_replies(session_maker: async_sessionmaker, settings: Settings,
                                 now: datetime | None = None) -> RepliesReport:
    """Every unconsumed reply to a digest becomes an interaction; idempotent (consumed once)."""
    now = now or datetime.now(UTC)
    report = RepliesReport()
    last_id = 0
    while ids := await _pending_ids(session_maker, last_id):
        for message_id in ids:
            last_id = message_id
            try:
                async with session_maker() as session, session.begin():
                    message = await session.scalar(select(InboundMessage).where(
                        InboundMessage.id == message_id, InboundMessage.consumed_at.is_(None)
                    ).with_for_update(skip_locked=True))
                    if message is None:
                        continue
                    if await consume_reply(session, settings, message, now) is not None:
                        report.interactions += 1
                    message.consumed_at = now
                    report.consumed += 1
            except Exception:
                log.exception("could not attach digest reply %s to the timeline; it is tried again later", message_id)
    return report
