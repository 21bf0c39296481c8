"""Interactions: the contact log with follow-ups, through the API and the pages."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from crm.liaison.models import Interaction
from tests.conftest import bearer, csrf_from, form_post, login
from tests.liaison.people import make_contact, make_group

TODAY = date.today()


@pytest.fixture
async def people(factory):
    unit = await factory.unit()
    an = await make_contact(factory, "Nguyễn Văn An", "an.nv@example.edu.vn", unit.id)
    lan = await make_contact(factory, "Trần Thị Lan", "lan.tt@example.edu.vn", unit.id)
    k65 = await make_group(factory, "Lớp K65 Khoa học máy tính", "K65-KHMT", unit.id, members=[lan])
    return {"unit": unit, "an": an, "lan": lan, "k65": k65}


def payload(people, **overrides):
    body = {"occurred_on": TODAY.isoformat(), "kind": "consultation", "subject": "Tư vấn tài liệu cho luận văn",
            "contact_ids": [people["an"].id], "notes": "Cần nguồn về học máy"}
    body.update(overrides)
    return body


async def create(client, token, people, **overrides):
    r = await client.post("/api/interactions", json=payload(people, **overrides), headers=bearer(token))
    assert r.status_code == 201, r.text
    return r.json()


async def other_librarian_token(factory):
    user = await factory.user(email="hoa@example.edu.vn", full_name="Phạm Thị Hoa")
    return user, await factory.token(user)


async def test_anonymous_gets_401_from_the_api_and_the_login_page_from_pages(client):
    assert (await client.get("/api/interactions")).status_code == 401
    assert (await client.post("/api/interactions", json={})).status_code == 401
    r = await client.get("/interactions", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    r = await client.get("/interactions/new", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_api_crud_defaults_to_the_recording_librarian(client, factory, librarian_token, people):
    created = await create(client, librarian_token, people, group_ids=[people["k65"].id])
    assert created["librarian_name"] == "Thủ thư API"
    assert [c["id"] for c in created["contacts"]] == [people["an"].id]
    assert [g["id"] for g in created["groups"]] == [people["k65"].id]
    assert created["follow_up_done"] is False

    iid = created["id"]
    r = await client.get(f"/api/interactions/{iid}", headers=bearer(librarian_token))
    assert r.status_code == 200 and r.json()["subject"] == "Tư vấn tài liệu cho luận văn"

    r = await client.patch(f"/api/interactions/{iid}", json={"contact_ids": [people["lan"].id], "outcome": "Gửi danh mục"},
                           headers=bearer(librarian_token))
    assert r.status_code == 200, r.text
    assert [c["name"] for c in r.json()["contacts"]] == ["Trần Thị Lan"]
    assert r.json()["outcome"] == "Gửi danh mục" and r.json()["notes"] == "Cần nguồn về học máy"

    r = await client.delete(f"/api/interactions/{iid}", headers=bearer(librarian_token))
    assert r.status_code == 204
    assert (await client.get(f"/api/interactions/{iid}", headers=bearer(librarian_token))).status_code == 404


async def test_list_filters(client, factory, librarian_token, people):
    hoa, hoa_token = await other_librarian_token(factory)
    a = await create(client, librarian_token, people, occurred_on=(TODAY - timedelta(days=30)).isoformat(), kind="meeting")
    b = await create(client, librarian_token, people, contact_ids=[], group_ids=[people["k65"].id], kind="training",
                     occurred_on=(TODAY - timedelta(days=2)).isoformat(), follow_up_on=(TODAY - timedelta(days=1)).isoformat())
    c = await create(client, hoa_token, people, contact_ids=[people["lan"].id],
                     follow_up_on=(TODAY + timedelta(days=3)).isoformat())

    async def ids(**params):
        r = await client.get("/api/interactions", params=params, headers=bearer(librarian_token))
        assert r.status_code == 200, r.text
        return {i["id"] for i in r.json()["items"]}

    assert await ids() == {a["id"], b["id"], c["id"]}
    assert await ids(contact_id=people["an"].id) == {a["id"]}
    assert await ids(group_id=people["k65"].id) == {b["id"]}
    assert await ids(kind="training") == {b["id"]}
    assert await ids(librarian_id=hoa.id) == {c["id"]}
    assert await ids(date_from=(TODAY - timedelta(days=7)).isoformat()) == {b["id"], c["id"]}
    assert await ids(date_to=(TODAY - timedelta(days=7)).isoformat()) == {a["id"]}
    assert await ids(follow_up="open") == {b["id"], c["id"]}
    assert await ids(follow_up="due") == {b["id"]}
    r = await client.get("/api/interactions", params={"kind": "dinner"}, headers=bearer(librarian_token))
    assert r.status_code == 400


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"contact_ids": [999999]}, "contact_ids"),
        ({"group_ids": [888888]}, "group_ids"),
        ({"contact_ids": [], "group_ids": []}, "contact_ids"),
        ({"follow_up_on": (TODAY - timedelta(days=1)).isoformat()}, "follow_up_on"),
        ({"kind": "dinner"}, "kind"),
        ({"subject": ""}, "subject"),
        ({"subject": "   "}, "subject"),
        ({"occurred_on": "04/13/2025"}, "occurred_on"),
        ({"librarian_id": 424242}, "librarian_id"),
        ({"contact_ids": [2**64]}, "contact_ids"),
    ],
)
async def test_bad_input_names_the_field(client, librarian_token, people, overrides, field):
    r = await client.post("/api/interactions", json=payload(people, **overrides), headers=bearer(librarian_token))
    assert r.status_code == 400, r.text
    assert field in r.json()["errors"], r.json()


async def test_out_of_range_ids_are_refused_not_crashed(client, librarian_token):
    huge = "99999999999999999999999"
    for url in (f"/api/interactions/{huge}", f"/api/interactions?contact_id={huge}", f"/api/interactions?page={huge}",
                f"/api/interactions/participants?unit_id={huge}"):
        r = await client.get(url, headers=bearer(librarian_token))
        assert r.status_code == 400, url


async def test_unknown_ids_are_named_in_the_message(client, librarian_token, people):
    r = await client.post("/api/interactions", json=payload(people, contact_ids=[people["an"].id, 999999]),
                          headers=bearer(librarian_token))
    assert r.status_code == 400 and "999999" in r.json()["errors"]["contact_ids"]


async def test_follow_up_before_the_date_is_refused_on_update_too(client, librarian_token, people):
    created = await create(client, librarian_token, people, occurred_on="2025-11-04")
    r = await client.patch(f"/api/interactions/{created['id']}", json={"follow_up_on": "2025-11-01"}, headers=bearer(librarian_token))
    assert r.status_code == 400 and "follow_up_on" in r.json()["errors"]
    r = await client.patch(f"/api/interactions/{created['id']}", json={"contact_ids": []}, headers=bearer(librarian_token))
    assert r.status_code == 400 and "contact_ids" in r.json()["errors"]


async def test_only_the_author_or_an_admin_may_change_an_interaction(client, factory, librarian_token, admin_token, people):
    hoa, hoa_token = await other_librarian_token(factory)
    created = await create(client, librarian_token, people, follow_up_on=TODAY.isoformat())
    iid = created["id"]
    # Another librarian reads it but may not change it.
    assert (await client.get(f"/api/interactions/{iid}", headers=bearer(hoa_token))).status_code == 200
    assert (await client.patch(f"/api/interactions/{iid}", json={"subject": "x"}, headers=bearer(hoa_token))).status_code == 403
    assert (await client.delete(f"/api/interactions/{iid}", headers=bearer(hoa_token))).status_code == 403
    assert (await client.post(f"/api/interactions/{iid}/follow-up/done", headers=bearer(hoa_token))).status_code == 403
    # …nor record one in someone else's name.
    r = await client.post("/api/interactions", json=payload(people, librarian_id=created["librarian_id"]), headers=bearer(hoa_token))
    assert r.status_code == 400 and "librarian_id" in r.json()["errors"]
    # An administrator may do all of it, and hand it to another librarian.
    r = await client.patch(f"/api/interactions/{iid}", json={"librarian_id": hoa.id}, headers=bearer(admin_token))
    assert r.status_code == 200 and r.json()["librarian_name"] == "Phạm Thị Hoa"
    assert (await client.patch(f"/api/interactions/{iid}", json={"subject": "Mới"}, headers=bearer(hoa_token))).status_code == 200
    assert (await client.delete(f"/api/interactions/{iid}", headers=bearer(admin_token))).status_code == 204


async def test_mark_follow_up_done(client, librarian_token, people):
    created = await create(client, librarian_token, people, follow_up_on=(TODAY + timedelta(days=2)).isoformat(),
                           follow_up_note="Gửi thư mục tài liệu mới")
    r = await client.post(f"/api/interactions/{created['id']}/follow-up/done", headers=bearer(librarian_token))
    assert r.status_code == 200 and r.json()["follow_up_done"] is True
    plain = await create(client, librarian_token, people)
    r = await client.post(f"/api/interactions/{plain['id']}/follow-up/done", headers=bearer(librarian_token))
    assert r.status_code == 400 and "follow_up_on" in r.json()["errors"]


async def test_participant_search_ignores_diacritics_and_follows_sub_units(client, factory, librarian_token, people):
    dept = await factory.unit(code="KHMT", name_vi="Bộ môn Khoa học máy tính", kind="department", parent_id=people["unit"].id)
    binh = await make_contact(factory, "Lê Thị Bình", "binh@example.edu.vn", dept.id)
    r = await client.get("/api/interactions/participants", params={"q": "nguyen van"}, headers=bearer(librarian_token))
    assert [c["id"] for c in r.json()["contacts"]] == [people["an"].id]
    r = await client.get("/api/interactions/participants", params={"q": "k65"}, headers=bearer(librarian_token))
    assert [g["id"] for g in r.json()["groups"]] == [people["k65"].id]
    r = await client.get("/api/interactions/participants", params={"unit_id": people["unit"].id}, headers=bearer(librarian_token))
    assert {c["id"] for c in r.json()["contacts"]} == {people["an"].id, people["lan"].id, binh.id}


# --- pages ------------------------------------------------------------------------------------


async def test_record_an_interaction_through_the_pages(client, librarian, people):
    r = await client.get(f"/interactions/new?contact_id={people['an'].id}")
    assert r.status_code == 200
    assert f'name="contact_ids" value="{people["an"].id}" checked' in r.text

    form = {"occurred_on": "04/11/2025", "kind": "training", "subject": "Đào tạo kỹ năng thông tin",
            "contact_ids": [str(people["an"].id)], "group_ids": [str(people["k65"].id)],
            "follow_up_on": "2025-11-20", "follow_up_note": "Gửi <b>slide</b>"}
    r = await form_post(client, "/interactions/new", None, form, follow_redirects=False)
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    r = await client.get(location)
    assert "Đào tạo kỹ năng thông tin" in r.text and "04/11/2025" in r.text
    assert "Lớp K65 Khoa học máy tính" in r.text and "Nguyễn Văn An" in r.text
    assert "Gửi &lt;b&gt;slide&lt;/b&gt;" in r.text and "<b>slide</b>" not in r.text

    iid = int(location.rsplit("/", 1)[1])
    r = await form_post(client, f"/interactions/{iid}/edit", None,
                        {"occurred_on": "2025-11-04", "kind": "training", "subject": "Tập huấn sử dụng thư viện",
                         "contact_ids": [str(people["lan"].id)]}, follow_redirects=False)
    assert r.status_code == 303, r.text
    r = await client.get(f"/interactions/{iid}")
    assert "Tập huấn sử dụng thư viện" in r.text and "Trần Thị Lan" in r.text and "Nguyễn Văn An" not in r.text

    r = await client.get("/interactions")
    assert "Tập huấn sử dụng thư viện" in r.text
    r = await client.get(f"/interactions?contact_id={people['an'].id}")
    assert "Tập huấn sử dụng thư viện" not in r.text

    r = await form_post(client, f"/interactions/{iid}", f"/interactions/{iid}/delete", {}, follow_redirects=False)
    assert r.status_code == 303
    assert (await client.get(f"/interactions/{iid}")).status_code == 404


async def test_form_shows_every_error_at_once(client, librarian, people):
    form = {"occurred_on": "2025-11-04", "kind": "meeting", "subject": "", "follow_up_on": "2025-11-01"}
    r = await form_post(client, "/interactions/new", None, form)
    assert r.status_code == 400
    assert 'id="e-subject"' in r.text and 'id="e-follow_up_on"' in r.text
    assert "Chọn ít nhất một người dùng tin hoặc nhóm" in r.text
    assert 'value="2025-11-01"' in r.text  # what was typed comes back


async def test_find_participants_without_javascript_keeps_the_form(client, librarian, people):
    form = {"occurred_on": "2025-11-04", "kind": "meeting", "subject": "Gặp gỡ khoa",
            "contact_ids": [str(people["an"].id)], "participant_q": "tran thi", "_find": "1"}
    r = await form_post(client, "/interactions/new", None, form)
    assert r.status_code == 200
    assert 'value="Gặp gỡ khoa"' in r.text
    assert f'name="contact_ids" value="{people["an"].id}" checked' in r.text
    assert f'name="contact_ids" value="{people["lan"].id}">' in r.text


async def test_pages_refuse_changes_to_someone_elses_interaction(client, factory, librarian_token, people):
    created = await create(client, librarian_token, people, follow_up_on=TODAY.isoformat())
    hoa = await factory.user(email="hoa@example.edu.vn", full_name="Phạm Thị Hoa")
    await login(client, hoa.email)
    iid = created["id"]
    r = await client.get(f"/interactions/{iid}")
    assert r.status_code == 200 and "/edit" not in r.text and "follow-up/done" not in r.text
    assert (await client.get(f"/interactions/{iid}/edit")).status_code == 403
    token = csrf_from(r.text)
    for url in (f"/interactions/{iid}/edit", f"/interactions/{iid}/delete", f"/interactions/{iid}/follow-up/done"):
        r = await client.post(url, data={"_csrf_token": token, "subject": "x"})
        assert r.status_code == 403, url
    async with factory.session_maker() as s:
        row = await s.scalar(select(Interaction).where(Interaction.id == iid))
        assert row is not None and row.follow_up_done is False


async def test_mark_done_from_the_detail_page(client, factory, people):
    user = await factory.user()
    token = await factory.token(user)
    await login(client, user.email)
    created = await create(client, token, people, follow_up_on=TODAY.isoformat())
    r = await client.get(f"/interactions/{created['id']}")
    assert f"/interactions/{created['id']}/follow-up/done" in r.text
    r = await form_post(client, f"/interactions/{created['id']}", f"/interactions/{created['id']}/follow-up/done",
                        {"next": "https://evil.example/"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/interactions/{created['id']}"
    r = await client.get(f"/interactions?follow_up=open")
    assert "Tư vấn tài liệu" not in r.text
