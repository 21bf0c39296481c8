"""Interest profiles: owned by a contact or a group, lists stored clean, class ranges and languages checked."""

import pytest
from sqlalchemy import select

from crm.interests.models import InterestProfile
from tests.conftest import bearer, form_post
from tests.liaison.people import make_contact, make_group


@pytest.fixture
async def owners(factory):
    unit = await factory.unit()
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn", unit.id)
    k65 = await make_group(factory, "Lớp K65 Khoa học máy tính", "K65", unit.id)
    return {"an": an, "k65": k65}


def profile(owners, **overrides):
    body = {"contact_id": owners["an"].id, "name": "Học máy cho tiếng Việt",
            "topics": "Xử lý ngôn ngữ tự nhiên tiếng Việt",
            "keywords": ["  học máy ", "Học máy", "NLP", "nlp", "xử lý ngôn ngữ"],
            "subject_headings": ["Trí tuệ nhân tạo -- Ứng dụng", "Trí tuệ nhân tạo -- Ứng dụng"],
            "class_ranges": ["004-006.99", "qa76 - qa76.99", "025.04", "025.04"],
            "languages": ["vi", "eng", "VIE", "fra"]}
    body.update(overrides)
    return body


async def test_anonymous(client):
    assert (await client.get("/api/profiles")).status_code == 401
    r = await client.get("/profiles", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_api_crud_stores_lists_clean(client, factory, librarian_token, owners):
    r = await client.post("/api/profiles", json=profile(owners), headers=bearer(librarian_token))
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["keywords"] == ["học máy", "NLP", "xử lý ngôn ngữ"]
    assert p["subject_headings"] == ["Trí tuệ nhân tạo -- Ứng dụng"]
    assert p["class_ranges"] == ["004-006.99", "QA76-QA76.99", "025.04"]
    assert p["languages"] == ["vie", "eng", "fre"]
    assert p["owner"] == {"kind": "contact", "id": owners["an"].id, "name": "Nguyễn Văn An"}
    assert p["is_active"] is True

    async with factory.session_maker() as s:
        row = await s.scalar(select(InterestProfile).where(InterestProfile.id == p["id"]))
        assert "hoc may" in row.search_key and "xu ly ngon ngu tu nhien" in row.search_key

    r = await client.patch(f"/api/profiles/{p['id']}", json={"keywords": ["Dữ liệu lớn"], "is_active": False},
                           headers=bearer(librarian_token))
    assert r.status_code == 200 and r.json()["keywords"] == ["Dữ liệu lớn"] and r.json()["is_active"] is False
    assert r.json()["class_ranges"] == ["004-006.99", "QA76-QA76.99", "025.04"]

    r = await client.get("/api/profiles", params={"q": "du lieu LON"}, headers=bearer(librarian_token))
    assert [x["id"] for x in r.json()["items"]] == [p["id"]]
    r = await client.get("/api/profiles", params={"q": "hoc may"}, headers=bearer(librarian_token))
    assert [x["id"] for x in r.json()["items"]] == [p["id"]]  # the name still matches
    r = await client.get("/api/profiles", params={"q": "thien van"}, headers=bearer(librarian_token))
    assert r.json()["items"] == []

    assert (await client.delete(f"/api/profiles/{p['id']}", headers=bearer(librarian_token))).status_code == 204
    assert (await client.get(f"/api/profiles/{p['id']}", headers=bearer(librarian_token))).status_code == 404


async def test_filters_by_owner(client, librarian_token, owners):
    a = (await client.post("/api/profiles", json=profile(owners), headers=bearer(librarian_token))).json()
    b = (await client.post("/api/profiles", json=profile(owners, contact_id=None, group_id=owners["k65"].id, name="Lập trình"),
                           headers=bearer(librarian_token))).json()
    assert b["owner"]["kind"] == "group"
    r = await client.get("/api/profiles", params={"contact_id": owners["an"].id}, headers=bearer(librarian_token))
    assert [x["id"] for x in r.json()["items"]] == [a["id"]]
    r = await client.get("/api/profiles", params={"group_id": owners["k65"].id}, headers=bearer(librarian_token))
    assert [x["id"] for x in r.json()["items"]] == [b["id"]]


@pytest.mark.parametrize(
    ("overrides", "field", "named"),
    [
        ({"contact_id": None}, "contact_id", None),
        ({"group_id": "k65"}, "contact_id", None),
        ({"contact_id": 999999}, "contact_id", None),
        ({"contact_id": None, "group_id": 999999}, "group_id", None),
        ({"class_ranges": ["004-006.99", "4-6"]}, "class_ranges", "4-6"),
        ({"class_ranges": ["006-004"]}, "class_ranges", "006-004"),
        ({"class_ranges": ["QA76.99-QA76"]}, "class_ranges", "QA76.99-QA76"),
        ({"class_ranges": ["004-QA76"]}, "class_ranges", "004-QA76"),
        ({"class_ranges": ["ABCD1"]}, "class_ranges", "ABCD1"),
        ({"languages": ["vie", "vietnamese"]}, "languages", "vietnamese"),
        ({"languages": ["xx"]}, "languages", "xx"),
        ({"name": ""}, "name", None),
        ({"name": "   "}, "name", None),
        ({"keywords": "not a list"}, "keywords", None),
    ],
)
async def test_bad_input_names_the_field_and_value(client, librarian_token, owners, overrides, field, named):
    body = profile(owners, **{k: (owners["k65"].id if v == "k65" else v) for k, v in overrides.items()})
    r = await client.post("/api/profiles", json=body, headers=bearer(librarian_token))
    assert r.status_code == 400, r.text
    errors = r.json()["errors"]
    assert field in errors, errors
    if named:
        assert named in errors[field]


async def test_pages(client, librarian, owners):
    r = await client.get(f"/profiles/new?contact_id={owners['an'].id}")
    assert r.status_code == 200 and "Nguyễn Văn An" in r.text
    form = {"contact_id": str(owners["an"].id), "name": "Thư mục chuyên đề CNTT",
            "topics": "An toàn thông tin <b>mạng</b>",
            "keywords": "an toàn thông tin\nmật mã; An toàn thông tin\n\n",
            "subject_headings": "Mạng máy tính -- Biện pháp an toàn",
            "class_ranges": "005.8\nQA76.9-QA76.99", "languages": "vi; en", "is_active": "on"}
    bad = await form_post(client, f"/profiles/new?contact_id={owners['an'].id}", "/profiles/new",
                          {**form, "class_ranges": "005.8\n999-100", "languages": "klingon"})
    assert bad.status_code == 400
    assert 'id="e-class_ranges"' in bad.text and "999-100" in bad.text and 'id="e-languages"' in bad.text
    assert "mật mã; An toàn thông tin" in bad.text  # what was typed comes back

    r = await form_post(client, f"/profiles/new?contact_id={owners['an'].id}", "/profiles/new", form, follow_redirects=False)
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    r = await client.get(location)
    assert "mật mã" in r.text and "QA76.9-QA76.99" in r.text and "vie, eng" in r.text
    assert "&lt;b&gt;mạng&lt;/b&gt;" in r.text

    pid = int(location.rsplit("/", 1)[1])
    r = await form_post(client, f"/profiles/{pid}/edit", None,
                        {"name": "Thư mục chuyên đề An toàn thông tin", "keywords": "mật mã", "languages": "vie"},
                        follow_redirects=False)
    assert r.status_code == 303
    r = await client.get(f"/profiles/{pid}")
    assert "Thư mục chuyên đề An toàn thông tin" in r.text and "Tạm dừng" in r.text or "Paused" in r.text

    r = await client.get("/profiles?q=an toan")
    assert "Thư mục chuyên đề An toàn thông tin" in r.text
    r = await client.get("/profiles?q=khong co")
    assert "Thư mục chuyên đề An toàn thông tin" not in r.text

    r = await form_post(client, f"/profiles/{pid}", f"/profiles/{pid}/delete", {}, follow_redirects=False)
    assert r.status_code == 303
    assert (await client.get(f"/profiles/{pid}")).status_code == 404


async def test_new_profile_without_owner_asks_for_one(client, librarian, owners):
    r = await client.get("/profiles/new?owner_q=nguyen van")
    assert r.status_code == 200
    assert f"/profiles/new?contact_id={owners['an'].id}" in r.text
    r = await client.get("/profiles/new?owner_q=k65")
    assert f"/profiles/new?group_id={owners['k65'].id}" in r.text


async def test_profile_list_partial_for_owner_pages(client, factory, librarian_token, owners):
    from crm import i18n
    from crm.interests.services import ProfileService
    from crm.templating import environment

    await client.post("/api/profiles", json=profile(owners), headers=bearer(librarian_token))
    async with factory.session_maker() as s:
        profiles = await ProfileService(s).list_for_owner(contact_id=owners["an"].id)
    with i18n.language("vi"):
        html = environment().get_template("interests/_list.html").render(
            profiles=profiles, profiles_new_query=f"contact_id={owners['an'].id}")
    assert "Học máy cho tiếng Việt" in html and "004-006.99" in html
    assert f"/profiles/new?contact_id={owners['an'].id}" in html
