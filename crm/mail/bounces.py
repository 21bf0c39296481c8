"""Inbound mail: bounces (delivery status notifications), replies, and what they say about addresses.

Mail comes back to the VERP return path (crm.mail.verp): in embedded mode to the local sink, in
production to a mailbox read over IMAP (crm.mail.imap). Each message is stored once (by
Message-ID) as an InboundMessage of kind ``bounce``, ``reply`` or ``other``:

* A bounce is an RFC 3464 report (``multipart/report; report-type=delivery-status``): its
  per-recipient fields give the failed address, the status (5.x.x: hard, 4.x.x: soft) and the
  server's diagnostic. Reports in older, non-standard shapes are recognised by flufl.bounce.
* A bounce counts against an address only when it arrived at a VERP address whose signature is
  right: that names the outbox row, hence the address we sent to. A forged or altered tag is
  stored for the record but changes nothing.
* A reply answers something we sent: its In-Reply-To/References name an outbox Message-ID, or
  it was sent to a row's VERP address. Automatic answers (out-of-office, RFC 3834
  ``Auto-Submitted``) are kept as ``other``, still linked to the row.

Hard bounces reaching ``settings.mail.bounce_threshold`` make the address undeliverable: the
sender skips it from then on, and the contact's page says so.
"""

import email
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses

from flufl.bounce import all_failures
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm.mail.models import InboundMessage, MailAddress, OutboxMessage
from crm.mail.verp import is_return_path, outbox_id_from_verp
from crm.settings import Settings
from crm.text import nfc

log = logging.getLogger("crm.mail.bounces")

#: Headers where the envelope recipient of a message read from a mailbox is found.
ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")
#: Longest diagnostic text kept (servers sometimes quote whole transcripts).
MAX_REASON = 2000
_MSGID = re.compile(r"<[^<>\s]+>")
_STATUS = re.compile(r"^([245])\.\d{1,3}\.\d{1,3}$")
_DAEMON = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.I)


@dataclass
class ParsedInbound:
    kind: str  # bounce | reply | other
    message_id: str | None
    sender: str
    subject: str
    #: The outbox row named by a correctly signed VERP address (trusted).
    verp_outbox_id: int | None = None
    #: A VERP-looking address whose signature is wrong (forged or altered).
    verp_tampered: bool = False
    #: Message-IDs this message refers to (In-Reply-To, References, or the bounced original's).
    referenced_ids: tuple[str, ...] = ()
    bounce_recipient: str | None = None
    bounce_status: str | None = None
    bounce_reason: str | None = None
    #: True for a hard bounce (5.x.x), False for a soft one (4.x.x), None when not a failure.
    hard: bool | None = None
    automatic: bool = False


def _clean(text: str | None, limit: int) -> str:
    return (nfc(" ".join(str(text or "").split())) or "")[:limit]


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # an undecodable header must not lose the message
        return ""
    return str(value) if value is not None else ""


def _addresses(message: Message, names: tuple[str, ...]) -> list[str]:
    values = [_header(message, name) for name in names]
    return [address for _name, address in getaddresses([v for v in values if v]) if address]


def _dsn_address(value: str) -> str:
    """``rfc822; an@demo.edu.vn`` → ``an@demo.edu.vn``."""
    _type, _sep, address = value.partition(";")
    return (address or _type).strip().strip("<>").lower()


def _delivery_status(message: EmailMessage) -> tuple[list[Message], Message | None] | None:
    """The per-recipient field blocks of an RFC 3464 report, and the returned original's headers."""
    if message.get_content_type() != "multipart/report":
        return None
    report = None
    original = None
    for part in message.iter_parts():
        content_type = part.get_content_type()
        if content_type in ("message/delivery-status", "message/global-delivery-status"):
            report = part
        elif content_type in ("message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers"):
            original = part
    if report is None:
        return None
    payload = report.get_payload()
    if isinstance(payload, str):  # some MTAs send it base64-encoded: parse the decoded text
        decoded = report.get_payload(decode=True) or b""
        payload = [email.message_from_bytes(block.strip() + b"\n") for block in re.split(rb"\r?\n\r?\n", decoded) if block.strip()]
    blocks = [block for block in payload if isinstance(block, Message)]
    headers: Message | None = None
    if original is not None:
        inner = original.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            headers = inner[0]
        else:
            text = original.get_payload(decode=True) or b""
            headers = BytesParser(policy=policy.default).parsebytes(text, headersonly=True)
    return blocks[1:] if len(blocks) > 1 else blocks, headers


def _failure_from_dsn(blocks: list[Message]) -> tuple[str | None, str | None, str | None, bool | None]:
    """(recipient, status, diagnostic, hard) of the first failed or delayed recipient."""
    chosen = None
    for block in blocks:
        action = _header(block, "Action").strip().lower()
        status = _header(block, "Status").strip().split()[0] if _header(block, "Status").strip() else ""
        if action in ("failed", "delayed") or status[:1] in ("4", "5"):
            chosen = block
            if action == "failed" and status.startswith("5"):
                break  # a hard failure outweighs the rest
    if chosen is None:
        return None, None, None, None
    status = (_header(chosen, "Status").strip().split() or [""])[0]
    if not _STATUS.match(status):
        status = "5.0.0" if _header(chosen, "Action").strip().lower() == "failed" else "4.0.0"
    recipient = _dsn_address(_header(chosen, "Original-Recipient") or _header(chosen, "Final-Recipient")) or None
    diagnostic = _header(chosen, "Diagnostic-Code")
    diagnostic = diagnostic.partition(";")[2].strip() if ";" in diagnostic else diagnostic
    hard = status.startswith("5")
    return recipient, status, _clean(diagnostic, MAX_REASON) or None, hard


def _looks_automatic(message: Message) -> bool:
    auto = _header(message, "Auto-Submitted").strip().lower()
    precedence = _header(message, "Precedence").strip().lower()
    return bool((auto and auto != "no") or precedence in ("auto_reply", "bulk", "junk", "list")
                or _header(message, "X-Autoreply") or _header(message, "X-Autorespond"))


def _from_mailer(message: Message) -> bool:
    sender = next(iter(_addresses(message, ("From",))), "")
    return bool(_DAEMON.match(sender) or _header(message, "Return-Path").strip() == "<>"
                or _header(message, "X-Failed-Recipients"))


def parse_inbound(raw: bytes, rcpt_to: list[str], settings: Settings) -> ParsedInbound:
    """Classify a received message; never raises on malformed input."""
    message: EmailMessage = BytesParser(policy=policy.default).parsebytes(raw)  # type: ignore[assignment]
    message_id = (_MSGID.findall(_header(message, "Message-ID")) or [None])[0]
    parsed = ParsedInbound(
        kind="other", message_id=message_id,
        sender=_clean(next(iter(_addresses(message, ("From",))), ""), 320),
        subject=_clean(_header(message, "Subject"), 998),
        automatic=_looks_automatic(message),
    )
    for address in [*rcpt_to, *_addresses(message, ENVELOPE_HEADERS)]:
        if not is_return_path(settings, address):
            continue
        outbox_id = outbox_id_from_verp(settings, address)
        if outbox_id is not None:
            parsed.verp_outbox_id = outbox_id
            break
        if "+" in address.partition("@")[0]:
            parsed.verp_tampered = True

    report = _delivery_status(message)
    if report is not None:
        blocks, original = report
        recipient, status, reason, hard = _failure_from_dsn(blocks)
        if original is not None:
            parsed.referenced_ids = tuple(_MSGID.findall(_header(original, "Message-ID")))
        if hard is not None:
            parsed.kind = "bounce"
            parsed.bounce_recipient, parsed.bounce_status, parsed.hard = recipient, status, hard
            parsed.bounce_reason = reason or _clean(_header(message, "Subject"), MAX_REASON)
        return parsed  # a report of success (delivered, relayed) is "other"

    if _from_mailer(message) or parsed.verp_outbox_id is not None and parsed.automatic:
        try:
            temporary, permanent = all_failures(email.message_from_bytes(raw))
        except Exception:  # a detector tripping on odd input must not lose the message
            log.debug("flufl.bounce could not scan an inbound message", exc_info=True)
            temporary, permanent = set(), set()
        failed = sorted(permanent) or sorted(temporary)
        if failed:
            parsed.kind = "bounce"
            parsed.hard = bool(permanent)
            parsed.bounce_status = "5.0.0" if permanent else "4.0.0"
            first = failed[0]
            parsed.bounce_recipient = (first.decode("utf-8", "replace") if isinstance(first, bytes) else str(first)).lower()
            parsed.bounce_reason = _clean(_header(message, "Subject"), MAX_REASON) or "Non-standard bounce report"
            return parsed

    parsed.referenced_ids = tuple(
        _MSGID.findall(_header(message, "In-Reply-To")) + _MSGID.findall(_header(message, "References"))
    )
    return parsed


# --- what we know of addresses ----------------------------------------------------------


def _normalize(address: str) -> str:
    return address.strip().strip("<>").lower()


async def address_status(session: AsyncSession, address: str | None) -> MailAddress | None:
    """Bounce counts and deliverability of an address (None: nothing ever bounced)."""
    if not address:
        return None
    return await session.scalar(select(MailAddress).where(MailAddress.address == _normalize(address)))


async def is_deliverable(session: AsyncSession, address: str | None) -> bool:
    status = await address_status(session, address)
    return status is None or status.undeliverable_since is None


async def note_bounce(session: AsyncSession, address: str, *, hard: bool, reason: str | None, threshold: int,
                      outbox_id: int | None = None, at: datetime | None = None) -> MailAddress:
    """Count one bounce for ``address``; hard bounces reaching ``threshold`` make it undeliverable."""
    address = _normalize(address)
    query = select(MailAddress).where(MailAddress.address == address).with_for_update()
    row = await session.scalar(query)
    if row is None:
        try:
            async with session.begin_nested():
                row = MailAddress(address=address, hard_bounces=0, soft_bounces=0)
                session.add(row)
                await session.flush()
        except IntegrityError:  # created at the same moment by another process
            row = await session.scalar(query)
            assert row is not None
    at = at or datetime.now(UTC)
    if hard:
        row.hard_bounces += 1
    else:
        row.soft_bounces += 1
    row.last_bounce_at = at
    row.last_bounce_reason = (reason or "")[:MAX_REASON] or None
    if hard and row.undeliverable_since is None and row.hard_bounces >= max(1, threshold):
        row.undeliverable_since = at
        log.warning("address %s is now undeliverable after %s hard bounces (last: %s; outbox %s)",
                    address, row.hard_bounces, reason, outbox_id)
    await session.flush()
    return row


async def reinstate_address(session: AsyncSession, address: str) -> MailAddress | None:
    """Allow sending to an address again (a librarian confirmed it was fixed); counts start over."""
    row = await address_status(session, address)
    if row is None:
        return None
    row.undeliverable_since = None
    row.hard_bounces = 0
    row.soft_bounces = 0
    await session.flush()
    return row


# --- storing inbound mail ---------------------------------------------------------------


def _dedupe_key(raw: bytes, message_id: str | None) -> str:
    """The Message-ID, or for a message without one an id made from its content (for redelivery)."""
    if message_id:
        return message_id[:998]
    return f"<sha256-{hashlib.sha256(raw).hexdigest()[:40]}@inbound.invalid>"


async def _outbox_by_message_ids(session: AsyncSession, ids: tuple[str, ...]) -> OutboxMessage | None:
    if not ids:
        return None
    return await session.scalar(
        select(OutboxMessage).where(OutboxMessage.message_id.in_(list(ids))).order_by(OutboxMessage.id.desc()).limit(1)
    )


async def record_inbound(session: AsyncSession, raw: bytes, rcpt_to: list[str], settings: Settings) -> InboundMessage:
    """Store one received message (once per Message-ID) and count a verified bounce; caller commits."""
    parsed = parse_inbound(raw, rcpt_to, settings)
    key = _dedupe_key(raw, parsed.message_id)
    existing = await session.scalar(select(InboundMessage).where(InboundMessage.message_id == key).limit(1))
    if existing is not None:
        return existing

    outbox: OutboxMessage | None = None
    trusted = False
    if parsed.verp_outbox_id is not None:
        outbox = await session.get(OutboxMessage, parsed.verp_outbox_id)
        trusted = outbox is not None
    elif parsed.verp_tampered:
        log.warning("inbound message %s names an outbox row with a wrong signature: stored, nothing else", key)
    else:
        # Only a signed return path may count a bounce against an address; a message that merely
        # quotes one of our Message-IDs (a reply, or a report sent elsewhere) is linked for the record.
        outbox = await _outbox_by_message_ids(session, parsed.referenced_ids)
    kind = parsed.kind
    if kind == "other" and outbox is not None and not parsed.automatic:
        kind = "reply"
    trusted = trusted and kind == "bounce"
    recipient = parsed.bounce_recipient
    if trusted and outbox is not None:
        recipient = outbox.recipient or recipient  # the address we sent to is the one to count
    row = InboundMessage(
        received_at=datetime.now(UTC), message_id=key, kind=kind, outbox_id=outbox.id if outbox else None,
        sender=parsed.sender, subject=parsed.subject, bounce_recipient=(recipient or None) and recipient[:320],
        bounce_status=parsed.bounce_status, bounce_reason=parsed.bounce_reason, raw=raw,
    )
    session.add(row)
    await session.flush()
    if trusted and recipient and parsed.hard is not None:
        reason = " ".join(part for part in (parsed.bounce_status, parsed.bounce_reason) if part)
        await note_bounce(session, recipient, hard=parsed.hard, reason=reason,
                          threshold=settings.mail.bounce_threshold, outbox_id=outbox.id if outbox else None,
                          at=row.received_at)
    return row
