"""Librarians: the queue with filters and folded search, suggestions with reasons, assigning, editing
the relayed text, relaying by email, statuses, internal notes, the audit trail and the CRM timeline."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from crm.liaison.models import Interaction
from crm.questions.models import QuestionEvent
from tests.conftest import csrf_from, login
from tests.questions.helpers import ask, bodies, latest_question, link_in, make_world, parse, queued, relay_as


@pytest.fixture
async def world(factory):
    return await make_world(factory)


async def _post(client, question_id: int, action: str, data: dict, **kwargs):
    page = await client.get(f"/questions/{question_id}")
    return await client.post(f"/questions/{question_id}/{action}", data={**data, "_csrf_token": csrf_from(page.text)},
                             follow_redirects=False, **kwargs)


async def _events(session_maker, question_id: int) -> list[QuestionEvent]:
    async with session_maker() as s:
        return list((await s.scalars(select(QuestionEvent).where(QuestionEvent.question_id == question_id)
                                     .order_by(QuestionEvent.id))).unique())


async def test_librarian_pages_need_a_login(client, world):
    await ask(client)
    for path in ("/questions", "/questions/1", "/questions/reports", "/questions/reports/export.csv", "/questions/faq"):
        r = await client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path
    assert (await client.get("/api/questions")).status_code == 401


async def test_the_queue_filters_and_searches_without_diacritics(client, world, factory, session_maker):
    await ask(client, topic="Tài liệu về học máy", email="a@example.edu.vn")
    await ask(client, topic="Ngữ pháp tiếng Việt", question="Em muốn hỏi về ngữ pháp tiếng Việt hiện đại ạ.",
              course="Ngữ văn K67", email="b@example.edu.vn")
    user = await factory.user()
    await login(client, user.email)

    page = await client.get("/questions")
    assert page.status_code == 200
    assert "Tài liệu về học máy" in page.text and "Ngữ pháp tiếng Việt" in page.text
    assert "Đang mở (2)" in page.text
    # The new question without a lecturer shows the best suggestion and why.
    assert "Gợi ý:" in page.text and "Hồ sơ quan tâm “Ngữ pháp tiếng Việt” phù hợp" in page.text

    page = await client.get("/questions", params={"q": "ngu phap"})
    assert "Ngữ pháp tiếng Việt" in page.text and "Tài liệu về học máy" not in page.text
    page = await client.get("/questions", params={"unit_id": str(world.unit.id)})
    assert "Tài liệu về học máy" in page.text and "Ngữ pháp tiếng Việt" not in page.text
    page = await client.get("/questions", params={"status": "answered"})
    assert "Không có câu hỏi nào phù hợp bộ lọc." in page.text
    page = await client.get("/questions", params={"date_from": (date.today() + timedelta(days=1)).strftime("%d/%m/%Y")})
    assert "Không có câu hỏi nào phù hợp bộ lọc." in page.text
    page = await client.get("/questions", params={"date_from": "31/02/2026"})
    assert page.status_code == 200 and "Ngày không hợp lệ" in page.text
    page = await client.get("/questions", params={"lecturer_id": str(world.trang.id)})
    assert "Chỉ các câu hỏi gửi Bùi Thị Thu Trang." in page.text


async def test_suggestions_explain_themselves(client, world, librarian, session_maker):
    await ask(client)
    question = await latest_question(session_maker)
    page = await client.get(f"/questions/{question.id}")
    text = page.text
    assert "Giảng viên được gợi ý" in text
    # Trang: her profile matches and she teaches in the cohort's unit; Khoa only by the unit.
    assert text.index("Bùi Thị Thu Trang") < text.index("Ngô Minh Khoa")
    assert "Hồ sơ quan tâm “Học máy” phù hợp: học máy." in text
    assert "Giảng dạy tại Khoa Công nghệ Thông tin, đơn vị của K66 Khoa học Máy tính." in text
    assert "Nguyễn Thị Thanh Hương" not in text


async def test_assign_edit_and_relay_queue_the_lecturers_email_and_fill_the_timeline(client, world, librarian, session_maker):
    await ask(client, consent_share_email="")
    question = await latest_question(session_maker)

    r = await _post(client, question.id, "assign", {"lecturer_id": str(world.trang.id)})
    assert r.status_code == 303
    r = await _post(client, question.id, "text", {"relayed_text": "Sinh viên cần tài liệu nhập môn học máy (đã rút gọn)."})
    assert r.status_code == 303
    assert await queued(session_maker, "question-relay:") == []
    r = await _post(client, question.id, "relay", {})
    assert r.status_code == 303

    question = await latest_question(session_maker)
    assert question.status == "relayed" and question.relay_count == 1 and question.relayed_at is not None
    assert question.librarian_id == librarian.id
    [mail] = await queued(session_maker, "question-relay:")
    assert mail.recipient == "trang.btt@example.edu.vn"
    message = parse(mail)
    assert message["Reply-To"] == librarian.email
    text, html = bodies(mail)
    assert "Kính gửi TS. Bùi Thị Thu Trang," in text
    assert "Sinh viên cần tài liệu nhập môn học máy (đã rút gọn)." in text
    assert "maianh" not in text.lower() and "maianh" not in html.lower()  # no consent: no address
    assert link_in(mail, "reply").startswith("/questions/reply/")
    assert "Trần Thị Thu" in text  # the librarian's signature

    actions = [(e.action, e.actor, e.user_id) for e in await _events(session_maker, question.id)]
    assert actions == [("asked", "student", None), ("assigned", "librarian", librarian.id),
                       ("edited", "librarian", librarian.id), ("relayed", "librarian", librarian.id)]

    async with session_maker() as s:
        interaction = await s.get(Interaction, question.interaction_id)
        assert interaction.kind == "consultation"
        assert interaction.subject == "Câu hỏi của sinh viên: Tài liệu về học máy"
        assert {c.id for c in interaction.contacts} == {world.trang.id}
        assert {g.id for g in interaction.groups} == {world.group.id}
        assert f"/questions/{question.id}" in interaction.notes and question.reference in interaction.notes
        assert interaction.outcome.startswith("Đã chuyển tiếp tới TS. Bùi Thị Thu Trang")
    contact_page = await client.get(f"/contacts/{world.trang.id}")
    assert "Câu hỏi của sinh viên: Tài liệu về học máy" in contact_page.text
    group_page = await client.get(f"/groups/{world.group.id}")
    assert "Câu hỏi của sinh viên: Tài liệu về học máy" in group_page.text


async def test_the_student_address_goes_to_the_lecturer_only_with_consent(client, world, librarian, session_maker):
    await ask(client, consent_share_email="on")
    question = await latest_question(session_maker)
    await relay_as(client, question.id, world.khoa.id)
    [mail] = await queued(session_maker, "question-relay:")
    text, _html = bodies(mail)
    assert "MaiAnh.K66@example.edu.vn" in text


async def test_relaying_needs_a_lecturer(client, world, librarian, session_maker):
    await ask(client, course="Môn tự chọn", lecturer="")
    question = await latest_question(session_maker)
    r = await _post(client, question.id, "relay", {})
    assert r.status_code == 400 and "Hãy chọn giảng viên để chuyển tiếp câu hỏi." in r.text
    r = await _post(client, question.id, "assign", {"lecturer_id": "999999"})
    assert r.status_code == 400
    r = await _post(client, question.id, "assign", {"lecturer_id": "abc"})
    assert r.status_code == 400


async def test_declining_tells_the_student_why(client, world, librarian, session_maker):
    r = await ask(client)
    track = r.headers["location"].split("?")[0]
    question = await latest_question(session_maker)
    r = await _post(client, question.id, "status", {"status": "declined"})
    assert r.status_code == 400 and "Hãy cho sinh viên biết lý do từ chối câu hỏi." in r.text
    r = await _post(client, question.id, "status", {"status": "declined",
                                                     "message": "Câu hỏi về điểm thi, em liên hệ phòng Đào tạo nhé."})
    assert r.status_code == 303
    question = await latest_question(session_maker)
    assert question.status == "declined" and question.closed_at is not None
    [mail] = await queued(session_maker, "question-status:")
    assert mail.recipient == "maianh.k66@example.edu.vn"
    assert "Câu hỏi về điểm thi, em liên hệ phòng Đào tạo nhé." in bodies(mail)[0]
    page = await client.get(track)
    assert "Lời nhắn của thư viện" in page.text and "phòng Đào tạo" in page.text

    # Declined questions cannot be relayed until reopened.
    r = await _post(client, question.id, "relay", {})
    assert r.status_code == 400 and "không còn mở" in r.text
    r = await _post(client, question.id, "status", {"status": "new"})
    assert r.status_code == 303
    question = await latest_question(session_maker)
    assert question.status == "new" and question.closed_at is None
    events = [(e.action, e.from_status, e.to_status) for e in await _events(session_maker, question.id)]
    assert events[-2:] == [("declined", "new", "declined"), ("reopened", "declined", "new")]


async def test_a_duplicate_names_the_original(client, world, librarian, session_maker):
    await ask(client, email="first@example.edu.vn")
    original = await latest_question(session_maker)
    await ask(client, email="second@example.edu.vn")
    copy = await latest_question(session_maker)
    r = await _post(client, copy.id, "status", {"status": "duplicate", "duplicate_of": "CH-NOTHERE"})
    assert r.status_code == 400 and "Hãy nhập mã của câu hỏi" in r.text
    r = await _post(client, copy.id, "status", {"status": "duplicate", "duplicate_of": original.reference.lower()})
    assert r.status_code == 303
    copy = await latest_question(session_maker)
    assert copy.status == "duplicate" and copy.duplicate_of_id == original.id
    page = await client.get(f"/questions/{copy.id}")
    assert f'href="/questions/{original.id}">{original.reference}</a>' in page.text
    assert len(await queued(session_maker, "question-status:")) == 1


async def test_internal_notes_stay_internal(client, world, librarian, session_maker):
    r = await ask(client)
    track = r.headers["location"].split("?")[0]
    question = await latest_question(session_maker)
    r = await _post(client, question.id, "notes", {"body": ""})
    assert r.status_code == 400
    r = await _post(client, question.id, "notes", {"body": "Sinh viên này đã hỏi trực tiếp tại quầy."})
    assert r.status_code == 303
    page = await client.get(f"/questions/{question.id}")
    assert "Sinh viên này đã hỏi trực tiếp tại quầy." in page.text and "Thêm ghi chú nội bộ" in page.text
    await relay_as(client, question.id, world.trang.id)
    reply = link_in((await queued(session_maker, "question-relay:"))[0], "reply")
    for path in (track, reply):
        assert "đã hỏi trực tiếp tại quầy" not in (await client.get(path)).text


async def test_reassigning_a_relayed_question_withdraws_the_first_link(client, world, librarian, session_maker):
    await ask(client)
    question = await latest_question(session_maker)
    await relay_as(client, question.id, world.trang.id)
    first_link = link_in((await queued(session_maker, "question-relay:"))[0], "reply")
    r = await _post(client, question.id, "assign", {"lecturer_id": str(world.khoa.id)})
    assert r.status_code == 303
    question = await latest_question(session_maker)
    assert question.status == "new" and question.lecturer_id == world.khoa.id
    assert (await client.get(first_link)).status_code == 410
    actions = [(e.action, e.from_status, e.to_status) for e in await _events(session_maker, question.id)][-2:]
    assert actions == [("withdrawn", "relayed", "new"), ("assigned", None, None)]
    page = await client.get(f"/questions/{question.id}")
    assert "Thu hồi câu hỏi đã gửi giảng viên" in page.text and "Sẵn sàng chuyển tiếp tới Ngô Minh Khoa." in page.text
