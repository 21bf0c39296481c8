"""The mailbox of the local sink (list, read, parse, prune) and the outbox as librarians browse it."""

from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from crm.mail.models import OUTBOX_STATUSES, InboundMessage, OutboxMessage, SinkMessage
from crm.pagination import Page, paginate
from crm.text import nfc

#: Headers shown at the top of a message, in this order (the full list is shown below them).
SUMMARY_HEADERS = ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID")
#: Restrictions for the HTML part shown in the mailbox: no scripts, no remote content, no forms.
HTML_PREVIEW_CSP = "default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'; font-src data:"


@dataclass
class Attachment:
    filename: str
    content_type: str
    size: int


@dataclass
class ParsedMessage:
    """What a librarian sees of a raw message: headers, the text and HTML bodies, attachments."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    text: str | None = None
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    @property
    def summary(self) -> list[tuple[str, str]]:
        return [(name, value) for name in SUMMARY_HEADERS if (value := self.header(name))]


def _header_value(message: EmailMessage, key: str, raw_value: str) -> str:
    try:
        return nfc(str(message.policy.header_fetch_parse(key, raw_value))) or ""
    except Exception:  # undecodable header: show it as received
        return str(raw_value)


def _content(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError, KeyError):
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", errors="replace")
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    return str(content)


def _body(message: EmailMessage, subtype: str) -> EmailMessage | None:
    try:
        return message.get_body(preferencelist=(subtype,))  # type: ignore[return-value]
    except Exception:
        return None


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse with the standard library (policy=default); never raises on malformed input."""
    message: EmailMessage = BytesParser(policy=policy.default).parsebytes(raw)  # type: ignore[assignment]
    parsed = ParsedMessage(headers=[(key, _header_value(message, key, value)) for key, value in message.raw_items()])
    text_part, html_part = _body(message, "plain"), _body(message, "html")
    if text_part is not None:
        parsed.text = _content(text_part)
    if html_part is not None:
        parsed.html = _content(html_part)
    for part in message.walk():
        if part.is_multipart() or part is text_part or part is html_part:
            continue
        filename = part.get_filename()
        if filename is None and not part.is_attachment() and part.get_content_maintype() == "text":
            continue  # an alternative body the viewer does not show (e.g. text/enriched)
        payload = part.get_payload(decode=True)
        parsed.attachments.append(
            Attachment(
                filename=nfc(filename) or "",
                content_type=part.get_content_type(),
                size=len(payload) if isinstance(payload, bytes) else 0,
            )
        )
    return parsed


def recipients(row: SinkMessage) -> list[str]:
    return [r for r in (row.rcpt_to or "").split(", ") if r]


class MailboxService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_messages(self, q: str | None = None, page: int | None = 1, per_page: int | None = None) -> Page:
        """Newest first; ``q`` matches the recipients, the sender or the subject (case-insensitive)."""
        query = (
            select(SinkMessage)
            .options(defer(SinkMessage.raw))
            .order_by(SinkMessage.received_at.desc(), SinkMessage.id.desc())
        )
        for word in (nfc(q) or "").split():
            lowered = word.lower()
            query = query.where(
                or_(
                    *(column.contains(word, autoescape=True) for column in (SinkMessage.rcpt_to, SinkMessage.subject, SinkMessage.mail_from)),
                    *(func.lower(column).contains(lowered, autoescape=True)
                      for column in (SinkMessage.rcpt_to, SinkMessage.subject, SinkMessage.mail_from)),
                )
            )
        return await paginate(self.session, query, page, per_page)

    async def get(self, message_id: int) -> SinkMessage | None:
        return await self.session.get(SinkMessage, message_id)

    async def sizes(self, ids: list[int]) -> dict[int, int]:
        """Size in bytes of each message, without loading the messages."""
        if not ids:
            return {}
        rows = await self.session.execute(
            select(SinkMessage.id, func.length(SinkMessage.raw)).where(SinkMessage.id.in_(ids))
        )
        return {row_id: size or 0 for row_id, size in rows}

    async def prune(self, received_before: datetime) -> int:
        """Delete messages received before the cut-off; returns how many were deleted."""
        result = await self.session.execute(delete(SinkMessage).where(SinkMessage.received_at < received_before))
        return result.rowcount or 0


# --- the outbox, as librarians see it ------------------------------------------------------


@dataclass
class OutboxFilter:
    status: str | None = None
    kind: str | None = None
    #: Words matched against the recipient (case-insensitive).
    q: str | None = None


class OutboxService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_messages(self, filters: OutboxFilter, page: int | None = 1, per_page: int | None = None) -> Page:
        """Newest first, without the message bodies."""
        query = (
            select(OutboxMessage)
            .options(defer(OutboxMessage.raw))
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        )
        if filters.status:
            query = query.where(OutboxMessage.status == filters.status)
        if filters.kind:
            query = query.where(OutboxMessage.kind == filters.kind)
        for word in (nfc(filters.q) or "").split():
            query = query.where(OutboxMessage.recipient.contains(word.lower(), autoescape=True))
        return await paginate(self.session, query, page, per_page)

    async def counts(self) -> dict[str, int]:
        """Messages per status, every status present (zero when none)."""
        rows = await self.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
        found = dict(rows.all())
        return {status: found.get(status, 0) for status in OUTBOX_STATUSES}

    async def kinds(self) -> list[str]:
        return list(await self.session.scalars(select(OutboxMessage.kind).distinct().order_by(OutboxMessage.kind)))

    async def get(self, message_id: int) -> OutboxMessage | None:
        return await self.session.get(OutboxMessage, message_id)

    async def inbound_for(self, outbox_id: int) -> list[InboundMessage]:
        """Bounces and replies about one message, oldest first."""
        rows = await self.session.scalars(
            select(InboundMessage).options(defer(InboundMessage.raw))
            .where(InboundMessage.outbox_id == outbox_id).order_by(InboundMessage.received_at, InboundMessage.id)
        )
        return list(rows)
