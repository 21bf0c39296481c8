"""The local SMTP sink: an aiosmtpd server in the app's own event loop that keeps what it receives.

In embedded mode every email the product sends lands here instead of in real inboxes, and a
librarian reads it at ``/mailbox``. It listens on loopback only, accepts any sender and recipient,
and never relays. Mail for the return path (bounces, replies to a VERP address) is also handed
to crm.mail.bounces in the same transaction, as the IMAP reader does in production.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesHeaderParser

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm.db import writing
from crm.mail.bounces import record_inbound
from crm.mail.models import SinkMessage
from crm.mail.verp import is_return_path
from crm.settings import Settings
from crm.text import nfc

log = logging.getLogger("crm.mail.sink")

#: Received messages older than this are deleted by the housekeeping job.
SINK_RETENTION = timedelta(days=30)
#: Larger messages are refused with 552 (a digest with a few attachments stays far below).
MAX_MESSAGE_BYTES = 25 * 1024 * 1024
#: Column limits of SinkMessage.
_ADDRESS_MAX = 320
_HEADER_MAX = 998


def _clip(value: str | None, limit: int) -> str | None:
    return value[:limit] if value else value


def envelope_headers(raw: bytes) -> tuple[str, str | None]:
    """(decoded Subject, Message-ID) of a raw message; malformed headers give empty values."""
    headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
    values: list[str | None] = []
    for name in ("Subject", "Message-ID"):
        try:
            value = headers.get(name)
            values.append(nfc(" ".join(str(value).split())) if value is not None else None)
        except Exception:  # a header the parser cannot decode must not lose the message
            values.append(None)
    return values[0] or "", values[1]


async def store_message(session_maker: async_sessionmaker, mail_from: str, recipients: list[str], raw: bytes,
                        settings: Settings | None = None) -> int:
    """Keep one received message; returns its id. With ``settings``, inbound mail is recorded too."""
    subject, message_id = envelope_headers(raw)
    row = SinkMessage(
        received_at=datetime.now(UTC),
        mail_from=_clip(mail_from, _ADDRESS_MAX) or "",
        rcpt_to=", ".join(recipients),
        subject=_clip(subject, _HEADER_MAX) or "",
        message_id=_clip(message_id, _HEADER_MAX),
        raw=raw,
    )
    with writing():  # it may read (bounces, replies) before it writes: take the SQLite write lock first
        async with session_maker() as session, session.begin():
            session.add(row)
            if settings is not None and any(is_return_path(settings, r) for r in recipients):
                await record_inbound(session, raw, recipients, settings)
    return row.id


class SinkHandler:
    """aiosmtpd handler: store every message, answer 451 (try later) if the database fails."""

    def __init__(self, session_maker: async_sessionmaker, settings: Settings | None = None) -> None:
        self.session_maker = session_maker
        self.settings = settings

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or (
            envelope.content if isinstance(envelope.content, bytes) else str(envelope.content or "").encode()
        )
        try:
            message_id = await store_message(
                self.session_maker, envelope.mail_from or "", list(envelope.rcpt_tos), raw, self.settings
            )
        except Exception:
            log.exception("the mail sink could not store a message from %s", envelope.mail_from)
            return "451 Requested action aborted: local error in processing"
        log.info("mail sink: stored message %s for %s", message_id, ", ".join(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@dataclass
class SmtpSink:
    server: asyncio.Server
    host: str

    @property
    def port(self) -> int:
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.server.close()
        try:
            await asyncio.wait_for(self.server.wait_closed(), timeout=5)
        except TimeoutError:
            log.warning("mail sink: connections still open at shutdown")


async def start_sink(settings: Settings, session_maker: async_sessionmaker) -> SmtpSink | None:
    """Listen on ``settings.mail.host:port``; ``None`` (with a warning) when the port is taken."""
    loop = asyncio.get_running_loop()
    # aiosmtpd traces every SMTP command at INFO; our own log line per stored message is enough.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    handler = SinkHandler(session_maker, settings)
    host, port = settings.mail.host, settings.mail.port

    def protocol() -> SMTP:
        return SMTP(
            handler,
            hostname="crm-mail-sink",
            data_size_limit=MAX_MESSAGE_BYTES,
            enable_SMTPUTF8=True,
            loop=loop,
        )

    try:
        server = await loop.create_server(protocol, host=host, port=port)
    except OSError as exc:
        log.warning(
            "The local mail sink could not listen on %s:%s (%s). Mail sent by the application will not be "
            "caught; stop whatever uses that port or set CRM_SMTP_PORT to a free one.",
            host, port, exc.strerror or exc,
        )
        return None
    sink = SmtpSink(server=server, host=host)
    log.info("mail sink listening on smtp://%s:%s", host, sink.port)
    return sink
