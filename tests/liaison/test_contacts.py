"""Contacts: CRUD through the API and the pages, search without diacritics, input errors, permissions."""

import pytest
from sqlalchemy import select

from crm.liaison.models import Contact
from tests.conftest import bearer, form_post
from tests.liaison.people import make_contact, make_group

AN = {"full_name": "Nguyễn Văn An", "email": "An.Nguyen@vnu.edu.vn", "kind": "lecturer",
      "academic_title": "PGS.TS.", "position": "Trưởng bộ môn", "phone": "0912 345 678"}


async def test_contact_crud_through_the_api(client, librarian_token, factory):
    h = bearer(librarian_token)
    unit = await factory.unit()
    r = await client.post("/api/contacts", json={**AN, "unit_id": unit.id}, headers=h)
    assert r.status_code == 201, r.text
    an = r.json()
    assert an["email"] == "An.Nguyen@vnu.edu.vn" and an["unit_code"] == "CNTT"
    assert an["language"] == "vi" and an["is_active"] is True

    r = await client.patch(f"/api/contacts/{an['id']}", json={"position": "Phó trưởng khoa", "is_active": False}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["position"] == "Phó trưởng khoa" and r.json()["is_active"] is False
    assert r.json()["full_name"] == "Nguyễn Văn An"

    r = await client.patch(f"/api/contacts/{an['id']}", json={"unit_id": None}, headers=h)
    assert r.json()["unit_id"] is None and r.json()["unit_code"] is None

    assert (await client.get(f"/api/contacts/{an['id']}", headers=h)).json()["position"] == "Phó trưởng khoa"
    assert (await client.delete(f"/api/contacts/{an['id']}", headers=h)).status_code == 204
    assert (await client.get(f"/api/contacts/{an['id']}", headers=h)).status_code == 404
    assert (await client.get("/api/contacts/99999999999999999999999", headers=h)).status_code == 404


async def test_search_ignores_case_and_diacritics(client, librarian_token, factory):
    h = bearer(librarian_token)
    await make_contact(factory, "Nguyễn Văn An", "an@vnu.edu.vn")
    await make_contact(factory, "Đặng Thị Dung", "dung@vnu.edu.vn", kind="researcher")
    await make_contact(factory, "Trần Văn Bình", "binh@hus.edu.vn")

    async def names(**params) -> list[str]:
        r = await client.get("/api/contacts", params=params, headers=h)
        assert r.status_code == 200, r.text
        return [c["full_name"] for c in r.json()["items"]]

    for q in ("nguyen van an", "Nguyễn Văn An", "NGUYEN", "nguyễn an", "an@vnu"):
        assert await names(q=q) == ["Nguyễn Văn An"], q
    # đ and d are the same letter for search, both ways.
    assert await names(q="dang thi dung") == ["Đặng Thị Dung"]
    assert await names(q="đung") == ["Đặng Thị Dung"]
    # Every word must match; LIKE wildcards are plain characters.
    assert await names(q="nguyen binh") == []
    assert await names(q="%") == []
    assert await names(q="_") == []
    # A pasted paragraph or a giant word is a search, not a database error.
    assert await names(q="an " * 5000) == ["Nguyễn Văn An", "Trần Văn Bình", "Đặng Thị Dung"]
    assert await names(q=" ".join(f"w{i}" for i in range(3000))) == []
    assert (await client.get("/api/contacts", params={"q": "x" * 60000}, headers=h)).status_code == 200
    # Vietnamese names sort by the given name: An, Bình, Dung.
    assert await names() == ["Nguyễn Văn An", "Trần Văn Bình", "Đặng Thị Dung"]
    assert await names(kind="researcher") == ["Đặng Thị Dung"]


async def test_list_filters_unit_with_sub_units_active_and_pages(client, librarian_token, factory):
    h = bearer(librarian_token)
    faculty = await factory.unit(code="CNTT", name_vi="Khoa CNTT")
    dept = await factory.unit(code="KHMT", name_vi="Bộ môn Khoa học máy tính", kind="department", parent_id=faculty.id)
    other = await factory.unit(code="NV", name_vi="Khoa Ngữ văn")
    await make_contact(factory, "Lê Văn Cường", "cuong@x.vn", unit_id=faculty.id)
    await make_contact(factory, "Phạm Thị Hoa", "hoa@x.vn", unit_id=dept.id)
    await make_contact(factory, "Vũ Minh Khoa", "khoa@x.vn", unit_id=other.id)
    async with factory.session_maker() as s, s.begin():
        (await s.scalar(select(Contact).where(Contact.email_key == "khoa@x.vn"))).is_active = False

    r = await client.get("/api/contacts", params={"unit_id": faculty.id}, headers=h)
    assert sorted(c["full_name"] for c in r.json()["items"]) == ["Lê Văn Cường", "Phạm Thị Hoa"]
    r = await client.get("/api/contacts", params={"unit_id": dept.id}, headers=h)
    assert [c["full_name"] for c in r.json()["items"]] == ["Phạm Thị Hoa"]
    r = await client.get("/api/contacts", params={"active": "false"}, headers=h)
    assert [c["full_name"] for c in r.json()["items"]] == ["Vũ Minh Khoa"]

    r = await client.get("/api/contacts", params={"per_page": 2, "page": 2}, headers=h)
    body = r.json()
    assert body["total"] == 3 and body["page"] == 2 and body["per_page"] == 2 and len(body["items"]) == 1
    for bad in ({"page": 0}, {"per_page": 1000}, {"kind": "alien"}, {"unit_id": "abc"}, {"page": 10**30}):
        assert (await client.get("/api/contacts", params=bad, headers=h)).status_code == 400, bad


async def test_contact_input_errors_name_the_field(client, librarian_token, factory):
    h = bearer(librarian_token)
    await make_contact(factory, "Nguyễn Văn An", "an.nguyen@vnu.edu.vn")
    good = {"full_name": "Hoàng Thị Mai", "email": "mai@vnu.edu.vn"}
    cases = [
        ({**good, "email": "AN.NGUYEN@VNU.EDU.VN"}, 409, "email"),  # same address in another case
        ({**good, "unit_id": 424242}, 400, "unit_id"),
        ({**good, "full_name": "x" * 201}, 400, "full_name"),
        ({**good, "full_name": "   "}, 400, "full_name"),
        ({**good, "email": "not-an-email"}, 400, "email"),
        ({**good, "email": "a" * 250 + "@x.vn"}, 400, "email"),
        ({**good, "unit_id": "abc"}, 400, "unit_id"),
        ({**good, "is_active": "maybe"}, 400, "is_active"),
        ({**good, "kind": "alien"}, 400, "kind"),
        ({**good, "language": "fr"}, 400, "language"),
        ({**good, "phone": "1" * 51}, 400, "phone"),
        ({**good, "academic_title": "T" * 101}, 400, "academic_title"),
        ({**good, "position": "p" * 201}, 400, "position"),
        ({**good, "notes": "n" * 10001}, 400, "notes"),
        ({**good, "unit_id": 2**70}, 400, "unit_id"),
        ({"email": "mai@vnu.edu.vn"}, 400, "full_name"),
        ({**good, "colour": "blue"}, 400, "colour"),
    ]
    for body, status, field in cases:
        r = await client.post("/api/contacts", json=body, headers=h)
        assert r.status_code == status, (body, r.text)
        assert field in r.json()["errors"], (body, r.json())
    r = await client.post("/api/contacts", content=b"{not json", headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 400
    # Updating to another contact's address (ignoring case) is a conflict too.
    mai = (await client.post("/api/contacts", json=good, headers=h)).json()
    r = await client.patch(f"/api/contacts/{mai['id']}", json={"email": "An.Nguyen@VNU.edu.vn"}, headers=h)
    assert r.status_code == 409 and "email" in r.json()["errors"]
    # Its own address in another case is fine.
    r = await client.patch(f"/api/contacts/{mai['id']}", json={"email": "MAI@vnu.edu.vn"}, headers=h)
    assert r.status_code == 200 and r.json()["email"] == "MAI@vnu.edu.vn"


async def test_contact_api_and_pages_need_a_login(client, factory):
    contact = await make_contact(factory, "Nguyễn Văn An", "an@vnu.edu.vn")
    assert (await client.get("/api/contacts")).status_code == 401
    assert (await client.post("/api/contacts", json=AN)).status_code == 401
    assert (await client.delete(f"/api/contacts/{contact.id}")).status_code == 401
    for path in ("/contacts", "/contacts/new", f"/contacts/{contact.id}", f"/contacts/{contact.id}/edit"):
        r = await client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path


async def test_contact_pages(client, librarian, factory):
    unit = await factory.unit()
    r = await form_post(client, "/contacts/new", None, {**AN, "unit_id": str(unit.id), "language": "vi",
                                                        "is_active": "on"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    detail = await client.get(r.headers["location"])
    assert detail.status_code == 200
    assert "Nguyễn Văn An" in detail.text and "Khoa Công nghệ Thông tin" in detail.text and "PGS.TS." in detail.text
    contact_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert f"/interactions/new?contact_id={contact_id}" in detail.text
    link = f'href="/contacts/{contact_id}"'

    listing = await client.get("/contacts", params={"q": "nguyen van an"})
    assert link in listing.text and 'class="list"' in listing.text
    assert link not in (await client.get("/contacts", params={"q": "binh"})).text
    # Lenient filters: unknown values are ignored rather than failing the page.
    assert (await client.get("/contacts", params={"unit_id": "x", "kind": "?", "page": "-3"})).status_code == 200

    # Every error at once, in Vietnamese, with the typed values kept.
    r = await form_post(client, "/contacts/new", None, {"full_name": "", "email": "sai-dia-chi", "kind": "lecturer",
                                                        "language": "vi", "phone": "0987 654 321"})
    assert r.status_code == 400
    assert "Trường này là bắt buộc" in r.text and "Địa chỉ email không hợp lệ" in r.text
    assert 'value="0987 654 321"' in r.text
    r = await form_post(client, "/contacts/new", None, {"full_name": "Người Khác", "email": "AN.NGUYEN@vnu.edu.vn",
                                                        "kind": "lecturer", "language": "vi"})
    assert r.status_code == 409 and "Người Khác" in r.text

    r = await form_post(client, f"/contacts/{contact_id}/edit", None,
                        {"full_name": "Nguyễn Văn An", "email": "an.nguyen@vnu.edu.vn", "kind": "researcher",
                         "language": "en"}, follow_redirects=False)
    assert r.status_code == 303
    async with factory.session_maker() as s:
        stored = await s.get(Contact, contact_id)
        assert (stored.kind, stored.language, stored.is_active, stored.unit_id) == ("researcher", "en", False, None)

    r = await form_post(client, f"/contacts/{contact_id}", f"/contacts/{contact_id}/delete", {}, follow_redirects=False)
    assert r.status_code == 303
    assert (await client.get(f"/contacts/{contact_id}")).status_code == 404


async def test_contact_page_shows_groups_and_escapes_user_data(client, librarian, factory):
    contact = await make_contact(factory, "<script>alert(1)</script> Lan", "lan@x.vn")
    await make_group(factory, "K65 Công nghệ thông tin", code="K65-CNTT", members=[contact])
    r = await client.get(f"/contacts/{contact.id}")
    assert "K65 Công nghệ thông tin" in r.text
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;" in r.text


async def test_pages_in_english(client, factory):
    from tests.conftest import login

    user = await factory.user(email="en@example.edu.vn", language="en")
    await login(client, user.email)
    r = await client.get("/contacts")
    assert "New contact" in r.text and "No contacts match these filters." in r.text


async def test_a_duplicate_that_slips_past_the_check_is_a_conflict(factory):
    """Two requests racing for one address: the database's unique key decides, and it is a 409."""
    from crm.errors import Conflict
    from crm.liaison.services.contacts import ContactService

    await make_contact(factory, "Nguyễn Văn An", "an@vnu.edu.vn")
    async with factory.session_maker() as s:
        service = ContactService(s)
        with pytest.raises(Conflict) as caught:  # as if the check had run before the other insert
            await service._save(Contact(), {"full_name": "Người Khác", "email": "AN@vnu.edu.vn"}, new=True)
        assert "email" in caught.value.errors
        # The session is usable again, and nothing of the failed write remains.
        assert [c.full_name for c in (await s.scalars(select(Contact))).unique()] == ["Nguyễn Văn An"]
