"""Every acquisitions page and API route: librarians only (pages redirect to the login, the API
answers 401, API writes need a token), public suggestion forms open to all, text escaped."""

import re

import pytest

from crm.acquisitions.services.suggestions import suggestion_link
from tests.acquisitions.helpers import make_course, people
from tests.conftest import bearer, form_post, login


def acquisition_routes(app):
    for route in app.routes:
        if route.path.startswith(("/acquisitions", "/api/acquisitions")):
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                yield method, re.sub(r"\{[^}]+\}", "1", route.path)


async def test_anonymous_visitors_are_refused_everywhere(app, client):
    checked = 0
    for method, path in acquisition_routes(app):
        r = await client.request(method, path, follow_redirects=False)
        if path.startswith("/api"):
            assert r.status_code == 401, (method, path)
        elif method == "GET":
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), (method, path)
        else:
            assert r.status_code in (303, 403), (method, path)
        checked += 1
    assert checked >= 50


@pytest.fixture
async def data(factory, session_maker, settings):
    lan, _minh, cohort = await people(factory)
    course = await make_course(factory, lecturers=[lan], groups=[cohort])
    from crm.acquisitions.models import RequestSlip
    from crm.acquisitions.services.citations import CitationService
    from crm.acquisitions.services.parsing import CitationInput
    from crm.acquisitions.services.suggestions import SuggestionService

    async with session_maker() as s, s.begin():
        await CitationService(s, settings).add(await s.merge(course), [CitationInput(title="Bảo quản tài liệu số")])
        await SuggestionService(s, settings).create(title="Sách đề xuất", authors=None, isbn=None, kind="lecturer",
                                                    contact=await s.merge(lan))
        from datetime import date

        s.add(RequestSlip(title="Sách yêu cầu", requested_on=date.today(), outcome="refused", refusal_reason="lost"))
    return {"course": course, "lan": lan}


PAGES = ["/acquisitions", "/acquisitions/courses", "/acquisitions/courses/new", "/acquisitions/courses/1",
         "/acquisitions/courses/1/edit", "/acquisitions/citations/1/edit", "/acquisitions/suggestions",
         "/acquisitions/suggestions/new", "/acquisitions/suggestions/1", "/acquisitions/suggestions/invite",
         "/acquisitions/slips", "/acquisitions/slips/new", "/acquisitions/slips/import", "/acquisitions/plan",
         "/acquisitions/budgets", "/acquisitions/weeding", "/acquisitions/plan.csv", "/acquisitions/plan.xlsx",
         "/acquisitions/weeding.csv"]


async def test_librarians_and_admins_reach_every_page(client, new_client, factory, data):
    librarian = await factory.user()
    await login(client, librarian.email)
    for path in PAGES:
        r = await client.get(path)
        assert r.status_code == 200, (path, r.status_code)
    nav = await client.get("/acquisitions")
    assert '<a href="/acquisitions">Bổ sung</a>' in nav.text
    admin = await factory.user(email="quan.tri@example.edu.vn", role="admin", full_name="Quản Trị")
    async with new_client() as other:
        await login(other, admin.email)
        assert (await other.get("/acquisitions/plan")).status_code == 200


async def test_unknown_records_answer_404(client, librarian, data):
    for path in ("/acquisitions/courses/999", "/acquisitions/suggestions/999", "/acquisitions/citations/999/edit"):
        assert (await client.get(path)).status_code == 404, path
    assert (await client.get("/acquisitions/courses/99999999999999999999")).status_code in (400, 404)  # never a 500
    assert (await client.get("/api/acquisitions/courses/999")).status_code == 404


async def test_api_writes_need_a_token_not_the_session_cookie(client, librarian, librarian_token, data):
    assert (await client.get("/api/acquisitions/courses")).status_code == 200  # reading with the session is fine
    cookie_write = await client.post("/api/acquisitions/courses", json={"code": "X", "name": "Y"})
    assert cookie_write.status_code == 401
    token_write = await client.post("/api/acquisitions/courses", json={"code": "X", "name": "Y"},
                                    headers=bearer(librarian_token))
    assert token_write.status_code == 201 and token_write.json()["code"] == "X"
    bad = await client.post("/api/acquisitions/courses", json={"code": "", "name": "Y", "enrolment": -1},
                            headers=bearer(librarian_token))
    assert bad.status_code == 400 and "errors" in bad.json()
    patched = await client.patch(f"/api/acquisitions/courses/{token_write.json()['id']}", json={"enrolment": 35},
                                 headers=bearer(librarian_token))
    assert patched.json()["students"] == 35


async def test_page_forms_need_their_csrf_token(client, librarian, data):
    r = await client.post("/acquisitions/courses/new", data={"code": "X", "name": "Y"})
    assert r.status_code == 403
    r = await client.post(f"/acquisitions/courses/{data['course'].id}/citations/paste", data={"text": "Sách"})
    assert r.status_code == 403


async def test_public_suggestion_pages_need_no_login(client, settings, data):
    assert (await client.get("/suggest")).status_code == 200
    lecturer = await client.get(suggestion_link(settings, data["lan"].id).removeprefix(settings.base_url))
    assert lecturer.status_code == 200 and "Sách đề xuất" in lecturer.text
    # The lecturer's page shows nothing of the librarians' CRM.
    assert "/acquisitions" not in lecturer.text and 'href="/contacts' not in lecturer.text


async def test_course_and_citation_text_is_escaped(client, librarian, factory, session_maker, settings):
    course = await make_course(factory, code="XSS1", name="<script>alert('course')</script>")
    url = f"/acquisitions/courses/{course.id}"
    await form_post(client, url, f"{url}/citations/paste",
                    {"text": "<img src=x onerror=alert(1)>. (2020). <b>Bold</b> title. NXB.", "requirement": "required"})
    for path in (url, "/acquisitions/courses", "/acquisitions/plan", "/acquisitions"):
        page = await client.get(path)
        assert "<script>alert('course')</script>" not in page.text and "<img src=x" not in page.text, path
        assert "<b>Bold</b>" not in page.text, path
    assert "&lt;b&gt;Bold&lt;/b&gt; title" in (await client.get(url)).text
