"""Suggestions: students at /suggest (CSRF, honeypot, rate limit), lecturers through their signed
link, librarians on someone's behalf; duplicates against holdings and open suggestions; one email
to the suggester per status."""

from email import message_from_bytes, policy

from sqlalchemy import select

from crm.acquisitions.models import Suggestion
from crm.acquisitions.services.suggestions import suggestion_link
from crm.security.tokens import make_token
from tests.acquisitions.helpers import count, ingest_demo, item_id, make_course, outbox, people
from tests.conftest import bearer, csrf_from, form_post


def parsed(message) -> tuple[str, str, str]:
    mail = message_from_bytes(message.raw, policy=policy.default)
    return (str(mail["Subject"]), mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content())


async def suggestions(session_maker) -> list[Suggestion]:
    async with session_maker() as s:
        return list(await s.scalars(select(Suggestion).order_by(Suggestion.id)))


STUDENT = {"title": "Giáo trình kế toán tài chính", "authors": "Ngô Thế Chi", "name": "Nguyễn Thị Mai Anh",
           "email": "maianh@st.demo.edu.vn", "reason": "Cần cho môn Kế toán."}


# --- the student form -----------------------------------------------------------------------


async def test_a_student_suggests_a_title_without_an_account(client, session_maker):
    page = await client.get("/suggest")
    assert page.status_code == 200 and 'name="website"' in page.text and 'name="_csrf_token"' in page.text
    r = await form_post(client, "/suggest", None, STUDENT)
    assert r.status_code == 200 and "maianh@st.demo.edu.vn" in r.text
    [s] = await suggestions(session_maker)
    assert (s.suggester_kind, s.status, s.suggester_name, s.language) == ("student", "new", "Nguyễn Thị Mai Anh", "vi")
    [message] = await outbox(session_maker)
    assert message.idempotency_key == f"acq-suggestion:{s.id}:new" and message.recipient == "maianh@st.demo.edu.vn"
    subject, text, _html = parsed(message)
    assert "Giáo trình kế toán tài chính" in subject and "Chào bạn Anh" in text


async def test_the_student_form_checks_its_fields_and_its_csrf_token(client, session_maker):
    bad = await form_post(client, "/suggest", None, {"title": "", "name": "", "email": "không phải email", "isbn": "123"})
    assert bad.status_code == 400
    assert "Trường này là bắt buộc." in bad.text and "123" in bad.text
    forged = await client.post("/suggest", data=STUDENT)
    assert forged.status_code == 403
    assert await count(session_maker, Suggestion) == 0


async def test_a_bot_filling_the_honeypot_is_thanked_and_nothing_is_stored(client, session_maker):
    r = await form_post(client, "/suggest", None, {**STUDENT, "website": "http://spam.example"})
    assert r.status_code == 200
    assert await count(session_maker, Suggestion) == 0 and await outbox(session_maker) == []


async def test_the_student_form_is_rate_limited(client, session_maker):
    from crm.acquisitions.controllers.public import SUGGEST_RATE_LIMIT

    limit = SUGGEST_RATE_LIMIT.rate_limit[1]
    page = await client.get("/suggest")
    token = csrf_from(page.text)
    statuses = [(await client.post("/suggest", data={**STUDENT, "title": f"Sách {i}", "_csrf_token": token})).status_code
                for i in range(limit + 2)]
    assert statuses[:limit] == [200] * limit and statuses[-1] == 429
    assert await count(session_maker, Suggestion) == limit


async def test_a_title_already_held_is_shown_before_anything_is_stored(client, session_maker, factory):
    await ingest_demo(session_maker, factory)
    r = await form_post(client, "/suggest", None, {**STUDENT, "title": "Hoc may", "authors": "Vu Huu Tiep"})
    assert r.status_code == 200 and "Thư viện đã có tài liệu này" in r.text and "006.31" in r.text
    assert await count(session_maker, Suggestion) == 0
    anyway = await form_post(client, "/suggest", None, {**STUDENT, "title": "Hoc may", "authors": "Vu Huu Tiep", "anyway": "1"})
    assert anyway.status_code == 200
    [s] = await suggestions(session_maker)
    assert s.item_id == await item_id(session_maker, "Học máy")
    _subject, text, _html = parsed((await outbox(session_maker))[0])
    assert "Học máy" in text and "006.31" in text  # the email says where to find it


async def test_the_same_title_again_is_one_more_vote(client, session_maker):
    await form_post(client, "/suggest", None, STUDENT)
    r = await form_post(client, "/suggest", None, {**STUDENT, "title": "Giao trinh ke toan tai chinh",
                                                   "name": "Trần Văn Bình", "email": "binh@st.demo.edu.vn"})
    assert "được tính thêm một phiếu" in r.text
    first, second = await suggestions(session_maker)
    assert second.duplicate_of_id == first.id and first.duplicate_of_id is None


async def test_suggestion_text_is_escaped_on_every_page_and_email(client, session_maker, librarian):
    evil = {**STUDENT, "title": "<script>alert(1)</script>", "reason": "<img src=x onerror=alert(2)>",
            "name": "<b>Bình</b>"}
    await form_post(client, "/suggest", None, evil)
    [s] = await suggestions(session_maker)
    for url in ("/acquisitions/suggestions", f"/acquisitions/suggestions/{s.id}", "/acquisitions/plan"):
        page = await client.get(url)
        assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text, url
        assert "<img src=x" not in page.text and "<b>Bình</b>" not in page.text, url
    _subject, _text, html = parsed((await outbox(session_maker))[0])
    assert "<script>" not in html and "&lt;script&gt;" in html


# --- lecturers ------------------------------------------------------------------------------


async def test_a_lecturer_suggests_through_their_signed_link(client, session_maker, factory, settings):
    lan, _minh, cohort = await people(factory)
    course = await make_course(factory, lecturers=[lan], groups=[cohort])
    link = suggestion_link(settings, lan.id)
    path = link.removeprefix(settings.base_url)
    page = await client.get(path)
    assert page.status_code == 200 and "Trần Thị Lan" in page.text and "TV2012" in page.text
    r = await form_post(client, path, None, {"title": "Bảo quản tài liệu số", "authors": "Vũ Văn Sơn",
                                             "course_id": str(course.id), "reason": "Cho chương 5."})
    assert r.status_code == 200 and "Bảo quản tài liệu số" in r.text
    [s] = await suggestions(session_maker)
    assert (s.suggester_kind, s.contact_id, s.course_id, s.students) == ("lecturer", lan.id, course.id, 4)
    _subject, text, _html = parsed((await outbox(session_maker))[0])
    assert "Kính gửi Trần Thị Lan" in text and link.split(".")[0] in text  # their page, to follow the suggestion


async def test_a_lecturer_link_shows_only_their_own_suggestions(client, session_maker, factory, settings):
    lan, minh, _cohort = await people(factory)
    for who in (lan, minh):
        path = suggestion_link(settings, who.id).removeprefix(settings.base_url)
        await form_post(client, path, None, {"title": f"Sách của {who.full_name}"})
    page = await client.get(suggestion_link(settings, lan.id).removeprefix(settings.base_url))
    assert "Sách của Trần Thị Lan" in page.text and "Sách của Lê Hoàng Minh" not in page.text


async def test_bad_and_expired_links_are_refused(client, session_maker, factory, settings, monkeypatch):
    import time

    from crm.security.tokens import LIFETIMES

    lan, _minh, _cohort = await people(factory)
    assert (await client.get("/suggest/not-a-token")).status_code == 404
    other_purpose = make_token(settings, "question-track", {"c": lan.id})
    assert (await client.get(f"/suggest/{other_purpose}")).status_code == 404
    unknown = make_token(settings, "suggestion", {"c": 999_999})
    assert (await client.get(f"/suggest/{unknown}")).status_code == 404
    made_at = time.time() - LIFETIMES["suggestion"].total_seconds() - 60
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: made_at)
    expired = make_token(settings, "suggestion", {"c": lan.id})
    monkeypatch.undo()
    r = await client.get(f"/suggest/{expired}")
    assert r.status_code == 410 and "hết hạn" in r.text
    posted = await form_post(client, "/suggest", f"/suggest/{expired}", {"title": "Sách"})
    assert posted.status_code == 410 and await count(session_maker, Suggestion) == 0


# --- librarians -----------------------------------------------------------------------------


async def test_a_librarian_records_a_suggestion_for_a_lecturer(client, librarian, session_maker, factory):
    lan, _minh, _cohort = await people(factory)
    await make_course(factory, lecturers=[lan])
    page = await client.get("/acquisitions/suggestions/new?q=lan")
    assert f"/acquisitions/suggestions/new?contact_id={lan.id}" in page.text
    r = await form_post(client, f"/acquisitions/suggestions/new?contact_id={lan.id}", "/acquisitions/suggestions/new",
                        {"contact_id": str(lan.id), "title": "Siêu dữ liệu Dublin Core", "course_code": "tv2012",
                         "students": "40"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    [s] = await suggestions(session_maker)
    assert (s.suggester_kind, s.contact_id, s.entered_by_id, s.students) == ("lecturer", lan.id, librarian.id, 40)
    [message] = await outbox(session_maker)
    assert message.recipient == "lantt@demo.edu.vn"
    mail = message_from_bytes(message.raw, policy=policy.default)
    assert librarian.email in str(mail["Reply-To"])  # replies reach the librarian who recorded it
    bad = await form_post(client, "/acquisitions/suggestions/new", None, {"title": "X", "course_code": "KHONG-CO"})
    assert bad.status_code == 400


async def test_each_status_change_emails_the_suggester_once(client, librarian, session_maker):
    await form_post(client, "/suggest", None, STUDENT)
    [s] = await suggestions(session_maker)
    url = f"/acquisitions/suggestions/{s.id}"
    no_reason = await form_post(client, url, f"{url}/status", {"status": "rejected"})
    assert no_reason.status_code == 400 and "Hãy cho biết lý do" in no_reason.text
    for status in ("accepted", "ordered"):
        r = await form_post(client, url, f"{url}/status", {"status": status, "reason": "Đặt mua qua Fahasa."},
                            follow_redirects=False)
        assert r.status_code == 303
    back = await form_post(client, url, f"{url}/status", {"status": "new"})
    assert back.status_code == 400  # an order is not undone to "new"
    keys = [m.idempotency_key for m in await outbox(session_maker)]
    assert keys == [f"acq-suggestion:{s.id}:new", f"acq-suggestion:{s.id}:accepted", f"acq-suggestion:{s.id}:ordered"]
    subject, text, _html = parsed((await outbox(session_maker))[-1])
    assert "đã đặt mua" in subject.lower() and "Đặt mua qua Fahasa." in text


async def test_a_rejection_reason_reaches_the_suggester(client, librarian, session_maker, librarian_token):
    await form_post(client, "/suggest", None, STUDENT)
    [s] = await suggestions(session_maker)
    r = await client.post(f"/api/acquisitions/suggestions/{s.id}/status",
                          json={"status": "rejected", "reason": "Đã có bản điện tử trên cơ sở dữ liệu."},
                          headers=bearer(librarian_token))
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    _subject, text, _html = parsed((await outbox(session_maker))[-1])
    assert "Đã có bản điện tử trên cơ sở dữ liệu." in text
    reopen = await client.post(f"/api/acquisitions/suggestions/{s.id}/status", json={"status": "new"},
                               headers=bearer(librarian_token))
    assert reopen.status_code == 200 and len(await outbox(session_maker)) == 2  # "new" was already told


async def test_inviting_lecturers_sends_their_personal_links(client, librarian, session_maker, factory, settings):
    lan, minh, _cohort = await people(factory)
    course = await make_course(factory, lecturers=[lan, minh])
    url = f"/acquisitions/courses/{course.id}"
    await form_post(client, url, f"{url}/invite", {})
    await form_post(client, url, f"{url}/invite", {})  # twice the same day: one email each
    messages = await outbox(session_maker)
    assert sorted(m.recipient for m in messages) == ["lantt@demo.edu.vn", "minhlh@demo.edu.vn"]
    _subject, text, _html = parsed(next(m for m in messages if m.recipient == "lantt@demo.edu.vn"))
    # A token is the payload, a timestamp and a signature: the payload names Lan.
    assert suggestion_link(settings, lan.id).split(".")[0] in text and "TV2012" in text
    page = await form_post(client, f"/acquisitions/suggestions/invite?contact_id={lan.id}", "/acquisitions/suggestions/invite",
                           {"contact_id": str(lan.id), "send": "0"})
    assert suggestion_link(settings, lan.id).split(".")[0] in page.text


async def test_the_suggestion_list_filters_by_status_and_text(client, librarian, session_maker):
    await form_post(client, "/suggest", None, STUDENT)
    await form_post(client, "/suggest", None, {**STUDENT, "title": "Marketing thư viện", "reason": "Cho khóa luận.",
                                                "email": "b@st.demo.edu.vn"})
    page = await client.get("/acquisitions/suggestions?q=ke+toan")
    assert "Giáo trình kế toán tài chính" in page.text and "Marketing thư viện" not in page.text
    api = await client.get("/api/acquisitions/suggestions?status=new")
    assert api.json()["total"] == 2
