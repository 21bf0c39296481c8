"""Bounces and replies: RFC 3464 reports (hard, soft), VERP signatures, thresholds, the contact page."""

import dataclasses
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import func, select

from crm.mail.bounces import address_status, is_deliverable, parse_inbound, record_inbound, reinstate_address
from crm.mail.models import InboundMessage, MailAddress, OutboxMessage, SinkMessage
from crm.mail.outbox import enqueue, format_address
from crm.mail.sink import start_sink
from crm.mail.verp import is_return_path, outbox_id_from_verp, verp_address
from tests.liaison.people import make_contact

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RECIPIENT = "an.nguyenvan@demo.edu.vn"


@pytest.fixture
def config(settings):
    return dataclasses.replace(settings, mail=dataclasses.replace(
        settings.mail, return_path="bounces@thuvien.demo.edu.vn", bounce_threshold=3))


async def queued(session_maker, n: int = 0, recipient: str = RECIPIENT) -> OutboxMessage:
    async with session_maker() as s, s.begin():
        return await enqueue(s, key=f"digest:{recipient}:1:2026-W{n}", kind="digest",
                             sender="Thư viện <thu-vien@thuvien.demo.edu.vn>", to=format_address("Nguyễn Văn An", recipient),
                             subject="Thư mục tài liệu mới", text="Kính gửi Thầy An,\n")


def fixture(name: str, config, row: OutboxMessage, *, tag: str | None = None, message_id: str | None = None) -> bytes:
    """A report from tests/mail/fixtures, addressed to ``row``'s VERP return path."""
    verp = verp_address(config, row.id)
    text = (FIXTURES / name).read_text()
    text = (text.replace("{OUTBOX_ID}", str(row.id)).replace("{TAG}", tag or verp.split("-", 1)[1].split("@")[0])
            .replace("{RECIPIENT}", row.recipient).replace("{MESSAGE_ID}", row.message_id))
    if message_id:
        text = text.replace("Message-Id: <2026", f"Message-Id: <{message_id}-2026", 1)
    return text.replace("\n", "\r\n").encode()


async def record(session_maker, raw: bytes, config, rcpt_to: list[str] | None = None) -> InboundMessage:
    async with session_maker() as s, s.begin():
        return await record_inbound(s, raw, rcpt_to or [], config)


async def status_of(session_maker, address: str = RECIPIENT) -> MailAddress | None:
    async with session_maker() as s:
        return await address_status(s, address)


def test_verp_addresses_round_trip_and_refuse_tampering(config):
    address = verp_address(config, 123)
    assert address.startswith("bounces+o123-") and address.endswith("@thuvien.demo.edu.vn")
    assert outbox_id_from_verp(config, address) == 123
    assert outbox_id_from_verp(config, f"<{address.upper()}>") == 123  # servers may change case
    tag = address.split("-", 1)[1].split("@")[0]
    assert outbox_id_from_verp(config, address.replace("o123-", "o124-")) is None  # another row, same signature
    flipped = tag[:-1] + ("0" if tag[-1] != "0" else "1")
    assert outbox_id_from_verp(config, address.replace(tag, flipped)) is None
    assert outbox_id_from_verp(config, "bounces@thuvien.demo.edu.vn") is None
    assert outbox_id_from_verp(config, address.replace("thuvien.demo.edu.vn", "evil.example")) is None
    other_key = dataclasses.replace(config, secret_key="another-secret-key-of-another-installation-000")
    assert outbox_id_from_verp(other_key, address) is None
    assert is_return_path(config, "Bounces+anything@THUVIEN.demo.edu.vn")
    assert not is_return_path(config, "thu-vien@thuvien.demo.edu.vn")


async def test_a_hard_bounce_dsn_is_recorded_against_the_address_it_was_sent_to(session_maker, config):
    row = await queued(session_maker)
    inbound = await record(session_maker, fixture("dsn_hard.eml", config, row), config)
    assert inbound.kind == "bounce" and inbound.outbox_id == row.id
    assert inbound.bounce_recipient == RECIPIENT and inbound.bounce_status == "5.1.1"
    assert "Recipient address rejected: User unknown in virtual mailbox table" in inbound.bounce_reason
    assert inbound.sender == "MAILER-DAEMON@mx.demo.edu.vn"
    assert inbound.message_id == "<20261123021502.4XyZ1b2C3dz9sQ@mx.demo.edu.vn>"

    status = await status_of(session_maker)
    assert (status.hard_bounces, status.soft_bounces) == (1, 0)
    assert status.last_bounce_reason.startswith("5.1.1 550 5.1.1")
    assert status.undeliverable_since is None  # one hard bounce is below the threshold of 3


async def test_hard_bounces_reaching_the_threshold_make_the_address_undeliverable(session_maker, config):
    for n in range(3):
        row = await queued(session_maker, n)
        await record(session_maker, fixture("dsn_hard.eml", config, row, message_id=f"b{n}"), config)
        async with session_maker() as s:
            assert await is_deliverable(s, RECIPIENT) is (n < 2)
    status = await status_of(session_maker)
    assert status.hard_bounces == 3 and status.undeliverable_since is not None

    async with session_maker() as s, s.begin():
        await reinstate_address(s, RECIPIENT.upper())
    async with session_maker() as s:
        assert await is_deliverable(s, RECIPIENT)
        assert (await address_status(s, RECIPIENT)).hard_bounces == 0


async def test_a_soft_bounce_is_counted_and_never_suppresses(session_maker, config):
    for n in range(5):
        row = await queued(session_maker, n)
        inbound = await record(session_maker, fixture("dsn_soft.eml", config, row, message_id=f"s{n}"), config)
        assert inbound.kind == "bounce" and inbound.bounce_status == "4.2.2"
    status = await status_of(session_maker)
    assert (status.hard_bounces, status.soft_bounces) == (0, 5)
    assert status.undeliverable_since is None and "Mailbox full" in status.last_bounce_reason


async def test_the_same_report_twice_is_stored_and_counted_once(session_maker, config):
    row = await queued(session_maker)
    raw = fixture("dsn_hard.eml", config, row)
    first = await record(session_maker, raw, config)
    again = await record(session_maker, raw, config)
    assert again.id == first.id
    async with session_maker() as s:
        assert await s.scalar(select(func.count()).select_from(InboundMessage)) == 1
    assert (await status_of(session_maker)).hard_bounces == 1


async def test_a_tampered_verp_tag_is_stored_but_counts_nothing(session_maker, config):
    row = await queued(session_maker)
    victim = await queued(session_maker, 9, recipient="lan.tranthi@demo.edu.vn")
    # Someone forges a report naming another row, reusing the signature of the first.
    raw = fixture("dsn_hard.eml", config, row).replace(f"+o{row.id}-".encode(), f"+o{victim.id}-".encode())
    inbound = await record(session_maker, raw, config)
    assert inbound.kind == "bounce" and inbound.outbox_id is None
    async with session_maker() as s:
        assert await s.scalar(select(func.count()).select_from(MailAddress)) == 0
    # A signature that is simply wrong is refused the same way.
    raw = fixture("dsn_hard.eml", config, row, tag="deadbeef", message_id="forged")
    assert (await record(session_maker, raw, config)).outbox_id is None
    assert await status_of(session_maker) is None


async def test_a_non_standard_bounce_is_recognised_by_flufl_bounce(session_maker, config):
    row = await queued(session_maker)
    inbound = await record(session_maker, fixture("exim_bounce.eml", config, row), config)
    assert inbound.kind == "bounce" and inbound.outbox_id == row.id and inbound.bounce_status == "5.0.0"
    assert (await status_of(session_maker)).hard_bounces == 1


def _reply(config, *, in_reply_to: str | None = None, to: str = "thu-vien@thuvien.demo.edu.vn",
           auto: bool = False, message_id: str = "<reply-1@demo.edu.vn>") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Nguyễn Văn An <{RECIPIENT}>"
    msg["To"] = to
    msg["Subject"] = "Re: Thư mục tài liệu mới"
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    if auto:
        msg["Auto-Submitted"] = "auto-replied"
    msg.set_content("Cảm ơn thư viện, tôi muốn mượn cuốn thứ hai.\n" if not auto else "Tôi đang đi công tác đến 30/11.\n")
    return msg.as_bytes()


async def test_replies_are_linked_to_what_they_answer(session_maker, config):
    row = await queued(session_maker)
    reply = await record(session_maker, _reply(config, in_reply_to=row.message_id), config)
    assert reply.kind == "reply" and reply.outbox_id == row.id and reply.sender == RECIPIENT
    assert reply.subject == "Re: Thư mục tài liệu mới" and reply.consumed_at is None

    # Sent to the VERP address (some clients answer the envelope sender): a reply too.
    verp = verp_address(config, row.id)
    direct = await record(session_maker, _reply(config, to=verp, message_id="<reply-2@demo.edu.vn>"), config, [verp])
    assert direct.kind == "reply" and direct.outbox_id == row.id

    # An out-of-office answer is linked but not a reply a librarian must follow up.
    auto = await record(session_maker, _reply(config, to=verp, auto=True, message_id="<ooo@demo.edu.vn>"), config, [verp])
    assert auto.kind == "other" and auto.outbox_id == row.id

    unrelated = await record(session_maker, _reply(config, in_reply_to="<unknown@elsewhere>",
                                                   message_id="<reply-3@demo.edu.vn>"), config)
    assert unrelated.kind == "other" and unrelated.outbox_id is None
    assert await status_of(session_maker) is None  # replies are not bounces


def test_malformed_and_success_reports_are_other(config):
    assert parse_inbound(b"\x00\xff garbage without headers", [], config).kind == "other"
    success = (FIXTURES / "dsn_hard.eml").read_text().replace("Action: failed", "Action: delivered") \
        .replace("Status: 5.1.1", "Status: 2.0.0")
    parsed = parse_inbound(success.encode(), [], config)
    assert parsed.kind == "other" and parsed.hard is None


async def test_the_embedded_sink_records_bounces_sent_to_the_return_path(settings, session_maker, config):
    sink_settings = dataclasses.replace(config, mail=dataclasses.replace(config.mail, port=0, embedded_sink=True))
    sink = await start_sink(sink_settings, session_maker)
    try:
        row = await queued(session_maker)
        raw = fixture("dsn_hard.eml", config, row)
        verp = verp_address(config, row.id)
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, timeout=10) as smtp:
            await smtp.sendmail("", [verp], raw)  # the null reverse-path of a bounce
        # Ordinary mail through the sink is not inbound mail.
        await aiosmtplib.send(_reply(config, in_reply_to=row.message_id), sender="thu-vien@thuvien.demo.edu.vn",
                              recipients=["lan.tranthi@demo.edu.vn"], hostname="127.0.0.1", port=sink.port, timeout=10)
    finally:
        await sink.stop()
    async with session_maker() as s:
        assert await s.scalar(select(func.count()).select_from(SinkMessage)) == 2  # both readable at /mailbox
        [inbound] = list(await s.scalars(select(InboundMessage)))
    assert inbound.kind == "bounce" and inbound.outbox_id == row.id
    assert (await status_of(session_maker)).hard_bounces == 1


async def test_the_contact_page_shows_bounces_and_an_undeliverable_address(session_maker, config, client, librarian, factory):
    contact = await make_contact(factory, "Nguyễn Văn An", RECIPIENT)
    page = await client.get(f"/contacts/{contact.id}")
    assert page.status_code == 200 and "mail-bounced" not in page.text and "mail-undeliverable" not in page.text

    row = await queued(session_maker, 0)
    await record(session_maker, fixture("dsn_soft.eml", config, row), config)
    page = await client.get(f"/contacts/{contact.id}")
    assert "mail-bounced" in page.text and "Mailbox full" in page.text
    assert "1 lần thư bị trả lại" in page.text

    for n in range(1, 4):
        row = await queued(session_maker, n)
        await record(session_maker, fixture("dsn_hard.eml", config, row, message_id=f"h{n}"), config)
    page = await client.get(f"/contacts/{contact.id}")
    assert "Địa chỉ không gửi được" in page.text and "mail-undeliverable" in page.text
    assert "User unknown in virtual mailbox table" in page.text
