"""The sender against a real aiosmtpd server on 127.0.0.1: retries, failures, outages, reuse, claims."""

import asyncio
import dataclasses
import socket
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from crm import db
from crm.mail.models import MailAddress, OutboxMessage
from crm.mail.outbox import enqueue, format_address
from crm.mail.sender import (
    BASE_RETRY,
    MAX_RETRY_DELAY,
    MAX_SEND_ATTEMPTS,
    cancel_message,
    retry_delay,
    retry_message,
    send_queued,
)
from crm.mail.transport import SmtpTransport
from crm.mail.verp import outbox_id_from_verp
from tests.conftest import PG_URL
from tests.mail.smtp_server import ScriptedHandler, start_server

RETURN_PATH = "bounces@thuvien.demo.edu.vn"


def mail_settings(settings, port: int, connections: int = 2, **changes):
    return dataclasses.replace(settings, mail=dataclasses.replace(
        settings.mail, host="127.0.0.1", port=port, connections=connections, return_path=RETURN_PATH,
        sender="Thư viện <thu-vien@thuvien.demo.edu.vn>", **changes))


async def queue(session_maker, count: int = 1, kind: str = "digest", start: int = 0) -> list[int]:
    ids = []
    async with session_maker() as s, s.begin():
        for n in range(start, start + count):
            row = await enqueue(
                s, key=f"digest:{n}:1:2026-11", kind=kind, sender="Thư viện <thu-vien@thuvien.demo.edu.vn>",
                to=format_address(f"Giảng viên {n}", f"gv{n}@demo.edu.vn"),
                subject=f"Thư mục tài liệu mới tháng 11 – số {n}",
                text=f"Kính gửi Thầy/Cô,\nThư viện xin giới thiệu tài liệu mới ({n}).\n",
                html=f"<p>Kính gửi Thầy/Cô, tài liệu mới ({n})</p>",
            )
            ids.append(row.id)
    return ids


async def rows(session_maker) -> list[OutboxMessage]:
    async with session_maker() as s:
        return list(await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def make_due(session_maker) -> None:
    """Time passes: every waiting retry is due now."""
    async with session_maker() as s, s.begin():
        await s.execute(update(OutboxMessage).where(OutboxMessage.status == "queued")
                        .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def smtp():
    server = await start_server()
    yield server
    await server.stop()


async def test_a_message_is_delivered_once_with_its_verp_envelope_and_marked_sent(settings, session_maker, smtp):
    config = mail_settings(settings, smtp.port)
    [outbox_id] = await queue(session_maker)
    report = await send_queued(session_maker, config)
    assert (report.sent, report.retried, report.failed, report.skipped) == (1, 0, 0, 0)

    [received] = smtp.handler.received
    assert received.rcpt_tos == ["gv0@demo.edu.vn"]
    assert outbox_id_from_verp(config, received.mail_from) == outbox_id
    assert received.mail_from.startswith("bounces+o") and received.mail_from.endswith("@thuvien.demo.edu.vn")
    [row] = await rows(session_maker)
    assert received.message_id == row.message_id
    assert "Thư mục tài liệu mới" in received.raw.decode("utf-8", "replace") or b"=?utf-8?" in received.raw
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
    assert row.claimed_until is None and row.last_error is None

    # Nothing more is due: a second pass sends nothing.
    assert (await send_queued(session_maker, config)).total == 0
    assert len(smtp.handler.received) == 1


async def test_451_then_250_is_retried_with_backoff_and_delivered_once(settings, session_maker, smtp):
    config = mail_settings(settings, smtp.port)
    smtp.handler.data_replies = ["451 4.3.0 Mail server temporarily rejected message"]
    await queue(session_maker)

    before = datetime.now(UTC)
    report = await send_queued(session_maker, config)
    assert (report.sent, report.retried) == (0, 1)
    [row] = await rows(session_maker)
    assert row.status == "queued" and row.attempts == 1
    assert row.last_error == "451 4.3.0 Mail server temporarily rejected message"
    assert before + BASE_RETRY - timedelta(seconds=1) <= row.next_attempt_at <= datetime.now(UTC) + BASE_RETRY
    # Not due yet: a pass now leaves it alone.
    assert (await send_queued(session_maker, config)).total == 0

    await make_due(session_maker)
    report = await send_queued(session_maker, config)
    assert report.sent == 1
    [row] = await rows(session_maker)
    assert row.status == "sent" and row.attempts == 2
    assert len(smtp.handler.received) == 1 and smtp.handler.data_commands == 2


async def test_550_fails_at_once_with_the_servers_reply_and_is_not_retried(settings, session_maker, smtp, client, librarian):
    config = mail_settings(settings, smtp.port)
    smtp.handler.rcpt_replies["gv0@demo.edu.vn"] = "550 5.1.1 <gv0@demo.edu.vn>: Recipient address rejected: User unknown"
    [outbox_id] = await queue(session_maker)

    report = await send_queued(session_maker, config)
    assert (report.sent, report.failed, report.retried) == (0, 1, 0)
    [row] = await rows(session_maker)
    assert row.status == "failed" and row.attempts == 1
    assert row.last_error == "550 5.1.1 <gv0@demo.edu.vn>: Recipient address rejected: User unknown"
    await make_due(session_maker)
    assert (await send_queued(session_maker, config)).total == 0
    assert smtp.handler.received == []

    # A refused recipient counts as a hard bounce of the address.
    async with session_maker() as s:
        address = await s.scalar(select(MailAddress).where(MailAddress.address == "gv0@demo.edu.vn"))
    assert address.hard_bounces == 1 and "User unknown" in address.last_bounce_reason

    # The librarian sees the reason on the outbox pages.
    page = await client.get("/outbox", params={"status": "failed"})
    assert page.status_code == 200 and "Recipient address rejected: User unknown" in page.text
    detail = await client.get(f"/outbox/{outbox_id}")
    assert "550 5.1.1 &lt;gv0@demo.edu.vn&gt;: Recipient address rejected: User unknown" in detail.text


async def test_a_5xx_reply_to_data_fails_the_message_without_counting_a_bounce(settings, session_maker, smtp):
    config = mail_settings(settings, smtp.port)
    smtp.handler.data_replies = ["554 5.7.1 Message rejected as spam"]
    await queue(session_maker)
    report = await send_queued(session_maker, config)
    assert report.failed == 1
    [row] = await rows(session_maker)
    assert row.status == "failed" and row.last_error == "554 5.7.1 Message rejected as spam"
    async with session_maker() as s:
        assert await s.scalar(select(MailAddress)) is None


async def test_server_down_stays_queued_with_backoff_and_is_delivered_once_it_is_back(settings, session_maker):
    port = free_port()
    config = mail_settings(settings, port, connections=3)
    await queue(session_maker, 5)

    report = await send_queued(session_maker, config)
    assert report.sent == 0 and report.stopped and "Cannot connect" in report.stopped
    states = await rows(session_maker)
    assert all(r.status == "queued" and r.claimed_until is None for r in states)
    attempted = [r for r in states if r.attempts]
    # Each session tried once and stopped: the other messages keep their turn and their attempts.
    assert 1 <= len(attempted) <= 3
    assert all("Cannot connect to SMTP server 127.0.0.1" in r.last_error for r in attempted)
    assert all(r.next_attempt_at > datetime.now(UTC) + BASE_RETRY / 2 for r in attempted)

    server = await start_server(port=port)
    try:
        await make_due(session_maker)
        report = await send_queued(session_maker, config)
        assert report.sent == 5 and report.stopped is None
        assert sorted(r.rcpt_tos[0] for r in server.handler.received) == [f"gv{n}@demo.edu.vn" for n in range(5)]
        assert len(set(server.handler.message_ids())) == 5
        assert all(r.status == "sent" for r in await rows(session_maker))
    finally:
        await server.stop()


async def test_a_disconnect_in_the_middle_of_data_is_retried_and_delivered_once(settings, session_maker, smtp):
    config = mail_settings(settings, smtp.port, connections=1)
    smtp.handler.disconnect_in_data = 1
    await queue(session_maker, 3)

    report = await send_queued(session_maker, config)
    # The cut message waits for its retry; the session is replaced and the others go out.
    assert (report.sent, report.retried) == (2, 1)
    [cut] = [r for r in await rows(session_maker) if r.status == "queued"]
    assert "connection failed during DATA" in cut.last_error and cut.attempts == 1

    await make_due(session_maker)
    assert (await send_queued(session_maker, config)).sent == 1
    assert sorted(r.rcpt_tos[0] for r in smtp.handler.received) == [f"gv{n}@demo.edu.vn" for n in range(3)]
    assert smtp.handler.sessions == 3  # the first, its replacement, and the retry's pass


async def test_sessions_are_reused_for_many_messages(settings, session_maker, smtp):
    config = mail_settings(settings, smtp.port, connections=3)
    await queue(session_maker, 40)
    transport = SmtpTransport(config.mail)
    try:
        report = await send_queued(session_maker, config, transport=transport)
    finally:
        await transport.close()
    assert report.sent == 40
    assert smtp.handler.sessions <= 3 and transport.sessions_opened == smtp.handler.sessions
    assert len(smtp.handler.received) == 40 and len(set(smtp.handler.message_ids())) == 40


async def test_a_pooled_session_closed_by_the_server_is_replaced_without_a_failure(settings, session_maker, smtp):
    config = mail_settings(settings, smtp.port, connections=1)
    transport = SmtpTransport(config.mail)
    try:
        await queue(session_maker, 1)
        assert (await send_queued(session_maker, config, transport=transport)).sent == 1
        for server_side in smtp.handler.transports:  # the server drops idle sessions
            server_side.close()
        await asyncio.sleep(0.05)
        await queue(session_maker, 1, start=1)
        report = await send_queued(session_maker, config, transport=transport)
        assert (report.sent, report.retried) == (1, 0)
    finally:
        await transport.close()
    assert smtp.handler.sessions == 2


async def test_limit_caps_one_pass(settings, session_maker, smtp):
    config = mail_settings(settings, smtp.port)
    await queue(session_maker, 7)
    assert (await send_queued(session_maker, config, limit=3)).sent == 3
    assert (await send_queued(session_maker, config)).sent == 4


async def test_undeliverable_addresses_are_skipped(settings, session_maker, smtp, factory):
    config = mail_settings(settings, smtp.port)
    await factory.add(MailAddress(address="gv1@demo.edu.vn", hard_bounces=3, soft_bounces=0,
                                  undeliverable_since=datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
                                  last_bounce_reason="5.1.1 User unknown"))
    await queue(session_maker, 3)
    report = await send_queued(session_maker, config)
    assert (report.sent, report.skipped) == (2, 1)
    skipped = [r for r in await rows(session_maker) if r.recipient == "gv1@demo.edu.vn"][0]
    assert skipped.status == "failed" and skipped.last_error.startswith("Address undeliverable since 2026-11-20")
    assert "gv1@demo.edu.vn" not in [r.rcpt_tos[0] for r in smtp.handler.received]

    async with session_maker() as s, s.begin():
        with pytest.raises(Exception) as refused:
            await retry_message(s, skipped.id)
    assert refused.value.status_code == 409 and "recipient" in refused.value.errors


async def test_the_message_is_stored_apart_and_a_row_without_it_fails_instead_of_sending_nothing(
        settings, session_maker, smtp):
    from sqlalchemy import delete

    from crm.mail.models import outbox_body

    config = mail_settings(settings, smtp.port)
    first, second = await queue(session_maker, 2)
    async with session_maker() as s:
        stored = dict((await s.execute(select(outbox_body.c.outbox_id, outbox_body.c.raw))).all())
    assert set(stored) == {first, second} and b"Message-ID:" in stored[first]
    async with session_maker() as s, s.begin():
        await s.execute(delete(outbox_body).where(outbox_body.c.outbox_id == second))
    report = await send_queued(session_maker, config)
    assert (report.sent, report.failed) == (1, 1)
    assert [r.rcpt_tos for r in smtp.handler.received] == [["gv0@demo.edu.vn"]]
    failed = (await rows(session_maker))[1]
    assert failed.status == "failed" and failed.last_error == "The message itself is missing from the outbox"
    async with session_maker() as s, s.begin():  # deleting a row deletes its message
        await s.execute(delete(OutboxMessage).where(OutboxMessage.id == first))
    async with session_maker() as s:
        assert (await s.execute(select(outbox_body.c.outbox_id))).all() == []


async def test_after_the_last_attempt_a_message_fails_with_the_last_error(settings, session_maker, smtp):
    config = mail_settings(settings, smtp.port)
    smtp.handler.data_replies = ["452 4.2.2 Mailbox full"] * MAX_SEND_ATTEMPTS
    await queue(session_maker)
    for attempt in range(1, MAX_SEND_ATTEMPTS + 1):
        await make_due(session_maker)
        await send_queued(session_maker, config)
        [row] = await rows(session_maker)
        assert row.attempts == attempt
    assert row.status == "failed"
    assert row.last_error == f"Gave up after {MAX_SEND_ATTEMPTS} attempts. Last error: 452 4.2.2 Mailbox full"
    assert smtp.handler.received == []


def test_backoff_doubles_and_is_capped():
    assert [retry_delay(n) for n in (1, 2, 3)] == [BASE_RETRY, BASE_RETRY * 2, BASE_RETRY * 4]
    assert retry_delay(30) == MAX_RETRY_DELAY


async def test_a_crashed_senders_lease_is_taken_over_after_it_runs_out(settings, session_maker, smtp):
    config = mail_settings(settings, smtp.port)
    await queue(session_maker, 2)
    async with session_maker() as s, s.begin():  # a sender claimed both, then died
        await s.execute(update(OutboxMessage).values(status="sending",
                                                     claimed_until=datetime.now(UTC) + timedelta(minutes=3)))
    assert (await send_queued(session_maker, config)).total == 0
    async with session_maker() as s, s.begin():
        await s.execute(update(OutboxMessage).values(claimed_until=datetime.now(UTC) - timedelta(seconds=1)))
    assert (await send_queued(session_maker, config)).sent == 2
    assert len(smtp.handler.received) == 2


async def test_retry_and_cancel_rules(settings, session_maker, smtp):
    config = mail_settings(settings, smtp.port)
    smtp.handler.data_replies = ["554 5.6.0 Content refused"]
    first, second = await queue(session_maker, 2)
    async with session_maker() as s, s.begin():
        assert (await cancel_message(s, second)).status == "cancelled"
    await send_queued(session_maker, config)
    async with session_maker() as s, s.begin():
        failed = await s.get(OutboxMessage, first)
        assert failed.status == "failed"
        again = await retry_message(s, first)
        assert again.status == "queued" and again.attempts == 0
        assert await retry_message(s, 10**9) is None
    assert (await send_queued(session_maker, config)).sent == 1
    async with session_maker() as s, s.begin():
        with pytest.raises(Exception) as sent_already:
            await retry_message(s, first)
        assert sent_already.value.status_code == 409
        with pytest.raises(Exception) as not_queued:
            await cancel_message(s, first)
        assert not_queued.value.status_code == 409
        resumed = await retry_message(s, second)  # a cancelled message can be queued again
        assert resumed.status == "queued"


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="SKIP LOCKED needs PostgreSQL (CRM_TEST_DATABASE_URL)")
async def test_two_senders_at_once_never_send_a_row_twice(settings, session_maker):
    handler = ScriptedHandler(delay=0.01)
    server = await start_server(handler)
    config = mail_settings(settings, server.port, connections=3)
    await queue(session_maker, 90)
    engines = [create_async_engine(settings.database.url, poolclass=NullPool) for _ in range(2)]
    try:
        reports = await asyncio.gather(*(send_queued(db.session_maker(e), config, worker_id=f"w{n}")
                                         for n, e in enumerate(engines)))
    finally:
        for engine in engines:
            await engine.dispose()
        await server.stop()
    assert sum(r.sent for r in reports) == 90
    assert all(r.sent > 0 for r in reports), [r.sent for r in reports]
    ids = handler.message_ids()
    assert len(ids) == 90 and len(set(ids)) == 90
    assert all(r.status == "sent" and r.attempts == 1 for r in await rows(session_maker))
