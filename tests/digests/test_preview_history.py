"""Preview and "send now" pages, the history of digests sent, the API, and the signed export links."""

import html
import re
import time

import bibtexparser
import rispy
from sqlalchemy import select

from crm.digests import compose
from crm.digests.models import Digest, Subscription
from crm.liaison.models import Contact
from crm.mail.models import OutboxMessage
from tests.conftest import bearer, form_post
from tests.digests.digestdata import make_item, make_match, make_profile, make_source
from tests.digests.test_compose import subscription_for
from tests.liaison.people import make_contact


async def lecturer_with_news(factory, titles=("Thư viện số: lý thuyết", "Dữ liệu mở trong đại học"), **subscription):
    marc = await make_source(factory)
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    profile = await make_profile(factory, "Thư viện số", contact=an)
    for title in titles:
        await make_match(factory, await make_item(factory, title, source=marc, authors=["Nguyễn Văn An"], year=2025,
                                                  isbns=["9786043421234"]), profile)
    return an, await subscription_for(factory, an, **subscription)


async def test_preview_shows_the_next_digest_as_the_recipient_sees_it(client, librarian, factory):
    an, _subscription = await lecturer_with_news(factory, titles=("Thư viện số <script>alert(1)</script>",))
    r = await client.get(f"/contacts/{an.id}/digest/preview")
    assert r.status_code == 200
    assert "Bản tin tài liệu mới: 1 tài liệu" in r.text
    frame = re.search(r'<iframe class="mail-html" sandbox="" [^>]*srcdoc="([^"]*)"', r.text)
    assert frame, "the HTML part is shown in a sandboxed iframe"
    srcdoc = html.unescape(frame.group(1))
    assert "Content-Security-Policy" in srcdoc and "default-src 'none'" in srcdoc
    assert "<script>" not in srcdoc and "&lt;script&gt;alert(1)&lt;/script&gt;" in srcdoc
    assert '<pre class="mail">' in r.text and "Kính gửi Thầy/Cô Nguyễn Văn An," in r.text
    assert f'action="/contacts/{an.id}/digest/send-now"' in r.text


async def test_preview_without_subscription_or_news(client, librarian, factory):
    lonely = await make_contact(factory, "Lê Thị Hoa", "hoa@example.edu.vn")
    r = await client.get(f"/contacts/{lonely.id}/digest/preview")
    assert r.status_code == 200 and "Người này chưa đăng ký nhận bản tin." in r.text
    await subscription_for(factory, lonely)
    r = await client.get(f"/contacts/{lonely.id}/digest/preview")
    assert "Chưa có gì mới để gửi" in r.text and "send-now" not in r.text
    assert (await client.get("/contacts/999999/digest/preview")).status_code == 404


async def test_send_now_queues_and_opens_the_digest_as_sent(client, librarian, factory, session_maker):
    an, _subscription = await lecturer_with_news(factory)
    page = f"/contacts/{an.id}/digest/preview"
    r = await form_post(client, page, f"/contacts/{an.id}/digest/send-now", {}, follow_redirects=False)
    assert r.status_code == 303
    digest_id = int(re.fullmatch(r"/digests/(\d+)\?queued=1", r.headers["location"]).group(1))
    async with session_maker() as s:
        digest = await s.get(Digest, digest_id)
        outbox = await s.get(OutboxMessage, digest.outbox_id)
    assert digest.sent_by_id == librarian.id and digest.period.startswith("now-") and digest.item_count == 2
    assert outbox.status == "queued" and outbox.kind == "digest"

    r = await client.get(r.headers["location"])
    assert r.status_code == 200
    assert "Bản tin đã vào hàng đợi" in r.text and "Thư viện số: lý thuyết" in r.text
    assert "List-Unsubscribe" in r.text and "digest-now-" in r.text  # headers and the RIS attachment
    assert 'sandbox=""' in r.text and "Kính gửi Thầy/Cô Nguyễn Văn An," in r.text

    # Pressed again: everything was sent, so nothing is queued.
    r = await form_post(client, page, f"/contacts/{an.id}/digest/send-now", {}, follow_redirects=False)
    assert r.status_code == 200 and "Chưa có gì mới để gửi: không có bản tin nào" in r.text

    r = await client.get(f"/digests?contact_id={an.id}")
    assert r.status_code == 200 and f'href="/digests/{digest_id}"' in r.text and "Gửi thủ công" in r.text
    assert "Bản tin tài liệu mới: 2 tài liệu" in (await client.get("/digests")).text


async def test_send_now_respects_an_unsubscribe(client, librarian, factory, session_maker):
    an, _subscription = await lecturer_with_news(factory, frequency="paused")
    r = await client.get(f"/contacts/{an.id}/digest/preview")
    assert "Người này đã hủy đăng ký nhận bản tin." in r.text and "send-now" not in r.text
    r = await form_post(client, f"/contacts/{an.id}/digest/preview", f"/contacts/{an.id}/digest/send-now", {})
    assert r.status_code == 400 and "Người này đã hủy đăng ký nhận bản tin." in r.text
    async with session_maker() as s:
        assert (await s.scalars(select(Digest))).first() is None


async def test_api_send_now_and_history(client, factory, librarian_token):
    an, subscription = await lecturer_with_news(factory)
    url = f"/api/contacts/{an.id}/digest/send-now"
    r = await client.post(url, json={"subscription_id": subscription.id}, headers=bearer(librarian_token))
    assert r.status_code == 201, r.text
    digest = r.json()["digest"]
    assert r.json()["queued"] is True and digest["item_count"] == 2 and digest["status"] == "queued"
    r = await client.post(url, headers=bearer(librarian_token))
    assert r.status_code == 200 and r.json()["queued"] is False

    r = await client.get(f"/api/digests?contact_id={an.id}", headers=bearer(librarian_token))
    assert r.status_code == 200 and [d["id"] for d in r.json()["items"]] == [digest["id"]]
    r = await client.get(f"/api/digests/{digest['id']}", headers=bearer(librarian_token))
    body = r.json()
    assert sorted(e["title"] for e in body["entries"]) == ["Dữ liệu mở trong đại học", "Thư viện số: lý thuyết"]
    assert "Kính gửi" in body["text"] and "<html" in body["html"]
    assert (await client.get("/api/digests/999999", headers=bearer(librarian_token))).status_code == 404

    r = await client.post(url, json={"subscription_id": 999999}, headers=bearer(librarian_token))
    assert r.status_code == 400 and "subscription_id" in r.json()["errors"]
    r = await client.post(url, json={"unknown": 1}, headers=bearer(librarian_token))
    assert r.status_code == 400


async def test_api_refuses_anonymous_and_session_writes(client, librarian, factory):
    an, _subscription = await lecturer_with_news(factory)
    # A logged-in browser session may read the API but not write to it (no CSRF on /api).
    assert (await client.get("/api/digests")).status_code == 200
    r = await client.post(f"/api/contacts/{an.id}/digest/send-now", json={})
    assert r.status_code == 401


async def queued_digest(factory, session_maker, settings):
    an, subscription = await lecturer_with_news(factory)
    async with session_maker() as s, s.begin():
        digest = await compose.queue_digest(s, settings, await s.get(Subscription, subscription.id),
                                            await s.get(Contact, an.id), "2026-W48")
    return an, digest


async def test_export_links_work_without_login(factory, session_maker, settings, new_client):
    an, digest = await queued_digest(factory, session_maker, settings)
    urls = compose.export_urls(settings, digest.subscription_id, an.id, digest.period)
    assert urls["ris"].startswith(f"{settings.base_url}/digests/export.ris?token=")
    async with new_client() as anonymous:
        r = await anonymous.get(urls["ris"].removeprefix(settings.base_url))
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-research-info-systems")
        assert 'filename="digest-' in r.headers["content-disposition"]
        records = rispy.loads(r.text)
        assert sorted(x["title"] for x in records) == ["Dữ liệu mở trong đại học", "Thư viện số: lý thuyết"]
        assert records[0]["authors"] == ["Nguyễn, Văn An"]

        r = await anonymous.get(urls["bib"].removeprefix(settings.base_url))
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-bibtex")
        library = bibtexparser.parse_string(r.text)
        assert not library.failed_blocks and len(library.entries) == 2
        assert len({e.key for e in library.entries}) == 2


async def test_export_token_tampering_is_refused(factory, session_maker, settings, new_client, monkeypatch):
    an, digest = await queued_digest(factory, session_maker, settings)
    token = compose.export_token(settings, digest.subscription_id, an.id, digest.period)
    async with new_client() as anonymous:
        for url in (f"/digests/export.ris?token={token[:-2]}xx", "/digests/export.bib?token=", "/digests/export.bib",
                    f"/digests/export.ris?token=<script>"):
            r = await anonymous.get(url)
            assert r.status_code == 403, url
            assert "Đường dẫn không hợp lệ" in r.text and "<script>" not in r.text
        # A valid token naming a digest that does not exist (another recipient, another week): nothing.
        for other in (compose.export_token(settings, digest.subscription_id, an.id + 7, digest.period),
                      compose.export_token(settings, digest.subscription_id, an.id, "2026-W49")):
            r = await anonymous.get(f"/digests/export.ris?token={other}")
            assert r.status_code == 404
        # Another purpose's token (an unsubscribe link) opens nothing here.
        from crm.digests import links
        r = await anonymous.get(f"/digests/export.ris?token={links.unsubscribe_token(settings, 1, an.id)}")
        assert r.status_code == 403
        # Links of the first format (/digests/<id>/export…, token naming the digest id) still work.
        from crm.security.tokens import make_token
        legacy = make_token(settings, compose.EXPORT_PURPOSE, {"d": digest.id, "c": an.id})
        assert (await anonymous.get(f"/digests/{digest.id}/export.ris?token={legacy}")).status_code == 200
        assert (await anonymous.get(f"/digests/{digest.id + 1}/export.ris?token={legacy}")).status_code == 403
        other_reader = make_token(settings, compose.EXPORT_PURPOSE, {"d": digest.id, "c": an.id + 7})
        assert (await anonymous.get(f"/digests/{digest.id}/export.ris?token={other_reader}")).status_code == 404
        past = time.time() - 200 * 24 * 3600
        monkeypatch.setattr("itsdangerous.timed.time.time", lambda: past)
        old = compose.export_token(settings, digest.subscription_id, an.id, digest.period)
        monkeypatch.undo()
        r = await anonymous.get(f"/digests/export.ris?token={old}")
        assert r.status_code == 410 and "Đường dẫn đã hết hạn" in r.text


async def test_history_pages_need_a_librarian(client, factory, session_maker, settings):
    _an, digest = await queued_digest(factory, session_maker, settings)
    for path in ("/digests", f"/digests/{digest.id}", f"/contacts/{digest.contact_id}/digest/preview"):
        r = await client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path
    assert (await client.get("/api/digests")).status_code == 401
