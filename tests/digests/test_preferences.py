"""The lecturer's preference page: reached by a signed link, no login, in the digest's language."""

import time
from datetime import date, timedelta

import itsdangerous.timed
from sqlalchemy import select

from crm.digests import links
from crm.digests.controllers.public import LINK_POSTS_PER_MINUTE
from crm.digests.models import OptOut, Subscription
from crm.security.tokens import LIFETIMES, make_token
from tests.conftest import csrf_from
from tests.digests.subscribers import reload, subscribe
from tests.liaison.people import make_contact, make_group


def path_of(url: str) -> str:
    return url.removeprefix("http://testserver.local")


async def test_links_are_absolute_signed_and_scoped(settings):
    url = links.preferences_url(settings, 12, 34)
    assert url.startswith("http://testserver.local/preferences/")
    token = url.rsplit("/", 1)[1]
    assert links.read_link(settings, links.PREFERENCES, token) == (12, 34)
    unsubscribe = links.unsubscribe_url(settings, 12, 34)
    assert unsubscribe.startswith("http://testserver.local/unsubscribe/")
    # A preference token is not an unsubscribe token, and the reverse.
    from crm.security.tokens import TokenError

    for purpose, other in ((links.UNSUBSCRIBE, token), (links.PREFERENCES, unsubscribe.rsplit("/", 1)[1])):
        try:
            links.read_link(settings, purpose, other)
        except TokenError as exc:
            assert exc.reason == "invalid"
        else:
            raise AssertionError("a token was accepted for another purpose")


async def test_the_page_works_without_login_and_saves_changes(client, factory, settings):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    sub = await subscribe(factory, an)
    url = path_of(links.preferences_url(settings, sub.id, an.id))
    page = await client.get(url)
    assert page.status_code == 200
    assert "Tùy chọn nhận tin" in page.text and "Nguyễn Văn An" in page.text
    assert 'href="/contacts' not in page.text  # no librarian navigation
    r = await client.post(url, data={
        "_csrf_token": csrf_from(page.text), "action": "save", "frequency": "monthly", "weekday": "0",
        "month_day": "10", "hour": "7", "language": "en", "max_items": "15", "sections": ["articles"],
        "paused_until": (date.today() + timedelta(days=20)).strftime("%d/%m/%Y")}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(url + "?saved=1")
    sub = await reload(factory, Subscription, sub.id)
    assert (sub.frequency, sub.month_day, sub.hour, sub.language, sub.max_items, sub.sections) == \
        ("monthly", 10, 7, "en", 15, ["articles"])
    assert sub.paused_until == date.today() + timedelta(days=20)
    assert sub.next_due_at.date() >= sub.paused_until - timedelta(days=1)
    # The page now speaks the digest's language (English), with a switch back.
    page = await client.get(r.headers["location"].replace("&lang=vi", ""))
    assert '<html lang="en">' in page.text and "Your preferences are saved." in page.text
    switched = await client.get(url + "?lang=vi")
    assert '<html lang="vi">' in switched.text


async def test_bad_input_is_explained_on_the_page(client, factory, settings):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    sub = await subscribe(factory, an)
    url = path_of(links.preferences_url(settings, sub.id, an.id))
    page = await client.get(url)
    r = await client.post(url, data={"_csrf_token": csrf_from(page.text), "frequency": "weekly", "hour": "99",
                                     "max_items": "abc", "sections": ["acquisitions"], "language": "vi"})
    assert r.status_code == 400
    assert "0 đến 23" in r.text and "số nguyên" in r.text
    assert (await reload(factory, Subscription, sub.id)).hour == 8


async def test_a_post_without_the_csrf_token_is_refused(client, factory, settings):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    sub = await subscribe(factory, an)
    url = path_of(links.preferences_url(settings, sub.id, an.id))
    r = await client.post(url, data={"frequency": "paused"}, follow_redirects=False)
    assert r.status_code == 403
    assert (await reload(factory, Subscription, sub.id)).frequency == "weekly"


async def test_unsubscribe_and_resubscribe_from_the_preference_page(client, factory, settings):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    sub = await subscribe(factory, an)
    url = path_of(links.preferences_url(settings, sub.id, an.id))
    page = await client.get(url)
    await client.post(url, data={"_csrf_token": csrf_from(page.text), "action": "unsubscribe"})
    assert (await reload(factory, Subscription, sub.id)).frequency == "paused"
    page = await client.get(url)
    assert "Hiện bạn không nhận bản tin này" in page.text
    await client.post(url, data={"_csrf_token": csrf_from(page.text), "action": "resubscribe", "frequency": "daily"})
    assert (await reload(factory, Subscription, sub.id)).frequency == "daily"


async def test_a_group_member_can_leave_but_not_reschedule_the_groups_digest(client, factory, settings):
    a = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    b = await make_contact(factory, "Trần Thị Lan", "lan@example.edu.vn")
    group = await make_group(factory, "Nhóm nghiên cứu Thư viện số", "NNC-TVS", members=[a, b])
    sub = await subscribe(factory, group)
    url = path_of(links.preferences_url(settings, sub.id, b.id))
    page = await client.get(url)
    assert page.status_code == 200 and "Nhóm nghiên cứu Thư viện số" in page.text
    assert 'name="hour"' not in page.text
    r = await client.post(url, data={"_csrf_token": csrf_from(page.text), "action": "save", "frequency": "daily"})
    assert r.status_code == 400 and (await reload(factory, Subscription, sub.id)).frequency == "weekly"
    await client.post(url, data={"_csrf_token": csrf_from(page.text), "action": "unsubscribe"})
    async with factory.session_maker() as s:
        assert [o.contact_id for o in await s.scalars(select(OptOut))] == [b.id]
    assert (await reload(factory, Subscription, sub.id)).frequency == "weekly"


async def test_tampered_links_get_a_friendly_400(client, factory, settings):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    sub = await subscribe(factory, an)
    token = links.preferences_token(settings, sub.id, an.id)
    for bad in (token[:-3] + "abc", "nonsense", token.replace(".", "", 1), "a" * 3000):
        r = await client.get(f"/preferences/{bad}", follow_redirects=False)
        assert r.status_code == 400, bad
        assert "Đường dẫn không hợp lệ" in r.text
    # A payload naming another subscription must carry a valid signature: a forged one is refused.
    forged = make_token(settings.__class__(**{**settings.__dict__, "secret_key": "another-secret-key-0123456789"}),
                        links.PREFERENCES, {"s": sub.id, "c": an.id})
    assert (await client.get(f"/preferences/{forged}")).status_code == 400
    # The same POST is refused as well, never reaching the form (no CSRF token needed to find out).
    page = await client.get("/login")
    r = await client.post(f"/preferences/{token[:-3]}abc", data={"_csrf_token": csrf_from(page.text), "frequency": "paused"})
    assert r.status_code == 400


async def test_a_token_for_another_purpose_is_refused(client, factory, settings):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    sub = await subscribe(factory, an)
    unsubscribe = links.unsubscribe_token(settings, sub.id, an.id)
    assert (await client.get(f"/preferences/{unsubscribe}")).status_code == 400
    other = make_token(settings, "question-track", {"s": sub.id, "c": an.id})
    assert (await client.get(f"/preferences/{other}")).status_code == 400


async def test_expired_links_get_a_friendly_410(client, factory, settings, monkeypatch):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    sub = await subscribe(factory, an)
    old = time.time() - LIFETIMES[links.PREFERENCES].total_seconds() - 3600
    with monkeypatch.context() as m:
        m.setattr(itsdangerous.timed.time, "time", lambda: old)
        token = links.preferences_token(settings, sub.id, an.id)
    r = await client.get(f"/preferences/{token}", follow_redirects=False)
    assert r.status_code == 410 and "Đường dẫn đã hết hạn" in r.text


async def test_links_of_a_deleted_subscription_or_a_former_member_are_gone(client, factory, settings):
    a = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    outsider = await make_contact(factory, "Lê Hoàng Minh", "minh@example.edu.vn")
    group = await make_group(factory, "Lớp K66", "K66", members=[a])
    sub = await subscribe(factory, group)
    r = await client.get(path_of(links.preferences_url(settings, sub.id, outsider.id)))
    assert r.status_code == 410 and "không còn tồn tại" in r.text
    r = await client.get(path_of(links.preferences_url(settings, 999999, a.id)))
    assert r.status_code == 410


async def test_names_are_escaped(client, factory, settings):
    evil = await make_contact(factory, '<img src=x onerror="alert(1)">Hà', "ha@example.edu.vn")
    group = await make_group(factory, "<script>alert('g')</script>", "XSS", members=[evil])
    own = await subscribe(factory, evil)
    grouped = await subscribe(factory, group)
    for sub in (own, grouped):
        for url in (links.preferences_url(settings, sub.id, evil.id), links.unsubscribe_url(settings, sub.id, evil.id)):
            page = await client.get(path_of(url))
            assert page.status_code == 200
            assert "<img src=x" not in page.text and "<script>alert('g')" not in page.text
            assert "&lt;img src=x" in page.text


async def test_the_post_is_rate_limited(client, factory, settings):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    sub = await subscribe(factory, an)
    url = path_of(links.preferences_url(settings, sub.id, an.id))
    token = csrf_from((await client.get(url)).text)
    statuses = [(await client.post(url, data={"_csrf_token": token, "action": "resubscribe"},
                                   follow_redirects=False)).status_code for _ in range(LINK_POSTS_PER_MINUTE + 2)]
    assert statuses[0] == 303 and statuses[-1] == 429
