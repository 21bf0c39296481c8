"""Reading the return-path mailbox over IMAP: the response parsing, and the read → store → mark-seen cycle.

No IMAP server is needed: the parsing is tested on answers shaped as imaplib returns them, and the
cycle with an in-memory mailbox that implements the same three calls as ImapMailbox.
"""

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crm.mail.imap import ImapMailbox, fetch_inbound, parse_fetch, parse_search
from crm.mail.models import InboundMessage, MailAddress
from crm.mail.outbox import enqueue, format_address
from crm.mail.verp import verp_address
from jobs import JobContext, inbound

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_parse_search():
    assert parse_search([b"4 7 19"]) == [b"4", b"7", b"19"]
    assert parse_search([b""]) == [] and parse_search([None]) == []


def test_parse_fetch_with_the_uid_before_or_after_the_literal():
    data = [
        (b"1 (UID 7 BODY[] {11}", b"Subject: a\r\n"),
        b")",
        (b"2 (BODY[] {11}", b"Subject: b\r\n"),
        b" UID 9)",
        (b"3 (UID 12 FLAGS (\\Recent) BODY[] {11}", b"Subject: c\r\n"),
        b")",
    ]
    assert parse_fetch(data) == [(b"7", b"Subject: a\r\n"), (b"9", b"Subject: b\r\n"), (b"12", b"Subject: c\r\n")]
    assert parse_fetch([None]) == [] and parse_fetch([]) == []


@dataclasses.dataclass
class MemoryMailbox:
    """The same calls as ImapMailbox, over a dict of UID → message."""

    messages: dict[bytes, bytes]
    seen: set[bytes] = dataclasses.field(default_factory=set)
    closed: bool = False

    def unseen(self, limit: int) -> list[tuple[bytes, bytes]]:
        return [(uid, raw) for uid, raw in self.messages.items() if uid not in self.seen][:limit]

    def mark_seen(self, uids: list[bytes]) -> None:
        self.seen.update(uids)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def config(settings):
    return dataclasses.replace(settings, mail=dataclasses.replace(
        settings.mail, return_path="bounces@thuvien.demo.edu.vn", imap_host="imap.thuvien.demo.edu.vn",
        imap_user="bounces", imap_password="secret"))


async def test_unseen_messages_are_stored_then_marked_seen_and_never_counted_twice(session_maker, config):
    async with session_maker() as s, s.begin():
        row = await enqueue(s, key="digest:an:1:2026-W47", kind="digest", sender="Thư viện <thu-vien@thuvien.demo.edu.vn>",
                            to=format_address("Nguyễn Văn An", "an.nguyenvan@demo.edu.vn"), subject="Thư mục",
                            text="Kính gửi Thầy An,\n")
    tag = verp_address(config, row.id).split("-", 1)[1].split("@")[0]
    dsn = ((FIXTURES / "dsn_hard.eml").read_text().replace("{OUTBOX_ID}", str(row.id)).replace("{TAG}", tag)
           .replace("{RECIPIENT}", row.recipient).replace("{MESSAGE_ID}", row.message_id)).encode()
    reply = (f"From: an.nguyenvan@demo.edu.vn\r\nTo: thu-vien@thuvien.demo.edu.vn\r\nSubject: Re: Thư mục\r\n"
             f"Message-ID: <r1@demo.edu.vn>\r\nIn-Reply-To: {row.message_id}\r\n\r\nCảm ơn.\r\n").encode()
    box = MemoryMailbox({b"7": dsn, b"9": reply})
    opened = []

    def factory(mail):
        opened.append(mail.imap_host)
        return box

    report = await fetch_inbound(session_maker, config, mailbox=factory)
    assert (report.read, report.bounces, report.replies, report.errors) == (2, 1, 1, 0)
    assert box.seen == {b"7", b"9"} and box.closed and opened == ["imap.thuvien.demo.edu.vn"]

    # The same messages read again (a crash before \Seen was stored): nothing new is counted.
    box.seen.clear()
    again = await fetch_inbound(session_maker, config, mailbox=lambda mail: box)
    assert again.read == 2
    async with session_maker() as s:
        assert await s.scalar(select(func.count()).select_from(InboundMessage)) == 2
        assert (await s.scalar(select(MailAddress.hard_bounces))) == 1


async def test_a_message_that_cannot_be_stored_stays_unseen(session_maker, config, monkeypatch):
    box = MemoryMailbox({b"3": b"Subject: x\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n"})

    async def broken(*args, **kwargs):
        raise RuntimeError("database unavailable")

    monkeypatch.setattr("crm.mail.imap.record_inbound", broken)
    report = await fetch_inbound(session_maker, config, mailbox=lambda mail: box)
    assert report.errors == 1 and box.seen == set() and box.closed


async def test_without_an_imap_host_nothing_is_read(session_maker, settings):
    def never(mail):
        raise AssertionError("no IMAP connection without CRM_IMAP_HOST")

    assert (await fetch_inbound(session_maker, settings, mailbox=never)).read == 0
    assert await inbound.run(JobContext(settings=settings, session_maker=session_maker)) == 0


def test_the_mailbox_needs_a_host(settings):
    with pytest.raises(ValueError):
        ImapMailbox(settings.mail)
