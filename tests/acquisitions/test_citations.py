"""Reading lists on the course pages and the API: added by form, pasted or imported (all or
nothing, problems by line), resolved against the catalogue, confirmed or rejected by a librarian."""

import pytest
from sqlalchemy import select

from crm.acquisitions.models import Citation, Course
from tests.acquisitions.helpers import FIXTURES, count, ingest_demo, item_id, make_course, people
from tests.conftest import bearer, csrf_from, form_post


@pytest.fixture
async def course(session_maker, factory):
    await ingest_demo(session_maker, factory)
    lan, _minh, cohort = await people(factory)
    return await make_course(factory, lecturers=[lan], groups=[cohort])


async def citations(session_maker, course_id: int) -> list[Citation]:
    async with session_maker() as s:
        return list(await s.scalars(select(Citation).where(Citation.course_id == course_id).order_by(Citation.position)))


async def test_a_course_is_created_with_lecturers_and_groups(client, librarian, factory, session_maker):
    lan, minh, cohort = await people(factory)
    r = await form_post(client, "/acquisitions/courses/new", None, {
        "code": "TV2012", "name": "Thư viện số", "term": "HK1 2026–2027", "contact_ids": [str(lan.id), str(minh.id)],
        "group_ids": [str(cohort.id)]}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = await client.get(r.headers["location"])
    assert "Trần Thị Lan" in page.text and "Lê Hoàng Minh" in page.text and "K65 Thông tin – Thư viện" in page.text
    # Four students in the cohort: the course concerns four students.
    api = await client.get("/api/acquisitions/courses")
    assert api.json()["items"][0]["students"] == 4 and len(api.json()["items"][0]["lecturers"]) == 2
    again = await form_post(client, "/acquisitions/courses/new", None, {"code": "tv2012", "name": "Khác"})
    assert again.status_code == 409 and "Đã có học phần khác mang mã này." in again.text


async def test_the_course_form_finds_lecturers_without_javascript(client, librarian, factory):
    await people(factory)
    r = await form_post(client, "/acquisitions/courses/new", None, {"code": "X1", "name": "X", "participant_q": "lan",
                                                                    "_find": "1"})
    assert r.status_code == 200 and 'name="contact_ids"' in r.text and "Trần Thị Lan" in r.text


async def test_pasting_a_reading_list_resolves_each_line(client, librarian, session_maker, course):
    text = (FIXTURES / "pasted.txt").read_text(encoding="utf-8")
    r = await form_post(client, f"/acquisitions/courses/{course.id}", f"/acquisitions/courses/{course.id}/citations/paste",
                        {"text": text, "requirement": "required"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    found = await citations(session_maker, course.id)
    assert [(c.title, c.status, c.requirement) for c in found] == [
        ("Học máy", "held", "required"),
        ("Xử lý ngôn ngữ tự nhiên tiếng Việt", "held", "required"),
        ("Deep learning", "held", "recommended"),
        ("Khoa học dữ liệu", "held", "recommended"),
        ("Lịch sử Việt Nam thời kỳ cận đại", "held", "recommended"),  # an ISBN alone: the catalogue fills in the title
        ("Open access", "held", "recommended"),
    ]
    assert found[4].method == "isbn" and found[4].authors == ["Đinh Xuân Lâm"]
    assert found[0].item_id == await item_id(session_maker, "Học máy")
    page = await client.get(f"/acquisitions/courses/{course.id}")
    assert "6 có sẵn" in page.text


async def test_an_import_with_problems_saves_nothing_and_lists_them(client, librarian, session_maker, course):
    page = await client.get(f"/acquisitions/courses/{course.id}")
    token = csrf_from(page.text)
    r = await client.post(f"/acquisitions/courses/{course.id}/citations/import",
                          files={"file": ("ds.ris", (FIXTURES / "broken.ris").read_bytes(), "application/x-research-info-systems")},
                          data={"_csrf_token": token, "format": "auto", "requirement": "required"})
    assert r.status_code == 400
    assert "năm hai nghìn" in r.text and "<td>6</td>" in r.text and "<td>11</td>" in r.text
    assert await count(session_maker, Citation) == 0
    ok = await client.post(f"/acquisitions/courses/{course.id}/citations/import",
                           files={"file": ("ds.bib", (FIXTURES / "reading-list.bib").read_bytes(), "text/plain")},
                           data={"_csrf_token": token, "format": "auto", "requirement": "recommended"},
                           follow_redirects=False)
    assert ok.status_code == 303
    found = await citations(session_maker, course.id)
    assert [(c.title, c.status, c.requirement) for c in found] == [
        ("Học máy", "held", "recommended"), ("Understanding Digital Libraries", "not_held", "recommended"),
        ("Open Access", "held", "recommended")]


async def test_a_csv_import_and_a_missing_file(client, librarian, session_maker, course):
    page = await client.get(f"/acquisitions/courses/{course.id}")
    token = csrf_from(page.text)
    r = await client.post(f"/acquisitions/courses/{course.id}/citations/import",
                          files={"file": ("ds.csv", (FIXTURES / "broken.csv").read_bytes(), "text/csv")},
                          data={"_csrf_token": token, "format": "auto"})
    assert r.status_code == 400 and "12345" in r.text and "<td>isbn</td>" in r.text
    empty = await client.post(f"/acquisitions/courses/{course.id}/citations/import",
                              files={"file": ("", b"", "application/octet-stream")}, data={"_csrf_token": token})
    assert empty.status_code == 400
    assert await count(session_maker, Citation) == 0


async def test_one_citation_by_form_with_field_errors(client, librarian, session_maker, course):
    url = f"/acquisitions/courses/{course.id}"
    bad = await form_post(client, url, f"{url}/citations", {"title": "", "isbn": "12345", "requirement": "required"})
    assert bad.status_code == 400 and "12345" in bad.text
    ok = await form_post(client, url, f"{url}/citations", {"title": "Học máy", "authors": "Nguyễn Văn Bảo",
                                                           "requirement": "recommended"}, follow_redirects=False)
    assert ok.status_code == 303
    [citation] = await citations(session_maker, course.id)
    assert citation.status == "uncertain" and citation.item_id == await item_id(session_maker, "Học máy")


async def test_a_librarian_confirms_or_rejects_an_uncertain_candidate(client, librarian, session_maker, course):
    url = f"/acquisitions/courses/{course.id}"
    await form_post(client, url, f"{url}/citations", {"title": "Học máy", "authors": "Nguyễn Văn Bảo", "requirement": "required"})
    await form_post(client, url, f"{url}/citations", {"title": "Trí tuệ nhân tạo", "authors": "Lê Văn X", "requirement": "required"})
    first, second = await citations(session_maker, course.id)
    assert first.status == second.status == "uncertain"
    overview = await client.get("/acquisitions")
    assert "Học máy" in overview.text and "Trí tuệ nhân tạo" in overview.text  # the review queue
    r = await form_post(client, url, f"/acquisitions/citations/{first.id}/confirm", {}, follow_redirects=False)
    assert r.status_code == 303
    r = await form_post(client, url, f"/acquisitions/citations/{second.id}/reject", {}, follow_redirects=False)
    assert r.status_code == 303
    first, second = await citations(session_maker, course.id)
    assert first.status == "confirmed" and first.confirmed_by_id == librarian.id and first.confirmed_at is not None
    assert second.status == "not_held" and second.item_id is None
    assert second.rejected_item_ids == [await item_id(session_maker, "Trí tuệ nhân tạo")]
    # Checking again never brings back what a librarian rejected, nor touches what they confirmed.
    await form_post(client, url, f"{url}/resolve", {})
    first, second = await citations(session_maker, course.id)
    assert first.status == "confirmed" and second.status == "not_held"
    # A librarian can also link a citation to an item by its number.
    deep = await item_id(session_maker, "Deep learning")
    await form_post(client, url, f"/acquisitions/citations/{second.id}/confirm", {"item_id": str(deep)})
    _first, second = await citations(session_maker, course.id)
    assert (second.status, second.item_id, second.method) == ("confirmed", deep, "manual")
    bad = await form_post(client, url, f"/acquisitions/citations/{second.id}/confirm", {"item_id": "999999"})
    assert bad.status_code == 400


async def test_editing_a_citation_checks_again(client, librarian, session_maker, course):
    url = f"/acquisitions/courses/{course.id}"
    await form_post(client, url, f"{url}/citations", {"title": "Hoc sau", "requirement": "required"})
    [c] = await citations(session_maker, course.id)
    assert c.status == "not_held"
    edit = f"/acquisitions/citations/{c.id}/edit"
    r = await form_post(client, edit, None, {"title": "Hoc may", "authors": "Vu Huu Tiep", "requirement": "required"},
                        follow_redirects=False)
    assert r.status_code == 303
    [c] = await citations(session_maker, course.id)
    assert c.status == "held" and c.title == "Hoc may"
    await form_post(client, url, f"/acquisitions/citations/{c.id}/delete", {})
    assert await count(session_maker, Citation) == 0


async def test_the_api_imports_all_or_nothing(client, librarian_token, session_maker, course):
    url = f"/api/acquisitions/courses/{course.id}/citations/import"
    bad = await client.post(url, json={"text": (FIXTURES / "broken.bib").read_text(encoding="utf-8"), "format": "bibtex"},
                            headers=bearer(librarian_token))
    assert bad.status_code == 400
    assert [(p["record"], p["line"]) for p in bad.json()["problems"]] == [(2, 7), (3, 12), (4, 16)]
    ok = await client.post(url, json={"text": "Vũ Hữu Tiệp (2024). Học máy. KHKT.\nSách chưa có trong thư viện"},
                           headers=bearer(librarian_token))
    assert ok.status_code == 200, ok.text
    assert (ok.json()["created"], ok.json()["held"], ok.json()["not_held"]) == (2, 1, 1)
    listed = await client.get(f"/api/acquisitions/courses/{course.id}/citations", headers=bearer(librarian_token))
    assert [c["status"] for c in listed.json()] == ["held", "not_held"]
    held = listed.json()[0]
    assert held["item"]["title"] == "Học máy" and held["item"]["call_number"] == "006.31"
    one = await client.post(f"/api/acquisitions/courses/{course.id}/citations",
                            json={"title": "Deep learning", "authors": ["Goodfellow, Ian"], "requirement": "recommended"},
                            headers=bearer(librarian_token))
    assert one.status_code == 201 and one.json()["status"] == "held"
    cid = one.json()["id"]
    assert (await client.post(f"/api/acquisitions/citations/{cid}/reject", headers=bearer(librarian_token))).json()["status"] == "not_held"
    assert (await client.delete(f"/api/acquisitions/citations/{cid}", headers=bearer(librarian_token))).status_code == 204


async def test_deleting_a_course_deletes_its_reading_list(client, librarian, session_maker, course):
    url = f"/acquisitions/courses/{course.id}"
    await form_post(client, url, f"{url}/citations", {"title": "Học máy", "requirement": "required"})
    r = await form_post(client, url, f"{url}/delete", {}, follow_redirects=False)
    assert r.status_code == 303
    assert await count(session_maker, Course) == 0 and await count(session_maker, Citation) == 0
