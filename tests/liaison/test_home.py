"""The home page: my follow-ups due, and recent activity in my portfolio."""

from datetime import date, timedelta

import pytest

from crm.liaison.models import LiaisonAssignment
from tests.conftest import bearer, csrf_from, login
from tests.liaison.people import make_contact, make_group

TODAY = date.today()


@pytest.fixture
async def setting(factory):
    thu = await factory.user(email="thu@example.edu.vn", full_name="Trần Thị Thu")
    hoa = await factory.user(email="hoa@example.edu.vn", full_name="Phạm Thị Hoa")
    cntt = await factory.unit()
    khmt = await factory.unit(code="KHMT", name_vi="Bộ môn Khoa học máy tính", kind="department", parent_id=cntt.id)
    nn = await factory.unit(code="NN", name_vi="Khoa Ngoại ngữ")
    binh = await make_contact(factory, "Lê Thị Bình", "binh@example.edu.vn", khmt.id)
    cuong = await make_contact(factory, "Phạm Văn Cường", "cuong@example.edu.vn", nn.id)
    k65 = await make_group(factory, "Lớp K65", "K65", None)
    await factory.add(
        LiaisonAssignment(librarian_id=thu.id, unit_id=cntt.id, role="primary", start_date=TODAY - timedelta(days=30)),
        LiaisonAssignment(librarian_id=thu.id, group_id=k65.id, role="primary", start_date=TODAY - timedelta(days=30)),
    )
    return {"thu": thu, "thu_token": await factory.token(thu), "hoa_token": await factory.token(hoa),
            "binh": binh, "cuong": cuong, "k65": k65}


async def record(client, token, **body):
    base = {"occurred_on": (TODAY - timedelta(days=20)).isoformat(), "kind": "meeting"}
    r = await client.post("/api/interactions", json={**base, **body}, headers=bearer(token))
    assert r.status_code == 201, r.text
    return r.json()


async def test_anonymous_home_redirects_to_login(client):
    r = await client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_follow_ups_due_show_until_marked_done(client, setting):
    s = setting
    overdue = await record(client, s["thu_token"], subject="Gặp trưởng bộ môn", contact_ids=[s["binh"].id],
                           follow_up_on=(TODAY - timedelta(days=2)).isoformat(), follow_up_note="Gửi danh mục tài liệu tham khảo")
    today = await record(client, s["thu_token"], subject="Buổi tư vấn luận văn", contact_ids=[s["binh"].id],
                         follow_up_on=TODAY.isoformat(), follow_up_note="Hẹn liên hệ lại")
    soon = await record(client, s["thu_token"], subject="Tập huấn K65", group_ids=[s["k65"].id],
                        follow_up_on=(TODAY + timedelta(days=6)).isoformat(), follow_up_note="Gửi khảo sát")
    await record(client, s["thu_token"], subject="Xa", contact_ids=[s["binh"].id],
                 follow_up_on=(TODAY + timedelta(days=9)).isoformat(), follow_up_note="Việc còn xa")
    await record(client, s["hoa_token"], subject="Của người khác", contact_ids=[s["cuong"].id],
                 follow_up_on=TODAY.isoformat(), follow_up_note="Không phải việc của Thu")

    await login(client, s["thu"].email)
    r = await client.get("/")
    assert r.status_code == 200
    section = r.text.split('id="h-follow-ups"')[1].split('id="h-recent"')[0]
    for note in ("Gửi danh mục tài liệu tham khảo", "Hẹn liên hệ lại", "Gửi khảo sát"):
        assert note in section, note
    assert "Việc còn xa" not in section and "Không phải việc của Thu" not in section
    # The overdue one is highlighted.
    overdue_part = section.split('class="overdue"')[1].split("</li>")[0]
    assert "Gửi danh mục tài liệu tham khảo" in overdue_part
    assert f"/interactions/{overdue['id']}/follow-up/done" in section

    r = await client.post(f"/interactions/{today['id']}/follow-up/done",
                          data={"_csrf_token": csrf_from(r.text), "next": "/"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    section = (await client.get("/")).text.split('id="h-follow-ups"')[1].split('id="h-recent"')[0]
    assert "Hẹn liên hệ lại" not in section
    assert "Gửi danh mục tài liệu tham khảo" in section and "Gửi khảo sát" in section
    assert soon["id"]


async def test_recent_activity_covers_the_portfolio_by_any_librarian(client, setting):
    s = setting
    await record(client, s["hoa_token"], subject="Hoa gặp Bình ở bộ môn", contact_ids=[s["binh"].id])
    await record(client, s["hoa_token"], subject="Hoa tập huấn lớp K65", group_ids=[s["k65"].id])
    await record(client, s["hoa_token"], subject="Hoa gặp Cường khoa Ngoại ngữ", contact_ids=[s["cuong"].id])
    await login(client, s["thu"].email)
    r = await client.get("/")
    recent = r.text.split('id="h-recent"')[1]
    assert "Hoa gặp Bình ở bộ môn" in recent and "Hoa tập huấn lớp K65" in recent
    assert "Hoa gặp Cường khoa Ngoại ngữ" not in recent
    assert "/interactions/new" in r.text and "/contacts/new" in r.text


async def test_home_without_portfolio(client, librarian):
    r = await client.get("/")
    assert r.status_code == 200
    assert "/interactions/new" in r.text
