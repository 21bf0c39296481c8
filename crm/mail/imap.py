"""Reading bounces and replies from the return-path mailbox over IMAP (production).

In production the return path (``CRM_MAIL_RETURN_PATH``, e.g. ``bounces@lib.edu.vn``, with
``+tag`` addresses delivered to it) is an ordinary mailbox. The inbound job reads its unseen
messages with the standard library's imaplib in a worker thread (it blocks), records each with
crm.mail.bounces.record_inbound, and marks it seen only once it is stored: a crash in between
means the message is read again next time, and record_inbound ignores a Message-ID it already has.
"""

import asyncio
import imaplib
import logging
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import async_sessionmaker

from crm.mail.bounces import record_inbound
from crm.settings import MailSettings, Settings

log = logging.getLogger("crm.mail.imap")

#: Messages read per run (the job runs every few minutes; a backlog drains over a few runs).
FETCH_BATCH = 200
#: Seconds an IMAP command may take.
IMAP_TIMEOUT = 60
#: The plain IMAP port, where STARTTLS is required; any other port is spoken to over TLS.
STARTTLS_PORT = 143

_UID = re.compile(rb"\bUID (\d+)")


@dataclass
class InboundReport:
    read: int = 0
    bounces: int = 0
    replies: int = 0
    other: int = 0
    errors: int = 0

    def __str__(self) -> str:
        return (f"read {self.read}: {self.bounces} bounce(s), {self.replies} reply(ies), {self.other} other, "
                f"{self.errors} error(s)")


def parse_search(data: list[bytes | None]) -> list[bytes]:
    """UIDs from the answer to ``UID SEARCH`` (``[b'4 7 9']``), in order."""
    uids: list[bytes] = []
    for chunk in data:
        if chunk:
            uids.extend(uid for uid in chunk.split() if uid.isdigit())
    return uids


def parse_fetch(data: list) -> list[tuple[bytes, bytes]]:
    """(uid, message) pairs from the answer to ``UID FETCH … (BODY.PEEK[])``.

    imaplib gives a list mixing ``(b'1 (UID 7 BODY[] {1234}', b'<message>')`` tuples and the
    closing ``b')'`` (which may itself carry ``UID 7`` when the server sends it after the body).
    """
    found: list[tuple[bytes, bytes]] = []
    pending: bytes | None = None
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            head, body = item
            match = _UID.search(head or b"")
            if match:
                found.append((match.group(1), body))
            else:
                pending = body
        elif isinstance(item, bytes) and pending is not None:
            match = _UID.search(item)
            if match:
                found.append((match.group(1), pending))
            pending = None
    return found


class Mailbox(Protocol):
    def unseen(self, limit: int) -> list[tuple[bytes, bytes]]: ...

    def mark_seen(self, uids: list[bytes]) -> None: ...

    def close(self) -> None: ...


class ImapMailbox:
    """A logged-in IMAP session on the configured folder (blocking: use it from a thread)."""

    def __init__(self, mail: MailSettings, context: ssl.SSLContext | None = None) -> None:
        if not mail.imap_host:
            raise ValueError("CRM_IMAP_HOST is not set")
        context = context or ssl.create_default_context()
        if mail.imap_port == STARTTLS_PORT:
            self.imap: imaplib.IMAP4 = imaplib.IMAP4(mail.imap_host, mail.imap_port, timeout=IMAP_TIMEOUT)
            self.imap.starttls(ssl_context=context)
        else:
            self.imap = imaplib.IMAP4_SSL(mail.imap_host, mail.imap_port, ssl_context=context, timeout=IMAP_TIMEOUT)
        try:
            self.imap.login(mail.imap_user or "", mail.imap_password or "")
            status, data = self.imap.select(_quote(mail.imap_folder))
            if status != "OK":
                raise imaplib.IMAP4.error(f"cannot open folder {mail.imap_folder!r}: {data!r}")
        except Exception:
            self.close()
            raise

    def unseen(self, limit: int) -> list[tuple[bytes, bytes]]:
        status, data = self.imap.uid("SEARCH", None, "UNSEEN")
        if status != "OK":
            raise imaplib.IMAP4.error(f"UID SEARCH failed: {data!r}")
        uids = parse_search(data)[:limit]
        if not uids:
            return []
        # BODY.PEEK leaves the message unseen until it is stored on our side.
        status, data = self.imap.uid("FETCH", b",".join(uids).decode(), "(UID BODY.PEEK[])")
        if status != "OK":
            raise imaplib.IMAP4.error(f"UID FETCH failed: {data!r}")
        return parse_fetch(data)

    def mark_seen(self, uids: list[bytes]) -> None:
        if uids:
            self.imap.uid("STORE", b",".join(uids).decode(), "+FLAGS.SILENT", r"(\Seen)")

    def close(self) -> None:
        try:
            if self.imap.state == "SELECTED":
                self.imap.close()
            self.imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


def _quote(folder: str) -> str:
    """A folder name as an IMAP quoted string (names with spaces, such as "Bounce reports")."""
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def fetch_inbound(session_maker: async_sessionmaker, settings: Settings, *,
                        mailbox: Callable[[MailSettings], Mailbox] = ImapMailbox,
                        limit: int = FETCH_BATCH) -> InboundReport:
    """Read the unseen messages of the IMAP mailbox into inbound_mail; nothing to do without imap_host."""
    report = InboundReport()
    if not settings.mail.imap_host:
        return report
    box = await asyncio.to_thread(mailbox, settings.mail)
    try:
        messages = await asyncio.to_thread(box.unseen, limit)
        stored: list[bytes] = []
        for uid, raw in messages:
            report.read += 1
            try:
                async with session_maker() as session, session.begin():
                    row = await record_inbound(session, raw, [], settings)
            except Exception:
                log.exception("inbound message UID %s could not be stored; it stays unseen for the next run",
                              uid.decode(errors="replace"))
                report.errors += 1
                continue
            stored.append(uid)
            if row.kind == "bounce":
                report.bounces += 1
            elif row.kind == "reply":
                report.replies += 1
            else:
                report.other += 1
        await asyncio.to_thread(box.mark_seen, stored)
    finally:
        await asyncio.to_thread(box.close)
    return report
