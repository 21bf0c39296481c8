"""The JSON API under /api/questions: librarians only, writes with an API token."""

import pytest

from tests.conftest import bearer, login
from tests.questions.helpers import ask, latest_question, make_world, queued


@pytest.fixture
async def asked(client, factory, session_maker):
    world = await make_world(factory)
    await ask(client)
    return world, await latest_question(session_maker)


async def test_anonymous_and_cookie_writes_are_refused(client, asked, factory):
    _world, question = asked
    assert (await client.get("/api/questions")).status_code == 401
    assert (await client.get(f"/api/questions/{question.id}")).status_code == 401
    user = await factory.user()
    await login(client, user.email)
    assert (await client.get("/api/questions")).status_code == 200  # a session may read
    r = await client.post(f"/api/questions/{question.id}/relay")
    assert r.status_code == 401  # but writes need a token


async def test_list_filter_and_detail(client, asked, librarian_token):
    world, question = asked
    r = await client.get("/api/questions", params={"status": "open", "q": "hoc may"}, headers=bearer(librarian_token))
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 1 and body["items"][0]["reference"] == question.reference
    assert body["items"][0]["group"]["id"] == world.group.id
    r = await client.get("/api/questions", params={"status": "closed"}, headers=bearer(librarian_token))
    assert r.json()["total"] == 0
    r = await client.get("/api/questions", params={"status": "whatever"}, headers=bearer(librarian_token))
    assert r.status_code == 400
    r = await client.get(f"/api/questions/{question.id}", headers=bearer(librarian_token))
    detail = r.json()
    assert detail["student_email"] == "MaiAnh.K66@example.edu.vn" and detail["events"][0]["action"] == "asked"
    assert (await client.get("/api/questions/999999", headers=bearer(librarian_token))).status_code == 404
    assert (await client.get(f"/api/questions/{2**70}", headers=bearer(librarian_token))).status_code in (400, 404)


async def test_suggest_assign_edit_relay_note_and_status(client, asked, librarian_token, session_maker):
    world, question = asked
    headers = bearer(librarian_token)
    r = await client.get(f"/api/questions/{question.id}/suggestions", headers=headers)
    suggestions = r.json()
    assert suggestions[0]["lecturer"]["id"] == world.trang.id and any("Học máy" in x for x in suggestions[0]["reasons"])

    r = await client.post(f"/api/questions/{question.id}/relay", headers=headers)
    assert r.status_code == 400 and "lecturer_id" in r.json()["errors"]
    r = await client.post(f"/api/questions/{question.id}/assign", json={"lecturer_id": world.khoa.id}, headers=headers)
    assert r.status_code == 200 and r.json()["lecturer"]["id"] == world.khoa.id
    r = await client.patch(f"/api/questions/{question.id}", json={"relayed_text": "Văn bản đã biên tập."}, headers=headers)
    assert r.status_code == 200 and r.json()["relayed_text"] == "Văn bản đã biên tập."
    r = await client.patch(f"/api/questions/{question.id}", json={"relayed_text": ""}, headers=headers)
    assert r.status_code == 400
    r = await client.post(f"/api/questions/{question.id}/relay", headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "relayed"
    assert [m.recipient for m in await queued(session_maker, "question-relay:")] == ["khoa.nm@example.edu.vn"]

    r = await client.post(f"/api/questions/{question.id}/notes", json={"body": "Gọi điện nhắc thầy Khoa."}, headers=headers)
    assert r.status_code == 201 and r.json()["author"] == "Thủ thư API"
    r = await client.post(f"/api/questions/{question.id}/status", json={"status": "duplicate"}, headers=headers)
    assert r.status_code == 400 and "duplicate_of" in r.json()["errors"]
    r = await client.post(f"/api/questions/{question.id}/status", json={"status": "bogus"}, headers=headers)
    assert r.status_code == 400
    r = await client.post(f"/api/questions/{question.id}/status", json={"status": "closed", "message": "Đã trả lời trực tiếp."},
                          headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "closed"
    actions = [e["action"] for e in r.json()["events"]]
    assert actions == ["asked", "assigned", "edited", "relayed", "noted", "closed"]
    assert len(await queued(session_maker, "question-status:")) == 1
