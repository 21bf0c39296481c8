"""One-click unsubscribe (RFC 8058): a mail client POSTs List-Unsubscribe=One-Click with no cookies."""

from sqlalchemy import select

from crm.digests import links
from crm.digests.controllers.public import LINK_POSTS_PER_MINUTE
from crm.digests.models import OptOut, Subscription
from tests.digests.subscribers import reload, subscribe
from tests.liaison.people import make_contact, make_group

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def path_of(url: str) -> str:
    return url.removeprefix("http://testserver.local")


async def test_one_click_post_without_cookies_pauses_ones_own_digest(client, factory, settings):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    sub = await subscribe(factory, an, frequency="daily")
    url = path_of(links.unsubscribe_url(settings, sub.id, an.id))
    assert not client.cookies
    r = await client.post(url, data=ONE_CLICK, follow_redirects=False)
    assert r.status_code == 200, r.text
    assert "không còn nhận bản tin" in r.text
    sub = await reload(factory, Subscription, sub.id)
    assert sub.frequency == "paused" and sub.next_due_at is None
    # Posting again (mail clients retry) is harmless.
    assert (await client.post(url, data=ONE_CLICK)).status_code == 200
    # "Changed your mind?" restores the frequency the lecturer had.
    assert 'name="frequency" value="daily"' in r.text
    r = await client.post(url, data={"action": "resubscribe", "frequency": "daily"})
    assert r.status_code == 200 and "nhận lại bản tin" in r.text
    sub = await reload(factory, Subscription, sub.id)
    assert sub.frequency == "daily" and sub.next_due_at is not None


async def test_multipart_one_click_body_is_accepted(client, factory, settings):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    sub = await subscribe(factory, an)
    url = path_of(links.unsubscribe_url(settings, sub.id, an.id))
    r = await client.post(url, files={"List-Unsubscribe": (None, "One-Click")})
    assert r.status_code == 200
    assert (await reload(factory, Subscription, sub.id)).frequency == "paused"


async def test_one_click_on_a_group_digest_opts_the_member_out(client, factory, settings):
    a = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    b = await make_contact(factory, "Trần Thị Lan", "lan@example.edu.vn")
    group = await make_group(factory, "Lớp K66 Khoa học Máy tính", "K66-KHMT", members=[a, b])
    sub = await subscribe(factory, group)
    r = await client.post(path_of(links.unsubscribe_url(settings, sub.id, b.id)), data=ONE_CLICK)
    assert r.status_code == 200 and "Lớp K66 Khoa học Máy tính" in r.text
    async with factory.session_maker() as s:
        assert [(o.subscription_id, o.contact_id) for o in await s.scalars(select(OptOut))] == [(sub.id, b.id)]
    assert (await reload(factory, Subscription, sub.id)).frequency == "weekly"
    await client.post(path_of(links.unsubscribe_url(settings, sub.id, b.id)), data={"action": "resubscribe"})
    async with factory.session_maker() as s:
        assert list(await s.scalars(select(OptOut))) == []


async def test_get_shows_a_confirmation_and_changes_nothing(client, factory, settings):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    sub = await subscribe(factory, an)
    url = path_of(links.unsubscribe_url(settings, sub.id, an.id))
    page = await client.get(url)
    assert page.status_code == 200
    assert f'action="{url}"' in page.text and 'value="unsubscribe"' in page.text
    assert "/preferences/" in page.text  # "choose how often instead"
    assert (await reload(factory, Subscription, sub.id)).frequency == "weekly"
    # Already unsubscribed: the page offers to subscribe again.
    await client.post(url, data=ONE_CLICK)
    page = await client.get(url)
    assert 'value="resubscribe"' in page.text and 'value="unsubscribe"' not in page.text


async def test_the_page_follows_the_digests_language(client, factory, settings):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    sub = await subscribe(factory, an, language="en")
    url = path_of(links.unsubscribe_url(settings, sub.id, an.id))
    page = await client.get(url)
    assert '<html lang="en">' in page.text and "Unsubscribe" in page.text
    assert '<html lang="vi">' in (await client.get(url + "?lang=vi")).text


async def test_bad_links_are_friendly_and_never_ask_for_a_login(client, factory, settings):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    sub = await subscribe(factory, an)
    token = links.unsubscribe_token(settings, sub.id, an.id)
    for method in ("GET", "POST"):
        r = await client.request(method, f"/unsubscribe/{token[:-2]}xx", follow_redirects=False,
                                 **({"data": ONE_CLICK} if method == "POST" else {}))
        assert r.status_code == 400 and "location" not in r.headers
    preferences = links.preferences_token(settings, sub.id, an.id)
    r = await client.post(f"/unsubscribe/{preferences}", data=ONE_CLICK)
    assert r.status_code == 400
    assert (await reload(factory, Subscription, sub.id)).frequency == "weekly"
    # A subscription deleted since the email was sent.
    async with factory.session_maker() as s, s.begin():
        await s.delete(await s.get(Subscription, sub.id))
    r = await client.post(f"/unsubscribe/{token}", data=ONE_CLICK)
    assert r.status_code == 410


async def test_a_logged_in_librarian_clicking_the_link_changes_only_that_subscription(client, factory, settings, librarian):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    lan = await make_contact(factory, "Trần Thị Lan", "lan@example.edu.vn")
    first, second = await subscribe(factory, an), await subscribe(factory, lan)
    r = await client.post(path_of(links.unsubscribe_url(settings, first.id, an.id)), data=ONE_CLICK)
    assert r.status_code == 200
    assert (await reload(factory, Subscription, first.id)).frequency == "paused"
    assert (await reload(factory, Subscription, second.id)).frequency == "weekly"


async def test_one_click_is_rate_limited_per_address(client, factory, settings):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    sub = await subscribe(factory, an)
    url = path_of(links.unsubscribe_url(settings, sub.id, an.id))
    statuses = [(await client.post(url, data=ONE_CLICK)).status_code for _ in range(LINK_POSTS_PER_MINUTE + 2)]
    assert statuses[0] == 200 and statuses[-1] == 429
    # The login form keeps its own budget.
    assert (await client.get("/login")).status_code == 200
