"""XSS payloads in every field a student, a lecturer or a librarian types are escaped on every page
and in every HTML email of the relay."""

from tests.conftest import csrf_from, login
from tests.questions.helpers import ask, bodies, latest_question, link_in, make_world, queued

XSS = "<script>alert('x')</script>"
IMG = "\"><img src=x onerror=alert(1)>"
PAYLOAD = f"{XSS}{IMG}"


def assert_escaped(html: str, where: str) -> None:
    assert XSS not in html and "<img src=x" not in html, where
    assert "&lt;script&gt;" in html, where


async def test_every_field_is_escaped_on_pages_and_in_emails(client, factory, session_maker, new_client):
    world = await make_world(factory)
    user = await factory.user()
    r = await ask(client, student_name=f"Mai Anh {PAYLOAD}", course=f"K66 {PAYLOAD}", topic=f"Học máy {PAYLOAD}",
                  question=f"Câu hỏi dài hơn mười ký tự {PAYLOAD}", lecturer=f"Thầy {PAYLOAD}", consent_share_email="on")
    assert r.status_code == 303
    track = r.headers["location"]
    assert_escaped((await client.get(track)).text, "tracking page")
    question = await latest_question(session_maker)
    assert question.topic == f"Học máy {PAYLOAD}"  # stored as typed, escaped when shown

    await login(client, user.email)
    assert_escaped((await client.get("/questions")).text, "queue")
    page = await client.get(f"/questions/{question.id}")
    assert_escaped(page.text, "detail")
    token = csrf_from(page.text)
    await client.post(f"/questions/{question.id}/notes", data={"body": f"Ghi chú {PAYLOAD}", "_csrf_token": token})
    await client.post(f"/questions/{question.id}/text", data={"relayed_text": f"Đã sửa {PAYLOAD}", "_csrf_token": token})
    await client.post(f"/questions/{question.id}/assign", data={"lecturer_id": str(world.trang.id), "relay": "1",
                                                                "_csrf_token": token})
    assert_escaped((await client.get(f"/questions/{question.id}")).text, "detail after changes")

    reply = link_in((await queued(session_maker, "question-relay:"))[0], "reply")
    async with new_client() as lecturer:
        page = await lecturer.get(reply)
        assert_escaped(page.text, "reply page")
        r = await lecturer.post(reply, data={"action": "search", "items_q": PAYLOAD, "answer": f"Nháp {PAYLOAD}",
                                             "_csrf_token": csrf_from(page.text)})
        assert_escaped(r.text, "reply page after a search")
        r = await lecturer.post(reply, data={"action": "answer", "answer": f"Trả lời {PAYLOAD}", "faq_consent": "on",
                                             "_csrf_token": csrf_from(page.text)})
        assert r.status_code == 200
        assert_escaped((await lecturer.get(reply)).text, "answered reply page")

    async with new_client() as student:
        page = await student.get(track)
        assert_escaped(page.text, "tracking page with the answer")
        await student.post(track.split("?")[0] + "/rating", data={
            "helpful": "yes", "comment": f"Nhận xét {PAYLOAD}", "faq_consent": "on", "_csrf_token": csrf_from(page.text)})

    page = await client.get(f"/questions/{question.id}")
    assert_escaped(page.text, "detail with rating")
    await client.post(f"/questions/{question.id}/faq", data={
        "topic": f"Chủ đề {PAYLOAD}", "course": f"Lớp {PAYLOAD}", "question_text": f"Hỏi {PAYLOAD}",
        "answer_text": f"Đáp {PAYLOAD}", "_csrf_token": csrf_from(page.text)})
    async with new_client() as anonymous:
        faq = await anonymous.get("/faq")
        assert "Chủ đề" in faq.text
        assert_escaped(faq.text, "public FAQ")
    assert_escaped((await client.get("/questions/faq")).text, "FAQ entries")
    await client.post(f"/questions/{question.id}/status", data={
        "status": "closed", "message": f"Lời nhắn {PAYLOAD}", "_csrf_token": csrf_from(page.text)})
    assert_escaped((await client.get(f"/questions/{question.id}")).text, "detail after closing")

    mails = await queued(session_maker)
    kinds = {m.idempotency_key.split(":")[0] for m in mails}
    assert {"question-received", "question-relay", "question-answer", "question-status"} <= kinds
    for mail in mails:
        text, html = bodies(mail)
        assert_escaped(html, mail.idempotency_key)
        assert "\n" not in mail.subject and "\r" not in mail.subject  # a header stays one line
    relay_text, _ = bodies(next(m for m in mails if m.idempotency_key.startswith("question-relay")))
    assert f"Đã sửa {PAYLOAD}" in relay_text  # the text part carries it as plain text


async def test_lecturer_pass_on_fields_are_escaped_in_the_librarians_email(client, factory, session_maker, new_client):
    world = await make_world(factory)
    user = await factory.user()
    await ask(client)
    question = await latest_question(session_maker)
    await login(client, user.email)
    page = await client.get(f"/questions/{question.id}")
    await client.post(f"/questions/{question.id}/assign", data={"lecturer_id": str(world.trang.id), "relay": "1",
                                                                "_csrf_token": csrf_from(page.text)})
    reply = link_in((await queued(session_maker, "question-relay:"))[0], "reply")
    async with new_client() as lecturer:
        page = await lecturer.get(reply)
        await lecturer.post(reply, data={"action": "pass", "reason": f"Lý do {PAYLOAD}", "colleague": f"Cô {PAYLOAD}",
                                         "_csrf_token": csrf_from(page.text)})
    [mail] = await queued(session_maker, "question-returned:")
    _text, html = bodies(mail)
    assert_escaped(html, "returned email")
    assert_escaped((await client.get(f"/questions/{question.id}")).text, "audit trail with the lecturer's reason")
