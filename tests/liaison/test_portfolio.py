"""My portfolio: units with their sub-units, groups, and the people in them; units nobody serves."""

from datetime import date, timedelta

import pytest

from crm.liaison.models import LiaisonAssignment
from tests.conftest import bearer, login
from tests.liaison.people import make_contact, make_group

TODAY = date.today()


@pytest.fixture
async def campus(factory):
    """A faculty with a department under it, another faculty, and a group of the other faculty."""
    thu = await factory.user(email="thu@example.edu.vn", full_name="Trần Thị Thu")
    thu_token = await factory.token(thu)
    uni = await factory.unit(code="DHX", name_vi="Đại học X", kind="university")
    cntt = await factory.unit(code="CNTT", name_vi="Khoa Công nghệ Thông tin", parent_id=uni.id)
    khmt = await factory.unit(code="KHMT", name_vi="Bộ môn Khoa học máy tính", kind="department", parent_id=cntt.id)
    nn = await factory.unit(code="NN", name_vi="Khoa Ngoại ngữ", parent_id=uni.id)
    luat = await factory.unit(code="LUAT", name_vi="Khoa Luật", parent_id=uni.id)
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn", cntt.id)
    binh = await make_contact(factory, "Lê Thị Bình", "binh@example.edu.vn", khmt.id)
    cuong = await make_contact(factory, "Phạm Văn Cường", "cuong@example.edu.vn", nn.id)
    dung = await make_contact(factory, "Hoàng Thị Dung", "dung@example.edu.vn", nn.id)
    giang = await make_contact(factory, "Vũ Văn Giang", "giang@example.edu.vn", luat.id)
    club = await make_group(factory, "CLB Tiếng Anh", "CLB-EN", nn.id, members=[cuong])
    await factory.add(
        LiaisonAssignment(librarian_id=thu.id, unit_id=cntt.id, role="primary", start_date=TODAY - timedelta(days=100)),
        LiaisonAssignment(librarian_id=thu.id, group_id=club.id, role="backup", start_date=TODAY - timedelta(days=10)),
        # Ended yesterday: Khoa Luật is no longer in the portfolio.
        LiaisonAssignment(librarian_id=thu.id, unit_id=luat.id, role="primary", start_date=TODAY - timedelta(days=400),
                          end_date=TODAY - timedelta(days=1)),
    )
    return {"thu": thu, "token": thu_token, "uni": uni, "cntt": cntt, "khmt": khmt, "nn": nn, "luat": luat,
            "an": an, "binh": binh, "cuong": cuong, "dung": dung, "giang": giang, "club": club}


async def test_api_portfolio_includes_sub_units_and_group_members_not_ended_assignments(client, campus):
    r = await client.get("/api/portfolio", headers=bearer(campus["token"]))
    assert r.status_code == 200, r.text
    body = r.json()
    people = {p["full_name"] for p in body["people"]}
    assert people == {"Nguyễn Văn An", "Lê Thị Bình", "Phạm Văn Cường"}
    assert body["people_total"] == 3
    targets = {(t["kind"], t["id"]): t for t in body["targets"]}
    assert targets[("unit", campus["cntt"].id)]["role"] == "primary"
    assert targets[("unit", campus["khmt"].id)]["role"] is None
    assert targets[("unit", campus["khmt"].id)]["via_unit_id"] == campus["cntt"].id
    assert targets[("group", campus["club"].id)]["role"] == "backup"
    assert targets[("group", campus["club"].id)]["contacts"] == 1
    assert ("unit", campus["luat"].id) not in targets and ("unit", campus["nn"].id) not in targets


async def test_portfolio_page(client, campus):
    await login(client, campus["thu"].email)
    r = await client.get("/portfolio")
    assert r.status_code == 200
    for name in ("Khoa Công nghệ Thông tin", "Bộ môn Khoa học máy tính", "CLB Tiếng Anh", "Nguyễn Văn An", "Lê Thị Bình", "Phạm Văn Cường"):
        assert name in r.text, name
    for name in ("Khoa Luật", "Vũ Văn Giang", "Hoàng Thị Dung"):
        assert name not in r.text, name
    # A librarian has no "units with no liaison" section, and cannot look at another portfolio.
    assert "/assignments/new?unit_id=" not in r.text
    other = await client.get(f"/portfolio?librarian_id={campus['thu'].id + 1000}")
    assert other.status_code == 403


async def test_empty_portfolio(client, librarian):
    r = await client.get("/portfolio")
    assert r.status_code == 200
    assert "Nguyễn" not in r.text
    r = await client.get("/api/portfolio")
    assert r.json()["targets"] == [] and r.json()["people_total"] == 0


async def test_admin_sees_any_portfolio_and_the_unassigned_units(client, factory, admin, admin_token, campus):
    r = await client.get(f"/api/portfolio?librarian_id={campus['thu'].id}", headers=bearer(admin_token))
    assert r.status_code == 200 and r.json()["librarian_name"] == "Trần Thị Thu"
    assert r.json()["people_total"] == 3

    r = await client.get("/api/units/unassigned", headers=bearer(admin_token))
    assert r.status_code == 200
    rows = {u["code"]: u for u in r.json()}
    # CNTT has a liaison; its department is served through it; the others have nobody.
    assert "CNTT" not in rows
    assert rows["KHMT"]["covered_by_unit_id"] == campus["cntt"].id
    assert rows["NN"]["covered_by_unit_id"] is None
    assert rows["LUAT"]["covered_by_unit_id"] is None  # its assignment has ended
    assert rows["DHX"]["covered_by_unit_id"] is None

    r = await client.get(f"/portfolio?librarian_id={campus['thu'].id}")
    assert r.status_code == 200
    section = r.text.split('id="h-unassigned"')[1]
    assert "Khoa Ngoại ngữ" in section and "Khoa Luật" in section and f"/assignments/new?unit_id={campus['nn'].id}" in section
    assert f"/assignments/new?unit_id={campus['cntt'].id}\"" not in section


async def test_unassigned_units_is_for_admins_only(client, librarian_token):
    assert (await client.get("/api/units/unassigned")).status_code == 401
    assert (await client.get("/api/units/unassigned", headers=bearer(librarian_token))).status_code == 403
    assert (await client.get("/api/portfolio")).status_code == 401


async def test_librarian_cannot_read_another_portfolio_through_the_api(client, factory, librarian_token, campus):
    r = await client.get(f"/api/portfolio?librarian_id={campus['thu'].id}", headers=bearer(librarian_token))
    assert r.status_code == 403


async def test_anonymous_portfolio_page_redirects_to_login(client):
    r = await client.get("/portfolio", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
