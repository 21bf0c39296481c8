"""Digest subscriptions: the service's rules, the JSON API and the librarian's pages, with permissions."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crm.digests import schemas
from crm.digests.models import OptOut, Subscription
from crm.digests.services import SubscriptionService
from crm.errors import FieldErrors
from crm.liaison.models import Contact
from tests.conftest import bearer, csrf_from, form_post
from tests.digests.subscribers import subscribe
from tests.liaison.people import make_contact, make_group

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


# --- service --------------------------------------------------------------------------------


async def test_a_new_subscription_takes_the_crms_defaults_and_the_contacts_language(factory):
    lan = await make_contact(factory, "Trần Thị Lan", "lan@example.edu.vn")
    async with factory.session_maker() as s, s.begin():
        contact = await s.get(Contact, lan.id)
        contact.language = "en"
    now = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # a Friday
    sub = await subscribe(factory, lan, now=now)
    assert (sub.frequency, sub.weekday, sub.hour, sub.max_items, sub.language) == ("weekly", 0, 8, 30, "en")
    assert sub.sections == ["acquisitions", "articles", "repository"]
    # Next Monday 08:00 in Hồ Chí Minh City.
    assert sub.next_due_at == datetime(2026, 11, 23, 8, tzinfo=HCM).astimezone(UTC)


async def test_every_change_recomputes_next_due(factory):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    now = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    sub = await subscribe(factory, an, now=now)
    async with factory.session_maker() as s, s.begin():
        service = SubscriptionService(s)
        sub = await service.get(sub.id)
        await service.update(sub, schemas.SubscriptionInput(frequency="daily", hour=18), now=now)
        assert sub.next_due_at == datetime(2026, 11, 20, 18, tzinfo=HCM).astimezone(UTC)
        await service.update(sub, schemas.SubscriptionInput(paused_until=date(2026, 12, 1)), now=now)
        assert sub.next_due_at == datetime(2026, 12, 1, 18, tzinfo=HCM).astimezone(UTC)
        await service.update(sub, schemas.SubscriptionInput(frequency="paused"), now=now)
        assert sub.next_due_at is None


@pytest.mark.parametrize("fields, field", [
    ({"hour": 24}, "hour"), ({"hour": -1}, "hour"), ({"weekday": 7}, "weekday"), ({"month_day": 29}, "month_day"),
    ({"month_day": 0}, "month_day"), ({"max_items": 0}, "max_items"), ({"max_items": 201}, "max_items"),
    ({"sections": ["acquisitions", "podcasts"]}, "sections"), ({"sections": []}, "sections"),
    ({"frequency": "hourly"}, "frequency"), ({"language": "fr"}, "language"),
    ({"paused_until": date(2020, 1, 1)}, "paused_until"),
])
async def test_bad_values_are_refused_with_a_message_for_the_field(factory, fields, field):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    async with factory.session_maker() as s:
        with pytest.raises(FieldErrors) as caught:
            await SubscriptionService(s).save(await s.get(Contact, an.id), schemas.SubscriptionInput(**fields))
    assert set(caught.value.errors) == {field}
    assert caught.value.errors[field]


async def test_sections_are_kept_in_a_fixed_order_without_repeats(factory):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    sub = await subscribe(factory, an, sections=["repository", "acquisitions", "repository"])
    assert sub.sections == ["acquisitions", "repository"]


async def test_a_holiday_that_is_over_is_cleared_on_the_next_edit(factory):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    then = datetime(2026, 7, 1, tzinfo=UTC)
    sub = await subscribe(factory, an, now=then, paused_until=date(2026, 8, 1))
    later = datetime(2026, 9, 1, tzinfo=UTC)
    async with factory.session_maker() as s, s.begin():
        service = SubscriptionService(s)
        sub = await service.get(sub.id)
        # The form sends the old date back unchanged: not an error, just cleared.
        await service.update(sub, schemas.SubscriptionInput(paused_until=date(2026, 8, 1), hour=9), now=later)
        assert sub.paused_until is None and sub.hour == 9


async def test_group_recipients_are_active_members_with_an_address_minus_opt_outs(factory):
    a = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    b = await make_contact(factory, "Trần Thị Lan", "lan@example.edu.vn")
    c = await make_contact(factory, "Lê Hoàng Minh", "minh@example.edu.vn")
    d = await make_contact(factory, "Phạm Thu Hà", "ha@example.edu.vn")
    async with factory.session_maker() as s, s.begin():
        (await s.get(Contact, c.id)).is_active = False
    group = await make_group(factory, "Nhóm nghiên cứu Thư viện số", "NNC-TVS", members=[a, b, c, d], kind="research_group")
    sub = await subscribe(factory, group)
    async with factory.session_maker() as s, s.begin():
        service = SubscriptionService(s)
        sub = await service.get(sub.id)
        assert {x.id for x in await service.recipients(sub)} == {a.id, b.id, d.id}
        await service.unsubscribe(sub, await s.get(Contact, b.id))
        await service.unsubscribe(sub, await s.get(Contact, b.id))  # twice: one opt-out
        assert {x.id for x in await service.recipients(sub)} == {a.id, d.id}
        assert sub.frequency == "weekly"  # the group's digest goes on for the others
    async with factory.session_maker() as s:
        assert len(list(await s.scalars(select(OptOut)))) == 1
    async with factory.session_maker() as s, s.begin():
        service = SubscriptionService(s)
        sub = await service.get(sub.id)
        await service.resubscribe(sub, await s.get(Contact, b.id))
        assert {x.id for x in await service.recipients(sub)} == {a.id, b.id, d.id}


async def test_unsubscribing_from_ones_own_digest_pauses_it_and_resubscribing_restarts_it(factory):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    sub = await subscribe(factory, an, frequency="monthly", month_day=5)
    async with factory.session_maker() as s, s.begin():
        service = SubscriptionService(s)
        sub, contact = await service.get(sub.id), await s.get(Contact, an.id)
        await service.unsubscribe(sub, contact)
        assert sub.frequency == "paused" and sub.next_due_at is None
        assert await service.recipients(sub) == [contact]  # still the audience, just nothing is due
        assert not await service.is_receiving(sub, contact.id)
        await service.resubscribe(sub, contact, "monthly")
        assert sub.frequency == "monthly" and sub.month_day == 5 and sub.next_due_at is not None


# --- JSON API -------------------------------------------------------------------------------


async def test_api_put_creates_then_changes_and_delete_removes(client, factory, librarian_token):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    url = f"/api/contacts/{an.id}/subscription"
    assert (await client.get(url, headers=bearer(librarian_token))).status_code == 404
    r = await client.put(url, json={"frequency": "daily", "hour": 7}, headers=bearer(librarian_token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["frequency"] == "daily" and body["hour"] == 7 and body["max_items"] == 30
    assert body["owner"] == {"kind": "contact", "id": an.id, "name": "Nguyễn Văn An"}
    assert body["next_due_at"]
    r = await client.put(url, json={"max_items": 10}, headers=bearer(librarian_token))
    assert r.json()["max_items"] == 10 and r.json()["frequency"] == "daily"
    assert (await client.get(url, headers=bearer(librarian_token))).json()["id"] == body["id"]
    r = await client.put(url, json={"hour": 30, "month_day": 31}, headers=bearer(librarian_token))
    assert r.status_code == 400 and set(r.json()["errors"]) == {"hour", "month_day"}
    r = await client.put(url, json={"colour": "blue"}, headers=bearer(librarian_token))
    assert r.status_code == 400
    r = await client.put(url, json={"hour": "eight"}, headers=bearer(librarian_token))
    assert r.status_code == 400 and "hour" in r.json()["errors"]
    assert (await client.delete(url, headers=bearer(librarian_token))).status_code == 204
    assert (await client.get(url, headers=bearer(librarian_token))).status_code == 404
    assert (await client.put("/api/contacts/999999/subscription", json={}, headers=bearer(librarian_token))).status_code == 404


async def test_api_group_subscription_and_member_opt_outs(client, factory, librarian_token):
    a = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    b = await make_contact(factory, "Trần Thị Lan", "lan@example.edu.vn")
    outsider = await make_contact(factory, "Lê Hoàng Minh", "minh@example.edu.vn")
    group = await make_group(factory, "Lớp K66 Khoa học Máy tính", "K66-KHMT", members=[a, b])
    url = f"/api/groups/{group.id}/subscription"
    r = await client.put(url, json={"frequency": "monthly", "month_day": 1}, headers=bearer(librarian_token))
    assert r.status_code == 200 and r.json()["group_id"] == group.id and r.json()["contact_id"] is None
    r = await client.put(f"{url}/opt-outs/{b.id}", headers=bearer(librarian_token))
    assert r.status_code == 200 and r.json()["opted_out_contact_ids"] == [b.id]
    r = await client.put(f"{url}/opt-outs/{outsider.id}", headers=bearer(librarian_token))
    assert r.status_code == 400 and "contact_id" in r.json()["errors"]
    r = await client.delete(f"{url}/opt-outs/{b.id}", headers=bearer(librarian_token))
    assert r.status_code == 200 and r.json()["opted_out_contact_ids"] == []


async def test_api_list_filters(client, factory, librarian_token):
    a = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    b = await make_contact(factory, "Trần Thị Lan", "lan@example.edu.vn")
    c = await make_contact(factory, "Lê Hoàng Minh", "minh@example.edu.vn")
    now = datetime.now(UTC)
    await subscribe(factory, a, frequency="daily", hour=(now.astimezone(HCM).hour + 2) % 24)
    await subscribe(factory, b, frequency="monthly")
    await subscribe(factory, c, frequency="paused")
    headers = bearer(librarian_token)
    r = await client.get("/api/subscriptions", headers=headers)
    assert r.status_code == 200 and r.json()["total"] == 3
    assert [i["owner"]["name"] for i in (await client.get("/api/subscriptions?frequency=monthly", headers=headers)).json()["items"]] == ["Trần Thị Lan"]
    due = (await client.get("/api/subscriptions?due_within_hours=24", headers=headers)).json()["items"]
    assert [i["owner"]["name"] for i in due] == ["Nguyễn Văn An"]
    paused = (await client.get("/api/subscriptions?paused=true", headers=headers)).json()["items"]
    assert [i["owner"]["name"] for i in paused] == ["Lê Hoàng Minh"]
    assert (await client.get("/api/subscriptions?q=lan", headers=headers)).json()["total"] == 1
    assert (await client.get("/api/subscriptions?frequency=hourly", headers=headers)).status_code == 400


async def test_api_needs_a_token_for_writes_and_a_login_for_reads(client, factory, librarian):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    # Logged in by session: reads work, writes need a token (the API is out of reach of other sites).
    assert (await client.get("/api/subscriptions")).status_code == 200
    assert (await client.put(f"/api/contacts/{an.id}/subscription", json={})).status_code == 401


async def test_api_refuses_anonymous_requests(client, factory):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    assert (await client.get("/api/subscriptions")).status_code == 401
    assert (await client.get(f"/api/contacts/{an.id}/subscription")).status_code == 401
    assert (await client.put(f"/api/contacts/{an.id}/subscription", json={})).status_code == 401


# --- pages ----------------------------------------------------------------------------------


async def test_contact_page_subscribes_with_defaults_then_edits(client, factory, librarian):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    page = await client.get(f"/contacts/{an.id}/digest")
    assert page.status_code == 200
    assert "Chưa đăng ký" in page.text  # "Not subscribed yet"
    r = await form_post(client, f"/contacts/{an.id}/digest", None, {
        "frequency": "weekly", "weekday": "2", "month_day": "1", "hour": "9", "language": "vi", "max_items": "25",
        "sections": ["acquisitions", "articles"], "paused_until": ""}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/contacts/{an.id}/digest?saved=1"
    async with factory.session_maker() as s:
        sub = await s.scalar(select(Subscription).where(Subscription.contact_id == an.id))
    assert (sub.weekday, sub.hour, sub.max_items, sub.sections) == (2, 9, 25, ["acquisitions", "articles"])
    page = await client.get(f"/contacts/{an.id}/digest?saved=1")
    assert "Thứ Tư hằng tuần" in page.text and "/preferences/" in page.text
    assert f"/contacts/{an.id}/digest/preview" in page.text and f"/digests?contact_id={an.id}" in page.text
    # Contact detail page links here.
    assert f'href="/contacts/{an.id}/digest"' in (await client.get(f"/contacts/{an.id}")).text


async def test_contact_page_shows_every_problem_of_the_form(client, factory, librarian):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    r = await form_post(client, f"/contacts/{an.id}/digest", None, {
        "frequency": "weekly", "hour": "25", "max_items": "0", "paused_until": "01/01/2020", "language": "vi"})
    assert r.status_code == 400
    for message in ("0 đến 23", "1 đến 200", "Chọn ít nhất một mục", "hôm nay trở đi"):
        assert message in r.text, message
    async with factory.session_maker() as s:
        assert await s.scalar(select(Subscription)) is None


async def test_group_page_lists_members_and_takes_one_out(client, factory, librarian):
    a = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    b = await make_contact(factory, "Trần Thị Lan", "lan@example.edu.vn")
    group = await make_group(factory, "Lớp K66 Khoa học Máy tính", "K66-KHMT", members=[a, b])
    r = await form_post(client, f"/groups/{group.id}/digest", None, {
        "frequency": "monthly", "month_day": "15", "hour": "8", "language": "vi", "max_items": "30",
        "sections": ["acquisitions"]}, follow_redirects=False)
    assert r.status_code == 303
    page = await client.get(f"/groups/{group.id}/digest")
    assert "Trần Thị Lan" in page.text and "Ngày 15 hằng tháng" in page.text
    r = await client.post(f"/groups/{group.id}/digest/members/{b.id}/unsubscribe",
                          data={"_csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    page = await client.get(f"/groups/{group.id}/digest")
    assert "Đã hủy đăng ký" in page.text
    async with factory.session_maker() as s:
        assert [o.contact_id for o in await s.scalars(select(OptOut))] == [b.id]
    await client.post(f"/groups/{group.id}/digest/members/{b.id}/resubscribe", data={"_csrf_token": csrf_from(page.text)})
    async with factory.session_maker() as s:
        assert list(await s.scalars(select(OptOut))) == []
    assert f'href="/groups/{group.id}/digest"' in (await client.get(f"/groups/{group.id}")).text


async def test_deleting_a_subscription(client, factory, librarian):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    await subscribe(factory, an)
    r = await form_post(client, f"/contacts/{an.id}/digest", f"/contacts/{an.id}/digest/delete", {}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/contacts/{an.id}"
    async with factory.session_maker() as s:
        assert await s.scalar(select(Subscription)) is None


async def test_subscription_list_page_filters_and_escapes(client, factory, librarian):
    evil = await make_contact(factory, "<script>alert(1)</script> Hà", "evil@example.edu.vn")
    calm = await make_contact(factory, "Trần Thị Lan", "lan@example.edu.vn")
    await subscribe(factory, evil, frequency="daily")
    await subscribe(factory, calm, frequency="paused")
    page = await client.get("/digests/subscriptions")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
    assert "Trần Thị Lan" in page.text
    page = await client.get("/digests/subscriptions?paused=1")
    assert "Trần Thị Lan" in page.text and "evil" not in page.text and "&lt;script&gt;" not in page.text
    page = await client.get("/digests/subscriptions?frequency=daily&due=soon&page=abc")
    assert page.status_code == 200 and "Trần Thị Lan" not in page.text
    assert 'href="/digests/subscriptions"' in (await client.get("/")).text  # the nav entry


async def test_pages_need_a_login(client, factory):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    for path in (f"/contacts/{an.id}/digest", "/digests/subscriptions"):
        r = await client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_unknown_contact_or_group_is_a_404(client, librarian):
    assert (await client.get("/contacts/987654/digest")).status_code == 404
    assert (await client.get("/groups/987654/digest")).status_code == 404


async def test_the_demo_has_subscriptions_to_show(session_maker):
    from crm.demo import build_demo

    async with session_maker() as s, s.begin():
        await build_demo(s)
    async with session_maker() as s:
        subscriptions = list((await s.scalars(select(Subscription))).unique())
        assert len(subscriptions) >= 5
        assert {sub.frequency for sub in subscriptions} == {"daily", "weekly", "monthly", "paused"}
        assert any(sub.group_id for sub in subscriptions) and any(sub.paused_until for sub in subscriptions)
        assert all(sub.next_due_at for sub in subscriptions if sub.frequency != "paused")
        assert await s.scalar(select(OptOut)) is not None
