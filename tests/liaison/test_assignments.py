"""Liaison assignments: admins decide who serves which unit or group; librarians read."""

from datetime import date, timedelta

import pytest

from tests.conftest import bearer, form_post
from tests.liaison.people import make_group

TODAY = date.today()


@pytest.fixture
async def world(factory):
    thu = await factory.user(email="thu@example.edu.vn", full_name="Trần Thị Thu")
    cntt = await factory.unit()
    k65 = await make_group(factory, "Lớp K65", "K65", cntt.id)
    return {"thu": thu, "cntt": cntt, "k65": k65}


async def test_reads_need_a_login_and_writes_need_an_admin(client, librarian_token, world):
    assert (await client.get("/api/assignments")).status_code == 401
    r = await client.get("/assignments", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert (await client.get("/api/assignments", headers=bearer(librarian_token))).status_code == 200
    body = {"librarian_id": world["thu"].id, "unit_id": world["cntt"].id}
    assert (await client.post("/api/assignments", json=body, headers=bearer(librarian_token))).status_code == 403


async def test_api_crud(client, admin_token, librarian_token, world):
    body = {"librarian_id": world["thu"].id, "unit_id": world["cntt"].id, "role": "primary",
            "start_date": "2025-09-01", "notes": "Phụ trách khoa CNTT"}
    r = await client.post("/api/assignments", json=body, headers=bearer(admin_token))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["librarian_name"] == "Trần Thị Thu" and created["unit_name"] == "Khoa Công nghệ Thông tin"
    assert created["is_current"] is True and created["group_id"] is None
    aid = created["id"]

    # A librarian may read but not change.
    assert (await client.get(f"/api/assignments/{aid}", headers=bearer(librarian_token))).status_code == 200
    assert (await client.patch(f"/api/assignments/{aid}", json={"role": "backup"}, headers=bearer(librarian_token))).status_code == 403
    assert (await client.delete(f"/api/assignments/{aid}", headers=bearer(librarian_token))).status_code == 403

    r = await client.patch(f"/api/assignments/{aid}", json={"role": "backup", "end_date": (TODAY - timedelta(days=1)).isoformat()},
                           headers=bearer(admin_token))
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "backup" and r.json()["is_current"] is False

    r = await client.get("/api/assignments", params={"current": "true"}, headers=bearer(admin_token))
    assert r.json() == []
    r = await client.get("/api/assignments", params={"librarian_id": world["thu"].id}, headers=bearer(admin_token))
    assert [a["id"] for a in r.json()] == [aid]

    # Switch it from the unit to a group.
    r = await client.patch(f"/api/assignments/{aid}", json={"unit_id": None, "group_id": world["k65"].id},
                           headers=bearer(admin_token))
    assert r.status_code == 200 and r.json()["group_name"] == "Lớp K65 (K65)"

    assert (await client.delete(f"/api/assignments/{aid}", headers=bearer(admin_token))).status_code == 204
    assert (await client.get(f"/api/assignments/{aid}", headers=bearer(admin_token))).status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"unit_id": None}, "unit_id"),  # neither unit nor group
        ({"group_id": "k65"}, "unit_id"),  # both
        ({"unit_id": 999999}, "unit_id"),
        ({"unit_id": None, "group_id": 999999}, "group_id"),
        ({"librarian_id": 999999}, "librarian_id"),
        ({"start_date": "2025-09-01", "end_date": "2025-08-31"}, "end_date"),
        ({"role": "boss"}, "role"),
    ],
)
async def test_bad_input_names_the_field(client, admin_token, world, change, field):
    body = {"librarian_id": world["thu"].id, "unit_id": world["cntt"].id}
    body.update({k: (world["k65"].id if v == "k65" else v) for k, v in change.items()})
    r = await client.post("/api/assignments", json=body, headers=bearer(admin_token))
    assert r.status_code == 400, r.text
    assert field in r.json()["errors"], r.json()


async def test_end_before_start_on_update(client, admin_token, world):
    r = await client.post("/api/assignments", json={"librarian_id": world["thu"].id, "unit_id": world["cntt"].id,
                                                    "start_date": "2025-09-01"}, headers=bearer(admin_token))
    r = await client.patch(f"/api/assignments/{r.json()['id']}", json={"end_date": "2025-01-01"}, headers=bearer(admin_token))
    assert r.status_code == 400 and "end_date" in r.json()["errors"]


async def test_pages_for_admins(client, admin, world):
    r = await client.get(f"/assignments/new?unit_id={world['cntt'].id}")
    assert r.status_code == 200
    r = await form_post(client, "/assignments/new", None,
                        {"librarian_id": str(world["thu"].id), "unit_id": str(world["cntt"].id), "role": "primary",
                         "start_date": "01/09/2025", "end_date": "31/08/2025"})
    assert r.status_code == 400 and 'id="e-end_date"' in r.text
    r = await form_post(client, "/assignments/new", None,
                        {"librarian_id": str(world["thu"].id), "unit_id": str(world["cntt"].id), "group_id": str(world["k65"].id),
                         "role": "primary", "start_date": "01/09/2025"})
    assert r.status_code == 400 and 'id="e-unit_id"' in r.text
    r = await form_post(client, "/assignments/new", None,
                        {"librarian_id": str(world["thu"].id), "unit_id": str(world["cntt"].id), "role": "backup",
                         "start_date": "01/09/2025", "notes": "<script>x</script>"}, follow_redirects=False)
    assert r.status_code == 303
    r = await client.get("/assignments")
    assert "Trần Thị Thu" in r.text and "01/09/2025" in r.text and "<script>x</script>" not in r.text

    r = await client.get(f"/api/assignments", headers={})  # the page session cannot write to the API but may read
    aid = r.json()[0]["id"]
    r = await form_post(client, f"/assignments/{aid}/edit", None,
                        {"librarian_id": str(world["thu"].id), "group_id": str(world["k65"].id), "role": "primary",
                         "start_date": "2025-09-01", "end_date": "2026-06-30"}, follow_redirects=False)
    assert r.status_code == 303
    r = await client.get("/assignments")
    assert "Lớp K65" in r.text and "30/06/2026" in r.text

    r = await form_post(client, "/assignments", f"/assignments/{aid}/delete", {}, follow_redirects=False)
    assert r.status_code == 303
    assert "Trần Thị Thu" not in (await client.get("/assignments")).text.split("<tbody>")[1]


async def test_librarians_see_the_list_but_not_the_admin_pages(client, factory, librarian, world):
    r = await client.get("/assignments")
    assert r.status_code == 200 and "/assignments/new" not in r.text
    assert (await client.get("/assignments/new")).status_code == 403
    r = await form_post(client, "/assignments", "/assignments/new", {"librarian_id": str(world["thu"].id),
                                                                     "unit_id": str(world["cntt"].id)})
    assert r.status_code == 403


async def test_filters_on_the_page(client, factory, admin, admin_token, world):
    other = await factory.unit(code="NN", name_vi="Khoa Ngoại ngữ")
    for unit, end in ((world["cntt"], None), (other, (TODAY - timedelta(days=3)).isoformat())):
        r = await client.post("/api/assignments", json={"librarian_id": world["thu"].id, "unit_id": unit.id,
                                                        "start_date": "2024-01-01", "end_date": end}, headers=bearer(admin_token))
        assert r.status_code == 201
    body = (await client.get("/assignments?current=1")).text.split("<tbody>")[1]
    assert "Khoa Công nghệ Thông tin" in body and "Khoa Ngoại ngữ" not in body
    body = (await client.get(f"/assignments?unit_id={other.id}")).text.split("<tbody>")[1]
    assert "Khoa Ngoại ngữ" in body and "Khoa Công nghệ Thông tin" not in body
