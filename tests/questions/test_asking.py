"""Students: the public form (CSRF, honeypot, limits per address and per email), the confirmation
email with its tracking link, the tracking page (one question only) and the rating."""

import time
from datetime import timedelta

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import func, select

from crm.questions.models import Question, QuestionEvent
from crm.security.tokens import make_token
from tests.conftest import csrf_from
from tests.questions.helpers import ask, ask_data, bodies, latest_question, link_in, make_world, queued


@pytest.fixture
async def world(factory):
    return await make_world(factory)


async def _count(session_maker) -> int:
    async with session_maker() as s:
        return await s.scalar(select(func.count()).select_from(Question))


async def test_the_form_is_public_vietnamese_first_and_offers_names_never_addresses(client, world):
    r = await client.get("/ask")
    assert r.status_code == 200
    assert '<html lang="vi">' in r.text and "Hỏi giảng viên qua thư viện" in r.text
    assert 'name="_csrf_token"' in r.text and 'name="website"' in r.text
    assert "TS. Bùi Thị Thu Trang — Bộ môn Khoa học Máy tính" in r.text  # the lecturer datalist
    assert "K66 Khoa học Máy tính (K66-KHMT)" in r.text  # the course datalist
    assert "trang.btt@example.edu.vn" not in r.text
    r = await client.get("/ask", headers={"Accept-Language": "en"})
    assert '<html lang="en">' in r.text and "Ask a lecturer through the library" in r.text


async def test_asking_stores_the_question_and_queues_a_confirmation_with_the_tracking_link(client, world, session_maker):
    r = await ask(client, lecturer="TS. Bùi Thị Thu Trang — Bộ môn Khoa học Máy tính", consent_share_email="on",
                  student_name="Nguyễn Thị Mai Anh")
    assert r.status_code == 303
    location = r.headers["location"]
    assert location.startswith("/questions/track/") and location.endswith("?sent=1")

    question = await latest_question(session_maker)
    assert question.reference.startswith("CH-") and len(question.reference) == 10
    assert question.student_email == "MaiAnh.K66@example.edu.vn" and question.email_key == "maianh.k66@example.edu.vn"
    assert question.group_id == world.group.id and question.unit_id == world.unit.id
    assert question.requested_lecturer_id == world.trang.id and question.lecturer_id == world.trang.id
    assert question.status == "new" and question.consent_share_email and question.language == "vi"
    assert question.relayed_text == question.body

    [mail] = await queued(session_maker, "question-received:")
    assert mail.recipient == "maianh.k66@example.edu.vn" and mail.kind == "question"
    assert question.reference in mail.subject
    text, html = bodies(mail)
    assert "Chào bạn Anh," in text and question.body in text
    track = link_in(mail, "track")
    assert track == location.split("?")[0]
    page = await client.get(track)
    assert page.status_code == 200
    assert question.reference in page.text and "Tài liệu về học máy" in page.text and "Mới" in page.text
    assert f'href="{track.replace("/questions/track/", "http://testserver.local/questions/track/")}"' in html

    async with session_maker() as s:
        events = list(await s.scalars(select(QuestionEvent).where(QuestionEvent.question_id == question.id)))
    assert [(e.action, e.actor, e.to_status) for e in events] == [("asked", "student", "new")]


async def test_an_unknown_lecturer_and_course_are_kept_as_typed(client, world, session_maker):
    r = await ask(client, lecturer="Thầy Hùng dạy Python", course="Lập trình Python nâng cao")
    assert r.status_code == 303
    question = await latest_question(session_maker)
    assert question.lecturer_id is None and question.requested_lecturer_text == "Thầy Hùng dạy Python"
    assert question.group_id is None and question.course == "Lập trình Python nâng cao"


async def test_english_students_get_english_pages_and_emails(client, world, session_maker):
    r = await ask(client, headers={"Accept-Language": "en"})
    assert r.status_code == 303
    question = await latest_question(session_maker)
    assert question.language == "en"
    [mail] = await queued(session_maker, "question-received:")
    assert mail.subject.startswith("We received your question")
    page = await client.get(r.headers["location"], headers={"Accept-Language": "en"})
    assert "Thank you, your question was received" in page.text


async def test_bad_input_is_shown_on_the_form_with_what_was_typed(client, world, session_maker):
    r = await ask(client, email="not-an-address", question="ngắn", topic="")
    assert r.status_code == 400
    assert "Địa chỉ email không hợp lệ." in r.text or "không hợp lệ" in r.text
    assert "Tối thiểu 10 ký tự." in r.text
    assert 'value="Nguyễn Thị Mai Anh"' in r.text
    assert await _count(session_maker) == 0 and await queued(session_maker) == []


async def test_the_form_needs_its_csrf_token(client, world, session_maker):
    await client.get("/ask")
    r = await client.post("/ask", data=ask_data(), follow_redirects=False)
    assert r.status_code == 403
    assert await _count(session_maker) == 0


async def test_the_honeypot_pretends_success_and_stores_nothing(client, world, session_maker):
    r = await ask(client, website="http://spam.example")
    assert r.status_code == 200 and "Đã gửi câu hỏi" in r.text
    assert await _count(session_maker) == 0 and await queued(session_maker) == []


async def test_one_address_is_limited_per_minute_with_a_friendly_429(client, world, session_maker):
    for n in range(6):
        r = await ask(client, email=f"sv{n}@example.edu.vn")
        assert r.status_code == 303, r.text
    r = await ask(client, email="sv99@example.edu.vn")
    assert r.status_code == 429
    assert "Vui lòng chờ một chút" in r.text and "mạng của bạn" in r.text
    assert await _count(session_maker) == 6
    # The form itself can still be read.
    assert (await client.get("/ask")).status_code == 200


async def test_one_email_is_limited_per_hour_whatever_its_case(client, world, session_maker, new_client):
    for n in range(5):
        email = "maianh@example.edu.vn" if n % 2 else "MAIANH@example.edu.vn"
        assert (await ask(client, email=email)).status_code == 303
    r = await ask(client, email="Maianh@Example.edu.vn")
    assert r.status_code == 429
    assert "trong một giờ qua" in r.text
    assert await _count(session_maker) == 5
    async with new_client() as other:  # another address (the per-address limit is spent here)
        assert (await ask(other, email="another@example.edu.vn")).status_code == 303
        assert (await ask(other, email="maianh@example.edu.vn")).status_code == 429


# --- the tracking page --------------------------------------------------------------------------


async def _two_questions(client, session_maker):
    first = await ask(client, email="a@example.edu.vn", topic="Câu hỏi của An", question="Nội dung riêng của An về học máy.")
    second = await ask(client, email="b@example.edu.vn", topic="Câu hỏi của Bình", question="Nội dung riêng của Bình về ngữ pháp.")
    return first.headers["location"].split("?")[0], second.headers["location"].split("?")[0]


async def test_a_student_sees_only_their_own_question(client, world, session_maker, settings):
    mine, theirs = await _two_questions(client, session_maker)
    page = await client.get(mine)
    assert "Nội dung riêng của An" in page.text and "Bình" not in page.text
    page = await client.get(theirs)
    assert "Nội dung riêng của Bình" in page.text and "An về" not in page.text

    async with session_maker() as s:
        first, second = list(await s.scalars(select(Question).order_by(Question.id)))
    # A signed token naming the other question with this question's reference is refused.
    forged = make_token(settings, "question-track", {"q": second.id, "r": first.reference})
    r = await client.get(f"/questions/track/{forged}")
    assert r.status_code == 400 and "Bình" not in r.text
    # A reply link (another purpose) does not open a tracking page.
    reply = make_token(settings, "question-reply", {"q": first.id, "n": 0})
    r = await client.get(f"/questions/track/{reply}")
    assert r.status_code == 400
    # A tampered token: one changed character.
    token = mine.rsplit("/", 1)[1]
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    r = await client.get(f"/questions/track/{tampered}")
    assert r.status_code == 400 and "Không dùng được đường dẫn này" in r.text and "An" not in r.text.split("<main")[1]


async def test_an_expired_tracking_link_answers_410(client, world, session_maker, settings, monkeypatch):
    await ask(client)
    question = await latest_question(session_maker)
    long_ago = int(time.time() - timedelta(days=400).total_seconds())
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: long_ago)
    token = make_token(settings, "question-track", {"q": question.id, "r": question.reference})
    monkeypatch.undo()
    r = await client.get(f"/questions/track/{token}")
    assert r.status_code == 410 and "hết hạn" in r.text


async def test_rating_comes_after_the_answer(client, world, session_maker):
    from tests.questions.helpers import relay_as

    r = await ask(client)
    track = r.headers["location"].split("?")[0]
    page = await client.get(track)
    assert 'action="' + track + '/rating"' not in page.text
    r = await client.post(f"{track}/rating", data={"helpful": "yes", "_csrf_token": csrf_from(page.text)})
    assert r.status_code == 400 and "khi giảng viên đã trả lời" in r.text


async def test_a_rating_is_stored_with_the_faq_consent(client, world, session_maker, factory):
    from tests.conftest import login
    from tests.questions.helpers import relay_as

    user = await factory.user()
    r = await ask(client)
    track = r.headers["location"].split("?")[0]
    question = await latest_question(session_maker)
    await login(client, user.email)
    assert (await relay_as(client, question.id, world.trang.id)).status_code == 303
    [relay] = await queued(session_maker, "question-relay:")
    reply = link_in(relay, "reply")
    page = await client.get(reply)
    await client.post(reply, data={"action": "answer", "answer": "Em đọc chương 1 giáo trình Học máy.",
                                   "_csrf_token": csrf_from(page.text)})
    page = await client.get(track)
    assert "Đánh giá câu trả lời" in page.text
    r = await client.post(f"{track}/rating", data={"helpful": "maybe", "_csrf_token": csrf_from(page.text)})
    assert r.status_code == 400
    r = await client.post(f"{track}/rating", data={"helpful": "yes", "used_sources": "no", "comment": "Cảm ơn cô",
                                                   "faq_consent": "on", "_csrf_token": csrf_from(page.text)},
                          follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("?rated=1#rating")
    question = await latest_question(session_maker)
    assert question.rating_helpful is True and question.rating_used_sources is False
    assert question.rating_comment == "Cảm ơn cô" and question.faq_student_consent is True and question.rated_at
    page = await client.get(track + "?rated=1")
    assert "Cảm ơn bạn đã đánh giá." in page.text
