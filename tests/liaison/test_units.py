"""Units: the university tree, through the API and the pages; writes are for administrators."""

from tests.conftest import bearer, form_post


async def test_unit_crud_through_the_api(client, admin_token):
    h = bearer(admin_token)
    r = await client.post("/api/units", json={"code": "DHQG", "name_vi": "Đại học Quốc gia", "kind": "university"}, headers=h)
    assert r.status_code == 201, r.text
    root = r.json()
    r = await client.post("/api/units", json={"code": "CNTT", "name_vi": "Khoa Công nghệ Thông tin",
                                              "name_en": "Faculty of IT", "kind": "faculty", "parent_id": root["id"]}, headers=h)
    faculty = r.json()
    assert faculty["parent_code"] == "DHQG"

    r = await client.patch(f"/api/units/{faculty['id']}", json={"name_en": "Faculty of Information Technology"}, headers=h)
    assert r.status_code == 200 and r.json()["name_en"] == "Faculty of Information Technology"
    assert r.json()["name_vi"] == "Khoa Công nghệ Thông tin"

    listed = (await client.get("/api/units", params={"q": "cong nghe"}, headers=h)).json()
    assert [u["code"] for u in listed] == ["CNTT"]

    # A unit with sub-units cannot be deleted; a leaf can.
    r = await client.delete(f"/api/units/{root['id']}", headers=h)
    assert r.status_code == 409
    assert (await client.delete(f"/api/units/{faculty['id']}", headers=h)).status_code == 204
    assert (await client.get(f"/api/units/{faculty['id']}", headers=h)).status_code == 404


async def test_unit_input_errors(client, admin_token, factory):
    h = bearer(admin_token)
    root = await factory.unit(code="DH", name_vi="Đại học", kind="university")
    child = await factory.unit(code="K1", name_vi="Khoa 1", parent_id=root.id)
    cases = [
        ({"code": "dh", "name_vi": "Trùng mã"}, 409, "code"),  # codes are unique ignoring case
        ({"code": "X1", "name_vi": "Không cha", "parent_id": 9999}, 400, "parent_id"),
        ({"code": "X2", "name_vi": "Sai loại", "kind": "galaxy"}, 400, "kind"),
        ({"code": "X 3", "name_vi": "Mã có dấu cách"}, 400, "code"),
        ({"code": "X4", "name_vi": "x" * 300}, 400, "name_vi"),
        ({"code": "X5"}, 400, "name_vi"),
        ({"code": "X6", "name_vi": "Sai kiểu", "parent_id": "abc"}, 400, "parent_id"),
    ]
    for body, status, field in cases:
        r = await client.post("/api/units", json=body, headers=h)
        assert r.status_code == status, (body, r.text)
        assert field in r.json()["errors"], (body, r.json())
    # Moving a unit under its own descendant would make a cycle.
    r = await client.patch(f"/api/units/{root.id}", json={"parent_id": child.id}, headers=h)
    assert r.status_code == 400 and "parent_id" in r.json()["errors"]


async def test_librarians_read_units_but_only_admins_write(client, librarian_token, factory):
    unit = await factory.unit()
    h = bearer(librarian_token)
    assert (await client.get("/api/units", headers=h)).status_code == 200
    assert (await client.post("/api/units", json={"code": "A", "name_vi": "A"}, headers=h)).status_code == 403
    assert (await client.patch(f"/api/units/{unit.id}", json={"name_vi": "B"}, headers=h)).status_code == 403
    assert (await client.delete(f"/api/units/{unit.id}", headers=h)).status_code == 403


async def test_unit_pages(client, admin, factory):
    root = await factory.unit(code="DH", name_vi="Đại học Khoa học", kind="university")
    r = await form_post(client, "/units/new", None, {"code": "NV", "name_vi": "Khoa Ngữ văn", "kind": "faculty",
                                                     "parent_id": str(root.id)}, follow_redirects=False)
    assert r.status_code == 303
    detail = await client.get(r.headers["location"])
    assert "Khoa Ngữ văn" in detail.text and "Đại học Khoa học" in detail.text
    assert "Chưa có cán bộ thư viện phụ trách" in detail.text  # no liaison yet

    tree = await client.get("/units")
    assert tree.text.index("Đại học Khoa học") < tree.text.index("Khoa Ngữ văn")
    found = await client.get("/units", params={"q": "ngu van"})
    assert "Khoa Ngữ văn" in found.text

    r = await form_post(client, "/units/new", None, {"code": "", "name_vi": "", "kind": "faculty"})
    assert r.status_code == 400
    assert r.text.count("Trường này là bắt buộc") >= 2

    r = await form_post(client, f"/units/{root.id}/edit", None, {"code": "DH", "name_vi": "Đại học Khoa học Tự nhiên", "kind": "university"},
                        follow_redirects=False)
    assert r.status_code == 303
    r = await form_post(client, f"/units/{root.id}", f"/units/{root.id}/delete", {})
    assert r.status_code == 409  # it has a sub-unit


async def test_unit_pages_need_login_and_admin_for_writes(client, factory, librarian):
    unit = await factory.unit()
    assert (await client.get("/units")).status_code == 200
    assert (await client.get(f"/units/{unit.id}")).status_code == 200
    assert (await client.get("/units/new")).status_code == 403
    assert (await client.get(f"/units/{unit.id}/edit")).status_code == 403


async def test_unit_pages_redirect_anonymous_users(client, factory):
    unit = await factory.unit()
    for path in ("/units", f"/units/{unit.id}"):
        r = await client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_unknown_unit_is_404(client, librarian):
    assert (await client.get("/units/424242")).status_code == 404
