"""Queuing email: every message is built completely and stored as one outbox row.

Services call :func:`enqueue` inside their own transaction, so the email exists exactly when the
change that caused it is committed. The idempotency key is unique: queuing the same key twice
returns the first row and sends nothing more. The Message-ID is derived from the key, so a
retried delivery carries the same Message-ID and receivers (and our tests) can tell.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm.mail.models import OutboxMessage


@dataclass
class Attachment:
    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


def address_domain(address: str) -> str:
    """The domain of an address such as ``Thư viện <thu-vien@lib.edu.vn>`` (``localhost`` if none)."""
    parsed = getaddresses([address])
    email = parsed[0][1] if parsed else ""
    return email.rpartition("@")[2] or "localhost"


def message_id_for(key: str, domain: str) -> str:
    """The Message-ID of the message queued under ``key``: the same key always gives the same id."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
    return f"<{digest}@{domain}>"


def build_message(*, sender: str, to: str, subject: str, text: str, html: str | None = None,
                  message_id: str, reply_to: str | None = None, headers: dict[str, str] | None = None,
                  attachments: list[Attachment] | None = None) -> EmailMessage:
    """multipart/alternative (text, then HTML) with UTF-8 headers, plus attachments if any."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id
    if reply_to:
        message["Reply-To"] = reply_to
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text, subtype="plain", charset="utf-8")
    if html is not None:
        message.add_alternative(html, subtype="html", charset="utf-8")
    for attachment in attachments or ():
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(attachment.content, maintype=maintype, subtype=subtype or "octet-stream",
                               filename=attachment.filename)
    return message


async def enqueue(session: AsyncSession, *, key: str, kind: str, sender: str, to: str, subject: str, text: str,
                  html: str | None = None, reply_to: str | None = None, headers: dict[str, str] | None = None,
                  attachments: list[Attachment] | None = None, not_before: datetime | None = None) -> OutboxMessage:
    """Queue one email under ``key``; an already queued key returns its row unchanged.

    ``to`` is a single address (``Name <a@b>`` or ``a@b``). The caller's transaction commits it.
    """
    existing = await session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
    if existing is not None:
        return existing
    message_id = message_id_for(key, address_domain(sender))
    message = build_message(sender=sender, to=to, subject=subject, text=text, html=html, message_id=message_id,
                            reply_to=reply_to, headers=headers, attachments=attachments)
    recipient = getaddresses([to])[0][1].lower() if to else ""
    row = OutboxMessage(idempotency_key=key, message_id=message_id, kind=kind, recipient=recipient,
                        subject=subject[:998], raw=message.as_bytes(), status="queued", attempts=0,
                        next_attempt_at=not_before or datetime.now(UTC))
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:  # queued concurrently by another process under the same key
        return await session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
    return row


def format_address(name: str, email: str) -> str:
    """``"Nguyễn Văn An" <an@…>`` with the name encoded as the standard wants."""
    local, _, domain = email.partition("@")
    return str(Address(display_name=name, username=local, domain=domain))
