"""Queuing email: every message is built completely and stored as an outbox row (the message
itself in ``outbox_body``, beside it).

Services call :func:`enqueue` inside their own transaction, so the email exists exactly when the
change that caused it is committed. The idempotency key is unique: queuing the same key twice
returns the first row and sends nothing more. The Message-ID is derived from the key, so a
retried delivery carries the same Message-ID and receivers (and our tests) can tell.
"""

import base64
import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.headerregistry import Address
from email.policy import compat32
from email.quoprimime import body_encode
from email.utils import encode_rfc2231, format_datetime, formataddr, getaddresses
from functools import lru_cache

from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from crm.mail.models import OutboxMessage, outbox_body


@dataclass
class Attachment:
    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


@lru_cache(maxsize=256)
def address_domain(address: str) -> str:
    """The domain of an address such as ``Thư viện <thu-vien@lib.edu.vn>`` (``localhost`` if none)."""
    parsed = getaddresses([address])
    email = parsed[0][1] if parsed else ""
    return email.rpartition("@")[2] or "localhost"


def message_id_for(key: str, domain: str) -> str:
    """The Message-ID of the message queued under ``key``: the same key always gives the same id."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
    return f"<{digest}@{domain}>"


#: Headers holding addresses: display names are encoded, the addresses left as they are.
ADDRESS_HEADERS = frozenset({"from", "to", "cc", "reply-to", "sender"})
#: Longest line SMTP carries (RFC 5322 2.1.1, without CRLF): longer body lines are quoted-printable.
MAX_LINE = 998
_LINE_BREAKS = re.compile(r"[\r\n]+")


def _header_value(name: str, value: str) -> str | Header:
    """A header as it goes on the wire: one line (no injected headers), non-ASCII text encoded (RFC 2047)."""
    value = _LINE_BREAKS.sub(" ", str(value)).strip()
    if name.lower() in ADDRESS_HEADERS:
        return ", ".join(formataddr((display, address), charset="utf-8")
                         for display, address in getaddresses([value]) if address)
    if value.isascii():
        return value
    return Header(value, charset="utf-8", header_name=name)


#: RFC 5322's recommended line length: longer header lines are folded.
FOLD_AT = 78
_WHITESPACE = re.compile(r"\s")


def _header_line(name: str, value: str) -> bytes:
    """``Name: value\n`` encoded and folded exactly as the standard library's generator does it."""
    encoded = _header_value(name, value)
    if isinstance(encoded, str):
        if len(name) + 2 + len(encoded) <= FOLD_AT:
            return f"{name}: {encoded}\n".encode("ascii")  # nothing to encode or fold
        if not _WHITESPACE.search(encoded):  # a long link: nowhere to fold, so it goes on a line of its own
            return f"{name}: \n {encoded}\n".encode("ascii")
    return compat32.fold_binary(name, encoded)


@lru_cache(maxsize=4096)
def _repeated_header_line(name: str, value: str) -> bytes:
    """The same, remembered: senders, reply-to librarians and list headers repeat across a run."""
    return _header_line(name, value)


#: Headers whose values repeat from one message to the next (a digest's subject is its count of items).
REPEATED_HEADERS = frozenset({"From", "Reply-To", "Subject", "List-Id", "List-Unsubscribe-Post", "MIME-Version"})


def _boundary() -> str:
    """A random MIME boundary. "=_" never occurs in quoted-printable or base64 text, and 128 random
    bits never in anything else, so the body need not be searched for it."""
    return f"=_{secrets.token_hex(16)}"


def _text_part(content: str, subtype: str) -> tuple[bytes, bytes]:
    """(MIME headers, body) of a UTF-8 text part: 8bit, or quoted-printable when a line is longer than SMTP allows."""
    data = content.replace("\r\n", "\n").replace("\r", "\n")
    encoded = data.encode("utf-8")
    longest = max(map(len, encoded.split(b"\n")), default=0)
    if longest <= MAX_LINE:
        transfer, body = b"8bit", encoded
    else:
        transfer, body = b"quoted-printable", body_encode(encoded.decode("latin-1")).encode("ascii")
    head = b'Content-Type: text/' + subtype.encode("ascii") + b'; charset="utf-8"\nContent-Transfer-Encoding: ' + transfer
    return head + b"\n", body


def _attachment_part(attachment: Attachment) -> tuple[bytes, bytes]:
    maintype, _, subtype = attachment.content_type.partition("/")
    content_type = f"{maintype or 'application'}/{subtype or 'octet-stream'}"
    name = " ".join(attachment.filename.replace("\\", "").replace('"', "").split()) or "attachment"
    filename = f'filename="{name}"' if name.isascii() else f"filename*={encode_rfc2231(name, 'utf-8')}"
    head = (_header_line("Content-Type", content_type) + b"Content-Transfer-Encoding: base64\n"
            + _header_line("Content-Disposition", f"attachment; {filename}"))
    body = base64.encodebytes(attachment.content)
    return head, body[:-1] if not attachment.content.endswith(b"\n") and body.endswith(b"\n") else body


def _multipart(subtype: str, parts: list[tuple[bytes, bytes]]) -> tuple[bytes, bytes]:
    boundary = _boundary().encode("ascii")
    head = b"Content-Type: multipart/" + subtype.encode("ascii") + b'; boundary="' + boundary + b'"\n'
    chunks = []
    for part_head, part_body in parts:
        chunks += [b"--", boundary, b"\n", part_head, b"\n", part_body, b"\n"]
    chunks += [b"--", boundary, b"--\n"]
    return head, b"".join(chunks)


def render_message(*, sender: str, to: str, subject: str, text: str, html: str | None = None,
                   message_id: str, reply_to: str | None = None, headers: dict[str, str] | None = None,
                   attachments: list[Attachment] | None = None, date: datetime | None = None) -> bytes:
    """The message as it is stored and sent: multipart/alternative (text, then HTML) with UTF-8
    headers, in multipart/mixed with the attachments if any; lines end in LF (SMTP clients send CRLF).

    Headers are encoded (RFC 2047, RFC 2231 for file names) and folded by the standard library;
    the MIME tree is written directly instead of through ``email.generator``, which re-splits
    every body line and searched the whole body for the boundary: half the cost of composing
    a digest. Bodies are 8bit UTF-8 (quoted-printable when a line is longer than SMTP allows).
    Tests parse the result with the standard library's parser.
    """
    body = _text_part(text, "plain")
    if html is not None:
        body = _multipart("alternative", [body, _text_part(html, "html")])
    if attachments:
        body = _multipart("mixed", [body, *(_attachment_part(a) for a in attachments)])
    fields = [("From", sender), ("To", to), ("Subject", subject), ("Date", format_datetime(date or datetime.now(UTC))),
              ("Message-ID", message_id)]
    if reply_to:
        fields.append(("Reply-To", reply_to))
    fields.extend((headers or {}).items())
    fields.append(("MIME-Version", "1.0"))
    lines = [_repeated_header_line(name, value) if name in REPEATED_HEADERS else _header_line(name, value)
             for name, value in fields]
    return b"".join(lines) + body[0] + b"\n" + body[1]


@dataclass
class Email:
    """One email to queue (the arguments of :func:`enqueue`); :func:`outbox_row` builds its row."""

    key: str
    kind: str
    sender: str
    to: str
    subject: str
    text: str
    html: str | None = None
    reply_to: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    not_before: datetime | None = None


def outbox_row(email: Email, now: datetime | None = None) -> dict:
    """The outbox row of an email, its message built and serialized (for :func:`enqueue_rows`)."""
    now = now or datetime.now(UTC)
    message_id = message_id_for(email.key, address_domain(email.sender))
    raw = render_message(sender=email.sender, to=email.to, subject=email.subject, text=email.text,
                         html=email.html, message_id=message_id, reply_to=email.reply_to, headers=email.headers,
                         attachments=email.attachments)
    recipient = getaddresses([email.to])[0][1].lower() if email.to else ""
    return {"idempotency_key": email.key, "message_id": message_id, "kind": email.kind, "recipient": recipient,
            "subject": email.subject[:998], "raw": raw, "status": "queued", "attempts": 0,
            "next_attempt_at": email.not_before or now, "created_at": now, "updated_at": now}


#: Keys per IN (…) list when looking for emails queued before.
KEY_CHUNK = 500


async def _queued_ids(session: AsyncSession, keys: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(keys), KEY_CHUNK):
        rows = await session.execute(select(OutboxMessage.idempotency_key, OutboxMessage.id)
                                     .where(OutboxMessage.idempotency_key.in_(keys[start:start + KEY_CHUNK])))
        found.update(rows.tuples().all())
    return found


async def enqueue_rows(session: AsyncSession, rows: Sequence[dict]) -> dict[str, int]:
    """Queue many emails at once, their rows built beforehand with :func:`outbox_row` (outside the
    transaction, say); returns each key's outbox row id.

    The same guarantees as :func:`enqueue` (a key already queued keeps its row; the caller's
    transaction commits the rest) in two statements instead of a round trip per email: one
    lookup of the keys, one multi-row INSERT. If another process queues one of the keys in
    between, the unique key makes this insert fail and the caller's transaction roll back whole,
    so nothing is ever queued twice or half.
    """
    if not rows:
        return {}
    ids = await _queued_ids(session, list(dict.fromkeys(row["idempotency_key"] for row in rows)))
    new = {row["idempotency_key"]: row for row in rows if row["idempotency_key"] not in ids}
    if new:
        table = OutboxMessage.__table__
        returned = await session.execute(insert(table).returning(table.c.idempotency_key, table.c.id),
                                         [_row_values(row) for row in new.values()])
        added = dict(returned.tuples().all())
        await session.execute(insert(outbox_body), [{"outbox_id": added[key], "raw": row["raw"]}
                                                    for key, row in new.items()])
        ids.update(added)
    return ids


def _row_values(row: dict) -> dict:
    """The outbox row's own columns (the message goes to outbox_body)."""
    return {name: value for name, value in row.items() if name != "raw"}


async def enqueue(session: AsyncSession, *, key: str, kind: str, sender: str, to: str, subject: str, text: str,
                  html: str | None = None, reply_to: str | None = None, headers: dict[str, str] | None = None,
                  attachments: list[Attachment] | None = None, not_before: datetime | None = None) -> OutboxMessage:
    """Queue one email under ``key``; an already queued key returns its row unchanged.

    ``to`` is a single address (``Name <a@b>`` or ``a@b``). The caller's transaction commits it.
    """
    values = outbox_row(Email(key=key, kind=kind, sender=sender, to=to, subject=subject, text=text, html=html,
                        reply_to=reply_to, headers=headers or {}, attachments=attachments or [],
                        not_before=not_before), datetime.now(UTC))
    # One statement: a key queued before (or at the same moment by another process) inserts
    # nothing and returns nothing, without an error that would spoil the caller's transaction.
    new_id = await session.scalar(_INSERT, _row_values(values))
    if new_id is None:
        return await session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
    await session.execute(_INSERT_BODY, {"outbox_id": new_id, "raw": values["raw"]})
    # The row is exactly what was inserted: hand it to the session as loaded, without reading it back.
    row = OutboxMessage(id=new_id, claimed_until=None, last_error=None, sent_at=None, **values)
    make_transient_to_detached(row)
    session.add(row)
    return row


#: INSERT … ON CONFLICT DO NOTHING (the same SQL on SQLite and PostgreSQL), written once so its
#: compiled form is cached: SQLAlchemy 2.0 does not cache its dialect-specific ON CONFLICT inserts,
#: and compiling one for every queued message cost more than running it.
_COLUMNS = ("idempotency_key", "message_id", "kind", "recipient", "subject", "status", "attempts",
            "next_attempt_at", "created_at", "updated_at")
_INSERT = (
    text(f"INSERT INTO outbox ({', '.join(_COLUMNS)}) VALUES ({', '.join(':' + c for c in _COLUMNS)}) "
         "ON CONFLICT DO NOTHING RETURNING id")
    .bindparams(*(bindparam(c, type_=OutboxMessage.__table__.c[c].type) for c in _COLUMNS))
    .columns(id=OutboxMessage.__table__.c.id.type)
)
_INSERT_BODY = insert(outbox_body)


def format_address(name: str, email: str) -> str:
    """``"Nguyễn Văn An" <an@…>`` with the name encoded as the standard wants."""
    local, _, domain = email.partition("@")
    return str(Address(display_name=name, username=local, domain=domain))
