"""Lecturers: the reply page of one question through a signed link — answer with sources from the
item store, decline or name a colleague; reused, tampered, expired and superseded links."""

import re
import time
from datetime import timedelta

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import select

from crm.liaison.models import Interaction
from crm.questions.models import Answer, QuestionEvent
from crm.security.tokens import make_token
from crm.sources.records import ItemRecord
from tests.conftest import csrf_from, login
from tests.questions.helpers import ask, bodies, latest_question, link_in, make_world, queued, relay_as
from tests.sources.test_items import make_item


@pytest.fixture
async def relayed(client, factory, session_maker):
    """A question asked by Mai Anh, relayed by a librarian to TS. Bùi Thị Thu Trang; the client then logs out."""
    world = await make_world(factory)
    user = await factory.user()
    r = await ask(client, question="Em cần tài liệu nhập môn về học máy cho khóa luận, thầy cô gợi ý giúp em.")
    track = r.headers["location"].split("?")[0]
    question = await latest_question(session_maker)
    await login(client, user.email)
    assert (await relay_as(client, question.id, world.trang.id)).status_code == 303
    page = await client.get("/account")
    await client.post("/logout", data={"_csrf_token": csrf_from(page.text)})
    [mail] = await queued(session_maker, "question-relay:")
    return {"world": world, "librarian": user, "question": question, "track": track, "reply": link_in(mail, "reply")}


@pytest.fixture
async def books(factory):
    ml = await make_item(factory, ItemRecord(record_key="ml-1", title="Nhập môn học máy", authors=["Nguyễn Văn Học"], year=2023,
                                             publisher="NXB Đại học Quốc gia Hà Nội"))
    dl = await make_item(factory, ItemRecord(record_key="dl-1", title="Deep learning", authors=["Goodfellow, Ian"], year=2016,
                                             link="https://example.org/deep-learning"))
    other = await make_item(factory, ItemRecord(record_key="ls-1", title="Lịch sử Việt Nam cận đại", year=2010))
    return ml, dl, other


async def test_the_reply_page_shows_this_question_only_without_the_students_address(client, relayed, session_maker):
    page = await client.get(relayed["reply"])
    assert page.status_code == 200
    assert "Em cần tài liệu nhập môn về học máy" in page.text and relayed["question"].reference in page.text
    assert "Nguyễn Thị Mai Anh" in page.text and "sinh viên không chia sẻ địa chỉ email" in page.text
    assert "maianh" not in page.text.lower()
    assert 'name="_csrf_token"' in page.text
    # No librarian navigation, no other question.
    assert 'href="/questions"' not in page.text and 'href="/contacts"' not in page.text


async def test_searching_the_catalogue_keeps_the_answer_and_the_choices(client, relayed, books):
    ml, dl, other = books
    page = await client.get(relayed["reply"])
    token = csrf_from(page.text)
    r = await client.post(relayed["reply"], data={"action": "search", "items_q": "HOC MAY", "answer": "Bản nháp",
                                                  "_csrf_token": token})
    assert r.status_code == 200
    assert "Nhập môn học máy" in r.text and "Lịch sử Việt Nam" not in r.text
    assert ">Bản nháp</textarea>" in r.text
    r = await client.post(relayed["reply"], data={"action": "search", "items_q": "deep", "answer": "Bản nháp",
                                                  "item_ids": str(ml.id), "_csrf_token": token})
    assert f'name="item_ids" value="{ml.id}" checked' in r.text and "Deep learning" in r.text

    r = await client.get(relayed["reply"] + "/items", params={"q": "hoc may"})
    assert r.status_code == 200 and [i["title"] for i in r.json()["items"]] == ["Nhập môn học máy"]
    assert (await client.get(relayed["reply"] + "/items")).json() == {"items": []}


async def test_answering_reaches_the_student_by_email_and_on_the_tracking_page(client, relayed, books, session_maker):
    ml, dl, _other = books
    page = await client.get(relayed["reply"])
    token = csrf_from(page.text)
    r = await client.post(relayed["reply"], data={"action": "answer", "answer": "", "_csrf_token": token})
    assert r.status_code == 400 and "Trường này là bắt buộc." in r.text
    r = await client.post(relayed["reply"], data={"action": "answer", "answer": "Em xem giáo trình này.",
                                                  "item_ids": "987654", "_csrf_token": token})
    assert r.status_code == 400 and "không còn trong mục lục" in r.text

    r = await client.post(relayed["reply"], data={
        "action": "answer", "answer": "Em đọc chương 1–3 cuốn Nhập môn học máy, rồi đến Deep learning.",
        "item_ids": [str(ml.id), str(dl.id)], "faq_consent": "on", "_csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("?done=answered")

    question = await latest_question(session_maker)
    assert question.status == "answered" and question.answered_at and question.faq_lecturer_consent
    async with session_maker() as s:
        answer = await s.scalar(select(Answer).where(Answer.question_id == question.id))
        assert answer.contact_id == relayed["world"].trang.id
        assert sorted(i.title for i in answer.items) == ["Deep learning", "Nhập môn học máy"]
        event = await s.scalar(select(QuestionEvent).where(QuestionEvent.action == "answered"))
        assert event.actor == "lecturer" and event.contact_id == relayed["world"].trang.id
        interaction = await s.get(Interaction, question.interaction_id)
        assert interaction.outcome.startswith("TS. Bùi Thị Thu Trang đã trả lời ngày")

    [mail] = await queued(session_maker, "question-answer:")
    assert mail.recipient == "maianh.k66@example.edu.vn"
    text, html = bodies(mail)
    assert "Em đọc chương 1–3 cuốn Nhập môn học máy" in text and "Nhập môn học máy — Nguyễn Văn Học" in text
    assert re.search(r'<a href="https://example.org/deep-learning"[^>]*>Deep learning</a>', html)
    track = link_in(mail, "track")
    assert track.split(".")[0] == relayed["track"].split(".")[0]  # the same question (signed at another second)
    assert (await client.get(track)).status_code == 200

    page = await client.get(relayed["track"])
    assert "Em đọc chương 1–3" in page.text and "Tài liệu thư viện giới thiệu" in page.text
    assert "Deep learning" in page.text and "Đã trả lời" in page.text


async def test_a_reused_link_shows_the_answer_read_only(client, relayed, session_maker):
    page = await client.get(relayed["reply"])
    await client.post(relayed["reply"], data={"action": "answer", "answer": "Câu trả lời thứ nhất.",
                                              "_csrf_token": csrf_from(page.text)})
    page = await client.get(relayed["reply"])
    assert page.status_code == 200
    assert "Câu hỏi này đã được trả lời." in page.text and "Câu trả lời thứ nhất." in page.text
    assert 'name="answer"' not in page.text
    r = await client.post(relayed["reply"], data={"action": "answer", "answer": "Câu trả lời thứ hai.",
                                                  "_csrf_token": csrf_from(page.text)})
    assert r.status_code == 409
    assert (await client.get(relayed["reply"] + "/items", params={"q": "x"})).status_code == 409
    async with session_maker() as s:
        assert len(list(await s.scalars(select(Answer)))) == 1
    assert len(await queued(session_maker, "question-answer:")) == 1


async def test_tampered_expired_and_superseded_links_are_refused(client, relayed, session_maker, settings, factory,
                                                                 monkeypatch):
    token = relayed["reply"].rsplit("/", 1)[1]
    r = await client.get(f"/questions/reply/{token[:-3]}xyz")
    assert r.status_code == 400 and "Không dùng được đường dẫn này" in r.text and "học máy" not in r.text
    assert (await client.get(f"/questions/reply/{token[:-3]}xyz/items", params={"q": "a"})).status_code == 400
    # A tracking link is not a reply link.
    r = await client.get("/questions/reply/" + relayed["track"].rsplit("/", 1)[1])
    assert r.status_code == 400

    question = relayed["question"]
    long_ago = int(time.time() - timedelta(days=31).total_seconds())
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: long_ago)
    expired = make_token(settings, "question-reply", {"q": question.id, "n": 1})
    monkeypatch.undo()
    r = await client.get(f"/questions/reply/{expired}")
    assert r.status_code == 410 and "hết hạn" in r.text

    # Relaying again (to another lecturer) makes the first link stop working.
    await login(client, relayed["librarian"].email)
    assert (await relay_as(client, question.id, relayed["world"].khoa.id)).status_code == 303
    r = await client.get(relayed["reply"])
    assert r.status_code == 410 and "đường dẫn mới" in r.text
    mails = await queued(session_maker, "question-relay:")
    assert [m.recipient for m in mails] == ["trang.btt@example.edu.vn", "khoa.nm@example.edu.vn"]
    assert (await client.get(link_in(mails[1], "reply"))).status_code == 200


async def test_naming_a_colleague_sends_the_question_back_to_triage(client, relayed, session_maker):
    page = await client.get(relayed["reply"])
    assert "Ngô Minh Khoa" in page.text  # a colleague of the same unit is offered
    token = csrf_from(page.text)
    r = await client.post(relayed["reply"], data={"action": "pass", "reason": "", "_csrf_token": token})
    assert r.status_code == 400
    r = await client.post(relayed["reply"], data={"action": "pass", "reason": "Ngoài chuyên môn",
                                                  "colleague_id": str(relayed["world"].huong.id), "_csrf_token": token})
    assert r.status_code == 400 and "Hãy chọn một đồng nghiệp trong danh sách." in r.text
    r = await client.post(relayed["reply"], data={
        "action": "pass", "reason": "Thầy Khoa dạy học phần này.", "colleague_id": str(relayed["world"].khoa.id),
        "_csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303

    question = await latest_question(session_maker)
    assert question.status == "new" and question.lecturer_id == relayed["world"].khoa.id
    async with session_maker() as s:
        event = (await s.scalars(select(QuestionEvent).order_by(QuestionEvent.id.desc()))).first()
    assert event.action == "redirected" and event.actor == "lecturer" and event.contact_id == relayed["world"].trang.id
    assert event.from_status == "relayed" and event.to_status == "new"
    assert event.note == "Đề nghị TS. Ngô Minh Khoa: Thầy Khoa dạy học phần này."
    [mail] = await queued(session_maker, "question-returned:")
    assert mail.recipient == relayed["librarian"].email
    assert "Thầy Khoa dạy học phần này." in bodies(mail)[0]

    page = await client.get(relayed["reply"])
    assert "Thầy/Cô không cần làm gì thêm" in page.text and 'name="answer"' not in page.text


async def test_declining_without_a_colleague(client, relayed, session_maker):
    page = await client.get(relayed["reply"])
    r = await client.post(relayed["reply"], data={"action": "pass", "reason": "Đang đi công tác dài ngày.",
                                                  "colleague": "", "_csrf_token": csrf_from(page.text)},
                          follow_redirects=False)
    assert r.status_code == 303
    question = await latest_question(session_maker)
    assert question.status == "new" and question.lecturer_id == relayed["world"].trang.id
    async with session_maker() as s:
        event = (await s.scalars(select(QuestionEvent).order_by(QuestionEvent.id.desc()))).first()
    assert (event.action, event.note) == ("lecturer_declined", "Đang đi công tác dài ngày.")


async def test_reply_and_rating_forms_need_their_csrf_token(client, relayed, session_maker):
    await client.get(relayed["reply"])
    r = await client.post(relayed["reply"], data={"action": "answer", "answer": "Không có mã CSRF."})
    assert r.status_code == 403
    r = await client.post(relayed["track"] + "/rating", data={"helpful": "yes"})
    assert r.status_code == 403
    question = await latest_question(session_maker)
    assert question.status == "relayed" and question.rated_at is None
