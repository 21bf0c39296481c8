"""The local SMTP sink stores what a real SMTP client sends; librarians read it at /mailbox."""

import asyncio
import dataclasses
import logging
import socket
from email.message import EmailMessage

import aiosmtplib
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from crm.mail.models import SinkMessage
from crm.mail.sink import start_sink
from tests.conftest import bearer

SUBJECT = "Thư mục tài liệu mới tháng 11 – Khoa Thông tin – Thư viện"
SCRIPT = '<script>alert("xss")</script>'


def _with_sink(settings, port=0, **changes):
    return dataclasses.replace(settings, mail=dataclasses.replace(settings.mail, port=port, embedded_sink=True), **changes)


def _message(to="an.nguyenvan@demo.edu.vn", subject=SUBJECT) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Thư viện <thu-vien@demo.edu.vn>"
    msg["To"] = f"Nguyễn Văn An <{to}>"
    msg["Subject"] = subject
    msg["Message-ID"] = "<digest-2026-11-an@demo.edu.vn>"
    msg.set_content("Kính gửi Thầy An,\nThư viện xin giới thiệu các tài liệu mới về thư viện số.\n")
    msg.add_alternative(
        f"<html><body><h1>Tài liệu mới</h1><p>Thư viện số &amp; số hóa</p>{SCRIPT}"
        '<img src="https://tracker.example/pixel.gif"></body></html>',
        subtype="html",
    )
    msg.add_attachment(b"TY  - BOOK\nTI  - Thu vien so\nER  - \n", maintype="application",
                       subtype="x-research-info-systems", filename="tai-lieu-moi.ris")
    return msg


@pytest.fixture
async def sink(settings, session_maker):
    server = await start_sink(_with_sink(settings), session_maker)
    assert server is not None
    yield server
    await server.stop()


@pytest.fixture
def send(sink, session_maker):
    """Send a message to the sink through real SMTP; returns the stored row."""

    async def send(message: EmailMessage | None = None, **kwargs) -> SinkMessage:
        await aiosmtplib.send(message or _message(), hostname="127.0.0.1", port=sink.port, timeout=10, **kwargs)
        async with session_maker() as s:
            return (await s.scalars(select(SinkMessage).order_by(SinkMessage.id.desc()))).first()

    return send


async def test_a_real_smtp_message_is_stored_with_decoded_headers(send):
    row = await send()
    assert row.subject == SUBJECT
    assert row.message_id == "<digest-2026-11-an@demo.edu.vn>"
    assert row.mail_from == "thu-vien@demo.edu.vn"
    assert row.rcpt_to == "an.nguyenvan@demo.edu.vn"
    assert b"Subject:" in row.raw and row.received_at is not None


async def test_several_recipients(send):
    msg = _message()
    msg["Cc"] = "lan.tranthi@demo.edu.vn"
    row = await send(msg, recipients=["an.nguyenvan@demo.edu.vn", "lan.tranthi@demo.edu.vn"])
    assert row.rcpt_to == "an.nguyenvan@demo.edu.vn, lan.tranthi@demo.edu.vn"


async def test_the_mailbox_lists_searches_and_shows_a_message(send, client, librarian):
    row = await send()
    await send(_message(to="lan.tranthi@demo.edu.vn", subject="Tập huấn sử dụng cơ sở dữ liệu"))

    page = await client.get("/mailbox")
    assert page.status_code == 200
    assert SUBJECT in page.text and "Tập huấn sử dụng cơ sở dữ liệu" in page.text
    # Newest first.
    assert page.text.index("Tập huấn") < page.text.index(SUBJECT)

    found = await client.get("/mailbox", params={"q": "an.nguyenvan"})
    assert SUBJECT in found.text and "Tập huấn" not in found.text
    found = await client.get("/mailbox", params={"q": "tập huấn"})
    assert "Tập huấn" in found.text and SUBJECT not in found.text
    found = await client.get("/mailbox", params={"q": "100%_nothing"})
    assert found.status_code == 200 and "Tập huấn" not in found.text and SUBJECT not in found.text

    detail = await client.get(f"/mailbox/{row.id}")
    assert detail.status_code == 200
    html = detail.text
    assert "Kính gửi Thầy An," in html
    assert "tai-lieu-moi.ris" in html
    assert "&lt;digest-2026-11-an@demo.edu.vn&gt;" in html
    # The HTML part sits in a fully sandboxed iframe, escaped into srcdoc; its script never reaches the page.
    assert '<iframe class="mail-html" sandbox=""' in html
    assert "allow-scripts" not in html
    assert SCRIPT not in html
    srcdoc = html.split('srcdoc="', 1)[1].split('"', 1)[0]
    assert "<" not in srcdoc and "Content-Security-Policy" in srcdoc
    assert "&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;" in srcdoc

    raw = await client.get(f"/mailbox/{row.id}/raw")
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("message/rfc822")
    assert f'filename="message-{row.id}.eml"' in raw.headers["content-disposition"]
    assert raw.content == row.raw


async def test_the_mailbox_api(send, client, librarian_token):
    row = await send()
    h = bearer(librarian_token)
    listed = await client.get("/api/mailbox", headers=h)
    assert listed.status_code == 200
    body = listed.json()
    assert body["total"] == 1 and body["page"] == 1 and body["pages"] == 1
    item = body["items"][0]
    assert item["subject"] == SUBJECT and item["recipients"] == ["an.nguyenvan@demo.edu.vn"]
    assert item["size"] == len(row.raw)

    detail = (await client.get(f"/api/mailbox/{row.id}", headers=h)).json()
    assert detail["text"].startswith("Kính gửi Thầy An,")
    assert SCRIPT in detail["html"]  # JSON gives the part as received; escaping is the reader's job
    assert detail["attachments"] == [
        {"filename": "tai-lieu-moi.ris", "content_type": "application/x-research-info-systems", "size": len(b"TY  - BOOK\nTI  - Thu vien so\nER  - \n")}
    ]
    assert ["Subject", SUBJECT] in detail["headers"]

    assert (await client.get("/api/mailbox", params={"q": "nobody@nowhere"}, headers=h)).json()["total"] == 0
    assert (await client.get("/api/mailbox/999999", headers=h)).status_code == 404
    assert (await client.get("/api/mailbox", params={"page": "abc"}, headers=h)).status_code == 400


async def test_anonymous_visitors_are_sent_to_login_or_refused(send, client):
    row = await send()
    for path in ("/mailbox", f"/mailbox/{row.id}", f"/mailbox/{row.id}/raw"):
        r = await client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path
    assert (await client.get("/api/mailbox")).status_code == 401
    assert (await client.get(f"/api/mailbox/{row.id}")).status_code == 401


async def test_bad_input_gives_clear_answers_not_errors(client, librarian, factory):
    assert (await client.get("/mailbox/424242")).status_code == 404
    assert (await client.get("/mailbox", params={"page": "-3"})).status_code == 200
    assert (await client.get("/mailbox", params={"page": "x"})).status_code == 400
    # A malformed message (broken encoded words, a missing body boundary) still opens.
    from datetime import UTC, datetime

    raw = (b"Subject: =?utf-8?b?broken?=\r\nFrom: <<<\r\nContent-Type: multipart/mixed; boundary=zzz\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n--zzz\r\nContent-Type: text/html; charset=unknown-8bit\r\n\r\n"
           b"<b>\xff\xfe</b>\r\n")
    row = await factory.add(SinkMessage(received_at=datetime.now(UTC), mail_from="x", rcpt_to="y@z",
                                        subject="", message_id=None, raw=raw))
    r = await client.get(f"/mailbox/{row.id}")
    assert r.status_code == 200
    assert (await client.get("/mailbox")).status_code == 200


async def test_a_taken_port_is_a_warning_not_a_crash(settings, session_maker, caplog):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    try:
        with caplog.at_level(logging.WARNING, logger="crm.mail.sink"):
            sink = await start_sink(_with_sink(settings, port=blocker.getsockname()[1]), session_maker)
        assert sink is None
        assert "could not listen" in caplog.text
    finally:
        blocker.close()


async def test_the_app_starts_the_sink_and_the_scheduler_in_its_lifespan(settings, session_maker):
    from crm.app import create_app

    app = create_app(_with_sink(settings, run_scheduler=True))
    async with AsyncTestClient(app=app, base_url="http://testserver.local"):
        port = app.state.mail_sink.port
        assert app.state.scheduler.active
        await aiosmtplib.send(_message(), hostname="127.0.0.1", port=port, timeout=10)
        async with session_maker() as s:
            assert (await s.scalar(select(SinkMessage.subject))) == SUBJECT
    # Stopped with the app: the port is free again.
    with pytest.raises(OSError):
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout=2)
