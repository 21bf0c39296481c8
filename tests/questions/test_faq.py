"""The knowledge base: published only when student and lecturer agreed and a librarian publishes;
anonymized, editable, searchable without diacritics, per course and topic."""

from crm.questions.services.faq import REDACTED, anonymize
from tests.conftest import csrf_from, login
from tests.questions.helpers import ask, latest_question, link_in, make_world, queued, relay_as


def test_anonymize_removes_names_addresses_and_phone_numbers():
    text = "Em là Nguyễn Thị Mai Anh, email maianh@example.edu.vn, điện thoại 0912 345 678. Cảm ơn thầy!"
    out = anonymize(text, ["Nguyễn Thị Mai Anh"])
    assert "Mai Anh" not in out and "maianh" not in out and "0912" not in out
    assert out.count(REDACTED) == 3 and out.endswith("Cảm ơn thầy!")
    assert anonymize("Năm 2024 có 3 đợt", []) == "Năm 2024 có 3 đợt"
    # The given name goes after a greeting; as an ordinary word it stays.
    assert anonymize("Chào Mai Anh, em đọc nhé. Chào An! An toàn thông tin.", ["Nguyễn Thị Mai Anh", "Lê Văn An"]) == \
        f"Chào {REDACTED}, em đọc nhé. Chào {REDACTED}! An toàn thông tin."


async def answered(client, factory, session_maker, *, student_agrees: bool, lecturer_agrees: bool):
    """A question answered by TS. Trang; returns (librarian, question, tracking path); the client is logged in."""
    world = await make_world(factory)
    user = await factory.user()
    r = await ask(client, topic="Tài liệu học máy cho khóa luận",
                  question="Em là Nguyễn Thị Mai Anh (maianh@example.edu.vn), em cần tài liệu nhập môn học máy.")
    track = r.headers["location"].split("?")[0]
    question = await latest_question(session_maker)
    await login(client, user.email)
    await relay_as(client, question.id, world.trang.id)
    reply = link_in((await queued(session_maker, "question-relay:"))[0], "reply")
    page = await client.get(reply)
    data = {"action": "answer", "answer": "Chào Mai Anh, em đọc giáo trình Nhập môn học máy nhé.",
            "_csrf_token": csrf_from(page.text)}
    if lecturer_agrees:
        data["faq_consent"] = "on"
    await client.post(reply, data=data)
    page = await client.get(track)
    rating = {"helpful": "yes", "_csrf_token": csrf_from(page.text)}
    if student_agrees:
        rating["faq_consent"] = "on"
    await client.post(f"{track}/rating", data=rating)
    return user, await latest_question(session_maker), track


async def _publish(client, question_id: int, **data):
    page = await client.get(f"/questions/{question_id}")
    return await client.post(f"/questions/{question_id}/faq", data={**data, "_csrf_token": csrf_from(page.text)},
                             follow_redirects=False)


async def test_without_both_agreements_nothing_can_be_published(client, factory, session_maker):
    _user, question, _track = await answered(client, factory, session_maker, student_agrees=False, lecturer_agrees=True)
    page = await client.get(f"/questions/{question.id}")
    assert "Câu hỏi đã trả lời có thể công bố khi cả sinh viên và giảng viên đồng ý." in page.text
    assert f'action="/questions/{question.id}/faq"' not in page.text
    r = await _publish(client, question.id, topic="x", question_text="x", answer_text="x")
    assert r.status_code == 400 and "cả sinh viên và giảng viên đều đồng ý" in r.text
    assert "Chưa có câu trả lời nào" in (await client.get("/faq")).text


async def test_publishing_anonymized_and_searching_the_public_faq(client, factory, session_maker, new_client):
    _user, question, _track = await answered(client, factory, session_maker, student_agrees=True, lecturer_agrees=True)
    page = await client.get(f"/questions/{question.id}")
    assert "Công bố trong mục hỏi đáp" in page.text
    form = page.text.split(f'action="/questions/{question.id}/faq"')[1].split("</form>")[0]
    assert "Mai Anh" not in form and "maianh@" not in form and REDACTED in form  # the proposal is anonymized

    r = await _publish(client, question.id, topic="Tài liệu học máy", course="K66 Khoa học Máy tính",
                       question_text="Em cần tài liệu nhập môn học máy cho khóa luận.",
                       answer_text="Em đọc giáo trình Nhập môn học máy nhé.")
    assert r.status_code == 303

    async with new_client() as anonymous:
        page = await anonymous.get("/faq")
        assert page.status_code == 200
        assert "Em cần tài liệu nhập môn học máy cho khóa luận." in page.text and "Mai Anh" not in page.text
        assert "Tài liệu học máy" in (await anonymous.get("/faq", params={"q": "HOC MAY"})).text
        assert "Chưa có câu trả lời nào" in (await anonymous.get("/faq", params={"q": "lịch sử"})).text
        assert "Tài liệu học máy" in (await anonymous.get("/faq", params={"course": "K66 Khoa học Máy tính"})).text
        assert "Chưa có câu trả lời nào" in (await anonymous.get("/faq", params={"topic": "Khác"})).text

    # Librarians edit the published text, hide the entry and show it again.
    entries = await client.get("/questions/faq")
    assert "Đã công bố" in entries.text
    edit = entries.text.split('href="/questions/faq/')[1].split('"')[0]
    page = await client.get(f"/questions/faq/{edit}")
    r = await client.post(f"/questions/faq/{edit}", data={"topic": "", "question_text": "a", "answer_text": "b",
                                                          "_csrf_token": csrf_from(page.text)})
    assert r.status_code == 400
    r = await client.post(f"/questions/faq/{edit}", data={
        "topic": "Học máy nhập môn", "course": "K66 Khoa học Máy tính", "question_text": "Tài liệu nhập môn học máy?",
        "answer_text": "Giáo trình Nhập môn học máy.", "_csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    entry_id = edit.split("/")[0]
    async with new_client() as anonymous:
        assert "Học máy nhập môn" in (await anonymous.get("/faq")).text
        entries = await client.get("/questions/faq")
        await client.post(f"/questions/faq/{entry_id}/publish", data={"published": "0", "_csrf_token": csrf_from(entries.text)})
        assert "Chưa có câu trả lời nào" in (await anonymous.get("/faq")).text
        await client.post(f"/questions/faq/{entry_id}/publish", data={"published": "1", "_csrf_token": csrf_from(entries.text)})
        assert "Học máy nhập môn" in (await anonymous.get("/faq")).text


async def test_faq_management_needs_a_login(client):
    for path in ("/questions/faq", "/questions/faq/1/edit"):
        r = await client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert (await client.get("/faq")).status_code == 200
