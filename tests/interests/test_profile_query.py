"""A profile's written query and exact flag: checked on save with the position of the fault, checked
as you type, and the compiled query shown where librarians look (API, form, detail page)."""

import re

import pytest
from sqlalchemy import select

from crm.interests.models import InterestProfile
from crm.interests.services import check_query, draft_values, profile_query, query_fault
from tests.conftest import bearer, form_post, login
from tests.liaison.people import make_contact


@pytest.fixture
async def an(factory):
    unit = await factory.unit()
    return await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn", unit.id)


def body(an, **fields):
    return {"contact_id": an.id, "name": "Thư viện số", **fields}


async def test_a_written_query_is_stored_and_compiled_with_the_languages(client, librarian_token, an, session_maker):
    r = await client.post("/api/profiles", headers=bearer(librarian_token), json=body(
        an, query='  title:"thư viện số" OR subject:(số hóa)  ', keywords=["ignored"], languages=["vi"]))
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["query"] == 'title:"thư viện số" OR subject:(số hóa)'  # trimmed
    assert p["exact"] is False
    assert p["compiled_query"] == '(title:"thư viện số" OR subject:(số hóa)) AND lang:vie'

    r = await client.post("/api/profiles", headers=bearer(librarian_token), json=body(
        an, keywords=["học máy", "AI"], class_ranges=["004-006.99"]))
    assert r.json()["query"] is None
    assert r.json()["compiled_query"] == '("học máy" OR AI OR class:[004 TO 006.99])'

    r = await client.get(f"/api/profiles/{p['id']}", headers=bearer(librarian_token))
    assert r.json()["compiled_query"] == p["compiled_query"]
    async with session_maker() as s:
        row = await s.get(InterestProfile, p["id"])
        assert profile_query(row) == p["compiled_query"]
        assert "thu vien so" in row.search_key  # the list search finds profiles by their query's words


@pytest.mark.parametrize(("query", "position", "words"), [
    ('title:"thư viện số', 6, "ngoặc kép"),       # unclosed quote, reported where it opens
    ("học máy AND", 11, None),                      # ends too early
    ("tác_giả:Nguyễn", 0, "tác_giả"),               # unknown field
    ("class:[QA76 TO 004]", 6, None),               # a range mixing LCC and DDC
    ("NOT sách", 0, "NOT"),                         # would match almost everything
    ("thư viện~2", 4, None),                        # fuzzy is not supported (the word carrying it)
])
async def test_an_invalid_query_names_the_fault_and_its_position(client, librarian_token, an, query, position, words):
    r = await client.post("/api/profiles", headers=bearer(librarian_token), json=body(an, query=query))
    assert r.status_code == 400, r.text
    message = r.json()["errors"]["query"]
    assert re.search(rf"\(vị trí {position + 1}\)\.?$", message), message
    if words:
        assert words in message
    check = (await client.get("/api/profiles/check-query", params={"query": query},
                              headers=bearer(librarian_token))).json()
    assert check["valid"] is False
    assert check["error"]["field"] == "query" and check["error"]["position"] == position
    assert not re.search(r"vị trí \d", check["error"]["message"])  # the position is a number of its own here


async def test_messages_follow_the_users_language(client, factory, an):
    user = await factory.user(email="en@example.edu.vn", language="en", full_name="Librarian EN")
    token = await factory.token(user)
    r = await client.post("/api/profiles", headers=bearer(token), json=body(an, query="title:(a OR b"))
    assert r.json()["errors"]["query"] == "“(” is never closed (position 7)."


async def test_exact_flag_is_stored_and_changes_what_matches(client, librarian_token, an):
    r = await client.post("/api/profiles", headers=bearer(librarian_token),
                          json=body(an, query='"Thư viện số"', exact=True))
    assert r.status_code == 201 and r.json()["exact"] is True
    pid = r.json()["id"]
    r = await client.patch(f"/api/profiles/{pid}", headers=bearer(librarian_token), json={"exact": False})
    assert r.json()["exact"] is False and r.json()["query"] == '"Thư viện số"'
    r = await client.patch(f"/api/profiles/{pid}", headers=bearer(librarian_token),
                           json={"query": None, "keywords": ["dữ liệu mở"]})
    assert r.json()["query"] is None and r.json()["compiled_query"] == '"dữ liệu mở"'
    # An edit that breaks the query is refused and nothing changes.
    r = await client.patch(f"/api/profiles/{pid}", headers=bearer(librarian_token), json={"query": "a OR"})
    assert r.status_code == 400 and "query" in r.json()["errors"]
    r = await client.get(f"/api/profiles/{pid}", headers=bearer(librarian_token))
    assert r.json()["query"] is None


async def test_structured_values_that_cannot_compile_are_named(client, librarian_token, an):
    r = await client.post("/api/profiles", headers=bearer(librarian_token), json=body(an, keywords=["thư viện", "***"]))
    assert r.status_code == 400
    assert "***" in r.json()["errors"]["keywords"]
    r = await client.post("/api/profiles", headers=bearer(librarian_token),
                          json=body(an, subject_headings=["-- --"]))
    assert "subject_headings" in r.json()["errors"]
    # A written query replaces the keywords, so a keyword it replaces is not held against it.
    r = await client.post("/api/profiles", headers=bearer(librarian_token), json=body(an, keywords=["***"], query="sách"))
    assert r.status_code == 201


async def test_query_length_is_bounded(client, librarian_token, an):
    r = await client.post("/api/profiles", headers=bearer(librarian_token), json=body(an, query="a " * 2600))
    assert r.status_code == 400 and "5000" in r.json()["errors"]["query"]
    check = check_query(draft_values("a " * 2600, False, None, None, None, None, None))
    assert not check.valid and "5000" in check.error.message


async def test_check_query_endpoint(client, librarian_token):
    headers = bearer(librarian_token)
    r = await client.get("/api/profiles/check-query", headers=headers, params={
        "keywords": "thư viện số\nAI; AI", "class_ranges": "qa76 - qa76.99", "languages": "vi; en"})
    assert r.status_code == 200
    assert r.json() == {"valid": True, "error": None,
                        "compiled": '("thư viện số" OR AI OR class:[QA76 TO QA76.99]) AND lang:(vie OR eng)'}

    r = await client.get("/api/profiles/check-query", headers=headers, params={"query": "  year:>=20x AND sách"})
    error = r.json()["error"]
    assert error["field"] == "query" and error["position"] == 9  # counted from what was typed, blanks included
    assert "20x" in error["message"]

    r = await client.get("/api/profiles/check-query", headers=headers,
                         params={"class_ranges": "004-006.99\n999-100", "query": "sách"})
    assert r.json()["valid"] is False and r.json()["error"]["field"] == "class_ranges"
    assert r.json()["error"]["position"] is None

    r = await client.get("/api/profiles/check-query", headers=headers, params={"query": "Thư*", "exact": "true"})
    assert r.json() == {"valid": True, "compiled": "Thư*", "error": None}
    r = await client.get("/api/profiles/check-query", headers=headers, params={"topics": "Một đoạn mô tả rất dài về mối quan tâm"})
    assert r.json() == {"valid": True, "compiled": "", "error": None}  # nothing structured: nothing to look for


async def test_check_query_permissions(client, factory):
    assert (await client.get("/api/profiles/check-query", params={"query": "a"})).status_code == 401
    user = await factory.user()
    await login(client, user.email)
    # A logged-in page may read the API with its session cookie (the form's live check does).
    r = await client.get("/api/profiles/check-query", params={"query": "a OR"})
    assert r.status_code == 200 and r.json()["valid"] is False


async def test_form_saves_a_query_and_shows_the_compiled_one(client, librarian, an, session_maker):
    form = {"contact_id": str(an.id), "name": "Số hóa", "query": 'title:"số hóa" AND NOT "lịch sử"',
            "exact": "on", "languages": "vi", "is_active": "on"}
    r = await form_post(client, f"/profiles/new?contact_id={an.id}", "/profiles/new", form, follow_redirects=False)
    assert r.status_code == 303, r.text
    detail = await client.get(r.headers["location"])
    assert "(title:&#34;số hóa&#34; AND NOT &#34;lịch sử&#34;) AND lang:vie" in detail.text
    assert "Chính xác (phải khớp cả chữ hoa/thường và dấu)" in detail.text
    pid = int(r.headers["location"].rsplit("/", 1)[1])
    assert f'href="/profiles/{pid}/preview"' in detail.text

    edit = await client.get(f"/profiles/{pid}/edit")
    assert 'id="f-query"' in edit.text and 'name="exact" type="checkbox" value="on"' in edit.text
    assert re.search(r'id="f-exact"[^>]*checked', edit.text)
    assert 'data-check-state="valid"' in edit.text and "/static/js/profile-query.js" in edit.text
    assert 'formaction="/profiles/preview"' in edit.text

    r = await form_post(client, f"/profiles/{pid}/edit", f"/profiles/{pid}/edit",
                        {**form, "exact": "", "query": "subject:(a OR b"}, follow_redirects=False)
    assert r.status_code == 400
    assert 'id="e-query"' in r.text and "(vị trí 9)." in r.text
    assert '<mark class="fault">(</mark>' in r.text  # the fault marked without JavaScript
    assert 'data-check-state="error"' in r.text
    async with session_maker() as s:
        row = await s.scalar(select(InterestProfile).where(InterestProfile.id == pid))
        assert row.query == 'title:"số hóa" AND NOT "lịch sử"' and row.exact is True  # unchanged


async def test_form_escapes_what_was_typed(client, librarian, an):
    r = await form_post(client, f"/profiles/new?contact_id={an.id}", "/profiles/new",
                        {"contact_id": str(an.id), "name": "x", "query": '<script>alert(1)</script> AND ('})
    assert r.status_code == 400
    assert "<script>alert(1)</script>" not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text


async def test_pages_refuse_anonymous_users(client, an):
    r = await client.get(f"/profiles/new?contact_id={an.id}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_query_fault_checks_the_whole_compiled_query():
    assert query_fault({"query": None, "keywords": ["thư viện"], "languages": ["vie"]}) is None
    fault = query_fault({"query": "a AND", "exact": True})
    assert fault.field == "query" and fault.position == 5
    assert query_fault({"query": None, "keywords": ["?!"]}).field == "keywords"
