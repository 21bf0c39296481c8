"""The outbox pages and API: lists with counts and filters, a message as queued, retry/cancel, permissions."""

from datetime import UTC, datetime

from sqlalchemy import select, update

from crm.mail.models import MailAddress, OutboxMessage
from crm.mail.outbox import Attachment, enqueue, format_address
from tests.conftest import bearer, csrf_from, form_post

SCRIPT = '<script>alert("x")</script>'


async def queue(session_maker, n: int, *, kind: str = "digest", status: str = "queued", error: str | None = None,
                subject: str = "Thư mục tài liệu mới – Khoa Thông tin – Thư viện", html: str | None = None) -> OutboxMessage:
    async with session_maker() as s, s.begin():
        row = await enqueue(s, key=f"{kind}:{n}", kind=kind, sender="Thư viện <thu-vien@demo.edu.vn>",
                            to=format_address(f"Giảng viên {n}", f"gv{n}@demo.edu.vn"), subject=subject,
                            text="Kính gửi Thầy/Cô,\nCác tài liệu mới về thư viện số.\n", html=html,
                            attachments=[Attachment("tai-lieu-moi.ris", b"TY  - BOOK\nER  - \n",
                                                    "application/x-research-info-systems")])
        row.status = status
        row.last_error = error
        if status == "failed":
            row.attempts = 1
        if status == "sent":
            row.attempts, row.sent_at = 1, datetime.now(UTC)
    return row


async def status_of(session_maker, row_id: int) -> OutboxMessage:
    async with session_maker() as s:
        return await s.get(OutboxMessage, row_id)


async def test_the_outbox_page_counts_filters_and_searches(client, librarian, session_maker):
    await queue(session_maker, 1)
    await queue(session_maker, 2, status="sent")
    failed = await queue(session_maker, 3, status="failed", error="550 5.1.1 User unknown")
    await queue(session_maker, 4, kind="question", subject="Câu hỏi của sinh viên K65")

    page = await client.get("/outbox")
    assert page.status_code == 200
    html = page.text
    assert "Hộp thư đi" in html and 'href="/outbox"' in html  # the nav link
    assert "Đang chờ gửi" in html and "Đã gửi" in html
    assert "gv1@demo.edu.vn" in html and "gv4@demo.edu.vn" in html
    assert '<span class="count">4</span>' in html  # all
    assert "550 5.1.1 User unknown" in html

    only_failed = await client.get("/outbox", params={"status": "failed"})
    assert "gv3@demo.edu.vn" in only_failed.text and "gv1@demo.edu.vn" not in only_failed.text
    assert f'href="/outbox/{failed.id}"' in only_failed.text
    by_kind = await client.get("/outbox", params={"kind": "question"})
    assert "Câu hỏi của sinh viên K65" in by_kind.text and "gv1@demo.edu.vn" not in by_kind.text
    searched = await client.get("/outbox", params={"q": "GV2@"})
    assert "gv2@demo.edu.vn" in searched.text and "gv1@demo.edu.vn" not in searched.text
    nothing = await client.get("/outbox", params={"q": "100%_x"})
    assert nothing.status_code == 200 and "Không có thư nào khớp" in nothing.text
    # Unknown filters and pages are ignored, not errors.
    lenient = await client.get("/outbox", params={"status": "bogus", "page": "-3", "kind": "x" * 500})
    assert lenient.status_code == 200


async def test_the_message_page_shows_it_as_queued_and_escapes_it(client, librarian, session_maker):
    row = await queue(session_maker, 1, status="failed", error=f"554 5.7.1 {SCRIPT}",
                      subject=f"Tài liệu {SCRIPT}", html=f"<p>Thư viện số</p>{SCRIPT}")
    page = await client.get(f"/outbox/{row.id}")
    assert page.status_code == 200
    html = page.text
    assert SCRIPT not in html
    assert "&lt;script&gt;" in html
    assert "Kính gửi Thầy/Cô," in html and "tai-lieu-moi.ris" in html
    assert row.message_id.replace("<", "&lt;").replace(">", "&gt;") in html
    assert '<iframe class="mail-html" sandbox=""' in html
    assert f'action="/outbox/{row.id}/retry"' in html and "Gửi lại" in html
    assert f'action="/outbox/{row.id}/cancel"' not in html  # a failed message cannot be cancelled

    raw = await client.get(f"/outbox/{row.id}/raw")
    assert raw.headers["content-type"].startswith("message/rfc822") and raw.content == (await status_of(session_maker, row.id)).raw
    assert (await client.get("/outbox/999999")).status_code == 404
    assert (await client.get(f"/outbox/{2**70}")).status_code in (400, 404)


async def test_retry_and_cancel_from_the_page(client, librarian, session_maker):
    failed = await queue(session_maker, 1, status="failed", error="554 refused")
    waiting = await queue(session_maker, 2)

    r = await form_post(client, f"/outbox/{failed.id}", f"/outbox/{failed.id}/retry", {}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/outbox/{failed.id}"
    again = await status_of(session_maker, failed.id)
    assert again.status == "queued" and again.attempts == 0

    r = await form_post(client, f"/outbox/{waiting.id}", f"/outbox/{waiting.id}/cancel", {}, follow_redirects=False)
    assert r.status_code == 303
    assert (await status_of(session_maker, waiting.id)).status == "cancelled"

    # Cancelling it twice is refused with a clear message on the page, not an error.
    page = await client.get(f"/outbox/{waiting.id}")
    r = await client.post(f"/outbox/{waiting.id}/cancel", data={"_csrf_token": csrf_from(page.text)})
    assert r.status_code == 409 and "Chỉ có thể hủy thư đang chờ gửi." in r.text

    # Without the CSRF token nothing happens.
    r = await client.post(f"/outbox/{failed.id}/cancel", data={})
    assert r.status_code == 403
    assert (await status_of(session_maker, failed.id)).status == "queued"


async def test_an_undeliverable_address_is_shown_and_can_be_allowed_again(client, librarian, session_maker, factory):
    row = await queue(session_maker, 1, status="failed", error="Address undeliverable since 2026-11-20 08:00 UTC (hard bounces)")
    await factory.add(MailAddress(address="gv1@demo.edu.vn", hard_bounces=3, soft_bounces=1,
                                  undeliverable_since=datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
                                  last_bounce_reason="5.1.1 User unknown"))
    page = await client.get(f"/outbox/{row.id}")
    assert "Địa chỉ không gửi được" in page.text and "5.1.1 User unknown" in page.text
    # Retrying is refused while the address is suppressed …
    r = await client.post(f"/outbox/{row.id}/retry", data={"_csrf_token": csrf_from(page.text)})
    assert r.status_code == 409 and "không gửi được" in r.text
    # … until a librarian allows the address again.
    r = await form_post(client, f"/outbox/{row.id}", f"/outbox/{row.id}/allow-address", {}, follow_redirects=False)
    assert r.status_code == 303
    r = await form_post(client, f"/outbox/{row.id}", f"/outbox/{row.id}/retry", {}, follow_redirects=False)
    assert r.status_code == 303 and (await status_of(session_maker, row.id)).status == "queued"


async def test_the_api(client, librarian_token, session_maker):
    h = bearer(librarian_token)
    first = await queue(session_maker, 1, status="failed", error="550 5.1.1 User unknown")
    second = await queue(session_maker, 2)

    listed = await client.get("/api/outbox", headers=h)
    assert listed.status_code == 200
    body = listed.json()
    assert body["total"] == 2 and body["counts"] == {"queued": 1, "sending": 0, "sent": 0, "failed": 1, "cancelled": 0}
    assert {i["recipient"] for i in body["items"]} == {"gv1@demo.edu.vn", "gv2@demo.edu.vn"}
    failed = (await client.get("/api/outbox", params={"status": "failed"}, headers=h)).json()
    assert [i["id"] for i in failed["items"]] == [first.id] and failed["items"][0]["last_error"] == "550 5.1.1 User unknown"
    assert (await client.get("/api/outbox", params={"status": "lost"}, headers=h)).status_code == 400
    assert (await client.get("/api/outbox", params={"page": "0"}, headers=h)).status_code == 400

    detail = (await client.get(f"/api/outbox/{first.id}", headers=h)).json()
    assert detail["text"].startswith("Kính gửi Thầy/Cô,") and detail["max_attempts"] == 8
    assert detail["attachments"][0]["filename"] == "tai-lieu-moi.ris"
    assert ["Message-ID", first.message_id] in detail["headers"] and detail["inbound"] == [] and detail["address"] is None

    retried = await client.post(f"/api/outbox/{first.id}/retry", headers=h)
    assert retried.status_code == 200 and retried.json()["status"] == "queued"
    cancelled = await client.post(f"/api/outbox/{second.id}/cancel", headers=h)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    conflict = await client.post(f"/api/outbox/{second.id}/cancel", headers=h)
    assert conflict.status_code == 409 and "status" in conflict.json()["errors"]
    async with session_maker() as s, s.begin():
        await s.execute(update(OutboxMessage).where(OutboxMessage.id == first.id).values(status="sent"))
    assert (await client.post(f"/api/outbox/{first.id}/retry", headers=h)).status_code == 409
    assert (await client.post("/api/outbox/999999/retry", headers=h)).status_code == 404
    assert (await client.post(f"/api/outbox/{2**70}/retry", headers=h)).status_code in (400, 404)
    assert (await client.post(f"/api/outbox/{first.id}/allow-address", headers=h)).json() is None


async def test_anonymous_visitors_and_session_writes_to_the_api_are_refused(client, session_maker, factory):
    row = await queue(session_maker, 1, status="failed")
    for path in ("/outbox", f"/outbox/{row.id}", f"/outbox/{row.id}/raw"):
        r = await client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path
    assert (await client.get("/api/outbox")).status_code == 401
    assert (await client.post(f"/api/outbox/{row.id}/retry")).status_code == 401

    # A logged-in browser session may read the API but not write to it (writes need a token).
    from tests.conftest import login

    user = await factory.user()
    await login(client, user.email)
    assert (await client.get("/api/outbox")).status_code == 200
    assert (await client.post(f"/api/outbox/{row.id}/retry")).status_code == 401
    async with session_maker() as s:
        assert (await s.scalar(select(OutboxMessage.status).where(OutboxMessage.id == row.id))) == "failed"
