"""Groups (cohorts, classes, research groups) and their members, through the API and the pages."""

from sqlalchemy import select

from crm.liaison.models import Group, group_member
from tests.conftest import bearer, form_post
from tests.liaison.people import make_contact, make_group


async def test_group_crud_and_members_through_the_api(client, librarian_token, factory):
    h = bearer(librarian_token)
    unit = await factory.unit()
    an = await make_contact(factory, "Nguyễn Văn An", "an@vnu.edu.vn")
    binh = await make_contact(factory, "Trần Văn Bình", "binh@vnu.edu.vn")
    r = await client.post("/api/groups", json={"name": "K65 Công nghệ thông tin", "code": "K65-CNTT", "kind": "cohort",
                                               "unit_id": unit.id}, headers=h)
    assert r.status_code == 201, r.text
    group = r.json()
    assert group["unit_code"] == "CNTT" and group["member_count"] == 0

    r = await client.put(f"/api/groups/{group['id']}/members", json={"contact_ids": [binh.id, an.id]}, headers=h)
    assert r.status_code == 200, r.text
    assert [c["full_name"] for c in r.json()] == ["Nguyễn Văn An", "Trần Văn Bình"]
    # A bare list works too, and replaces the whole membership.
    r = await client.put(f"/api/groups/{group['id']}/members", json=[binh.id], headers=h)
    assert [c["full_name"] for c in r.json()] == ["Trần Văn Bình"]

    r = await client.post(f"/api/groups/{group['id']}/members/{an.id}", headers=h)
    assert r.status_code == 200 and len(r.json()) == 2
    r = await client.post(f"/api/groups/{group['id']}/members/{an.id}", headers=h)  # twice: still one membership
    assert len(r.json()) == 2
    assert (await client.get(f"/api/groups/{group['id']}", headers=h)).json()["member_count"] == 2
    assert (await client.delete(f"/api/groups/{group['id']}/members/{binh.id}", headers=h)).status_code == 204
    members = (await client.get(f"/api/groups/{group['id']}/members", headers=h)).json()
    assert [c["email"] for c in members] == ["an@vnu.edu.vn"]

    r = await client.patch(f"/api/groups/{group['id']}", json={"name": "Nhóm nghiên cứu Đa dạng sinh học",
                                                                "kind": "research_group", "code": None}, headers=h)
    assert r.status_code == 200 and r.json()["code"] is None and r.json()["member_count"] == 1

    assert (await client.delete(f"/api/groups/{group['id']}", headers=h)).status_code == 204
    assert (await client.get(f"/api/groups/{group['id']}", headers=h)).status_code == 404
    # Deleting a group leaves its members' contacts alone.
    assert (await client.get(f"/api/contacts/{an.id}", headers=h)).status_code == 200


async def test_member_errors_change_nothing(client, librarian_token, factory):
    h = bearer(librarian_token)
    an = await make_contact(factory, "Nguyễn Văn An", "an@vnu.edu.vn")
    group = await make_group(factory, "K66 Toán", members=[an])
    r = await client.put(f"/api/groups/{group.id}/members", json={"contact_ids": [an.id, 9999]}, headers=h)
    assert r.status_code == 400 and "9999" in r.json()["errors"]["contact_ids"]
    r = await client.put(f"/api/groups/{group.id}/members", json={"contact_ids": ["x"]}, headers=h)
    assert r.status_code == 400 and any(k.startswith("contact_ids") for k in r.json()["errors"])  # contact_ids[0]
    r = await client.post(f"/api/groups/{group.id}/members/9999", headers=h)
    assert r.status_code == 400 and "contact_id" in r.json()["errors"]
    assert (await client.put("/api/groups/9999/members", json=[an.id], headers=h)).status_code == 404
    async with factory.session_maker() as s:
        rows = (await s.execute(select(group_member.c.contact_id).where(group_member.c.group_id == group.id))).all()
        assert [r[0] for r in rows] == [an.id]


async def test_group_input_errors_name_the_field(client, librarian_token, factory):
    h = bearer(librarian_token)
    await make_group(factory, "K65 Văn học", code="K65-VH")
    cases = [
        ({"name": "Trùng mã", "code": "k65-vh"}, 409, "code"),
        ({"name": "Mã sai", "code": "K 65"}, 400, "code"),
        ({"name": "x" * 201}, 400, "name"),
        ({"name": "   "}, 400, "name"),
        ({"name": "Không đơn vị", "unit_id": 777}, 400, "unit_id"),
        ({"name": "Sai loại", "kind": "team"}, 400, "kind"),
        ({"name": "Sai kiểu", "unit_id": "abc"}, 400, "unit_id"),
        ({"code": "ABC"}, 400, "name"),
    ]
    for body, status, field in cases:
        r = await client.post("/api/groups", json=body, headers=h)
        assert r.status_code == status, (body, r.text)
        assert field in r.json()["errors"], (body, r.json())


async def test_group_search_ignores_diacritics_and_filters_by_unit(client, librarian_token, factory):
    h = bearer(librarian_token)
    faculty = await factory.unit(code="SH", name_vi="Khoa Sinh học")
    lab = await factory.unit(code="SH-DT", name_vi="Phòng thí nghiệm Di truyền", kind="lab", parent_id=faculty.id)
    await make_group(factory, "Nhóm nghiên cứu Đa dạng sinh học", code="DDSH", unit_id=lab.id, kind="research_group")
    await make_group(factory, "Lớp K64 Sinh học", code="K64-SH", unit_id=faculty.id, kind="class")
    await make_group(factory, "K65 Ngữ văn")

    async def names(**params) -> list[str]:
        r = await client.get("/api/groups", params=params, headers=h)
        assert r.status_code == 200, r.text
        return [g["name"] for g in r.json()["items"]]

    assert await names(q="da dang sinh hoc") == ["Nhóm nghiên cứu Đa dạng sinh học"]
    assert await names(q="ĐA DẠNG") == ["Nhóm nghiên cứu Đa dạng sinh học"]
    assert await names(q="k64-sh") == ["Lớp K64 Sinh học"]
    assert sorted(await names(unit_id=faculty.id)) == ["Lớp K64 Sinh học", "Nhóm nghiên cứu Đa dạng sinh học"]
    assert await names(kind="class") == ["Lớp K64 Sinh học"]


async def test_group_pages_and_member_picker(client, librarian, factory):
    unit = await factory.unit()
    an = await make_contact(factory, "Nguyễn Văn An", "an@vnu.edu.vn")
    await make_contact(factory, "Đỗ Thị Dung", "dung@vnu.edu.vn")
    r = await form_post(client, "/groups/new", None, {"name": "K65 Công nghệ thông tin", "code": "K65-CNTT",
                                                      "kind": "cohort", "unit_id": str(unit.id)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page_url = r.headers["location"]
    group_id = int(page_url.rsplit("/", 1)[1])
    detail = await client.get(page_url)
    assert "K65 Công nghệ thông tin" in detail.text and "Khoa Công nghệ Thông tin" in detail.text
    assert f"/interactions/new?group_id={group_id}" in detail.text

    # Search without accents, then add with the button next to the match.
    found = await client.get(page_url, params={"member_q": "nguyen an"})
    assert "Nguyễn Văn An" in found.text and "Đỗ Thị Dung" not in found.text
    r = await form_post(client, f"{page_url}?member_q=nguyen", f"/groups/{group_id}/members/add",
                        {"contact_id": str(an.id), "member_q": "nguyen"}, follow_redirects=False)
    assert r.status_code == 303 and "member_q=nguyen" in r.headers["location"]
    async with factory.session_maker() as s:
        assert list(await s.scalars(select(group_member.c.contact_id).where(group_member.c.group_id == group_id))) == [an.id]
    r = await form_post(client, page_url, f"/groups/{group_id}/members/add", {"contact_id": "424242"})
    assert r.status_code == 400 and "424242" in r.text  # the unknown id is named in the message

    r = await form_post(client, page_url, f"/groups/{group_id}/members/{an.id}/remove", {}, follow_redirects=False)
    assert r.status_code == 303
    assert "Chưa có thành viên" in (await client.get(page_url)).text

    listing = await client.get("/groups", params={"q": "cong nghe"})
    assert f'href="/groups/{group_id}"' in listing.text
    r = await form_post(client, "/groups/new", None, {"name": "", "code": "k65-cntt", "kind": "cohort"})
    assert r.status_code == 400 and "Trường này là bắt buộc" in r.text
    r = await form_post(client, "/groups/new", None, {"name": "Trùng", "code": "k65-cntt", "kind": "cohort"})
    assert r.status_code == 409 and 'value="Trùng"' in r.text

    r = await form_post(client, f"/groups/{group_id}/edit", None, {"name": "K65 CNTT", "code": "", "kind": "class"},
                        follow_redirects=False)
    assert r.status_code == 303
    async with factory.session_maker() as s:
        group = await s.get(Group, group_id)
        assert (group.name, group.code, group.kind, group.unit_id) == ("K65 CNTT", None, "class", None)
    r = await form_post(client, page_url, f"/groups/{group_id}/delete", {}, follow_redirects=False)
    assert r.status_code == 303 and (await client.get(page_url)).status_code == 404


async def test_groups_need_a_login(client, factory):
    group = await make_group(factory, "K65")
    assert (await client.get("/api/groups")).status_code == 401
    assert (await client.put(f"/api/groups/{group.id}/members", json=[])).status_code == 401
    r = await client.get(f"/groups/{group.id}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_the_api_is_described_in_openapi(client):
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    for path in ("/api/contacts", "/api/contacts/{contact_id}", "/api/groups/{group_id}/members",
                 "/api/groups/{group_id}/members/{contact_id}", "/api/contacts/import", "/api/units/export.csv"):
        assert path in paths, path
