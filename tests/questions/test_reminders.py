"""The questions job: reminders after N days, escalation after M days, monthly course summaries —
each email once, however often the job runs."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from crm.questions.models import Question
from crm.questions.services.reminders import previous_month
from crm.settings import QuestionSettings
from jobs import JobContext
from jobs import questions as questions_job
from jobs.scheduler import build_scheduler
from tests.conftest import login
from tests.liaison.people import make_contact
from tests.questions.helpers import (ask, assign_liaison, bodies, latest_question, link_in, make_world, queued,
                                     relay_as)


@pytest.fixture
async def relayed(client, factory, session_maker):
    world = await make_world(factory)
    relayer = await factory.user()
    r = await ask(client, question="Em Nguyễn Thị Mai Anh (maianh.k66@example.edu.vn, 0912 345 678) cần tài liệu học máy.")
    question = await latest_question(session_maker)
    await login(client, relayer.email)
    assert (await relay_as(client, question.id, world.trang.id)).status_code == 303
    return {"world": world, "relayer": relayer, "question": question, "track": r.headers["location"]}


async def _age(session_maker, question_id: int, **ages: timedelta) -> None:
    now = datetime.now(UTC)
    async with session_maker() as s, s.begin():
        await s.execute(update(Question).where(Question.id == question_id).values(
            **{column: now - age for column, age in ages.items()}))


async def _run(settings, session_maker):
    return await questions_job.run(JobContext(settings=settings, session_maker=session_maker))


def test_the_job_is_scheduled_hourly(settings, session_maker):
    job = build_scheduler(settings, session_maker).get_job("questions")
    assert job is not None and job.trigger.interval == timedelta(hours=1)


async def test_nothing_is_due_before_the_days_have_passed(relayed, settings, session_maker):
    result = await _run(settings, session_maker)
    assert (result.reminded, result.escalated) == (0, 0)
    assert await queued(session_maker, "question-reminder:") == []


async def test_the_lecturer_is_reminded_once_after_the_configured_days(relayed, settings, session_maker, client):
    await _age(session_maker, relayed["question"].id, relayed_at=timedelta(days=settings.questions.remind_after_days, hours=1))
    assert (await _run(settings, session_maker)).reminded == 1
    assert (await _run(settings, session_maker)).reminded == 0
    [mail] = await queued(session_maker, "question-reminder:")
    assert mail.recipient == "trang.btt@example.edu.vn" and mail.subject.startswith("Nhắc: câu hỏi của sinh viên")
    reply = link_in(mail, "reply")
    assert "Gửi câu trả lời" in (await client.get(reply)).text
    question = await latest_question(session_maker)
    assert question.reminded_at is not None and question.escalated_at is None
    page = await client.get("/questions")
    assert "Đã nhắc" in page.text


async def test_escalation_goes_once_to_the_courses_liaison_librarian(relayed, settings, session_maker, factory, client):
    liaison = await factory.user(email="tuan.dm@example.edu.vn", full_name="Đỗ Minh Tuấn")
    await assign_liaison(factory, liaison, group_id=relayed["world"].group.id)
    await _age(session_maker, relayed["question"].id, relayed_at=timedelta(days=settings.questions.escalate_after_days, hours=1))
    result = await _run(settings, session_maker)
    assert (result.reminded, result.escalated) == (1, 1)
    assert (await _run(settings, session_maker)).escalated == 0
    [mail] = await queued(session_maker, "question-escalation:")
    assert mail.recipient == "tuan.dm@example.edu.vn"
    text, _html = bodies(mail)
    assert f"/questions/{relayed['question'].id}" in text and "7 ngày" in text
    page = await client.get(f"/questions/{relayed['question'].id}")
    assert "Đã báo cán bộ thư viện phụ trách" in page.text and "Đỗ Minh Tuấn" in page.text


async def test_without_a_liaison_the_relaying_librarian_is_told(relayed, settings, session_maker):
    await _age(session_maker, relayed["question"].id, relayed_at=timedelta(days=30))
    assert (await _run(settings, session_maker)).escalated == 1
    [mail] = await queued(session_maker, "question-escalation:")
    assert mail.recipient == relayed["relayer"].email


async def test_the_days_come_from_the_settings(relayed, settings, session_maker):
    import dataclasses

    quick = dataclasses.replace(settings, questions=QuestionSettings(remind_after_days=1, escalate_after_days=2))
    await _age(session_maker, relayed["question"].id, relayed_at=timedelta(days=1, hours=1))
    result = await _run(quick, session_maker)
    assert (result.reminded, result.escalated) == (1, 0)


async def test_answered_questions_are_left_alone(relayed, settings, session_maker, client):
    from tests.conftest import csrf_from

    [mail] = await queued(session_maker, "question-relay:")
    reply = link_in(mail, "reply")
    page = await client.get(reply)
    await client.post(reply, data={"action": "answer", "answer": "Đã trả lời.", "_csrf_token": csrf_from(page.text)})
    await _age(session_maker, relayed["question"].id, relayed_at=timedelta(days=30))
    result = await _run(settings, session_maker)
    assert (result.reminded, result.escalated) == (0, 0)


async def test_last_months_questions_go_anonymized_to_the_courses_lecturers_once(relayed, settings, session_maker, factory):
    world = relayed["world"]
    # A lecturer who is a member of the cohort's group also receives it.
    from crm.liaison.models import group_member

    mentor = await make_contact(factory, "Vũ Đức Thắng", "thang.vd@example.edu.vn", world.unit.id)
    async with session_maker() as s, s.begin():
        await s.execute(group_member.insert().values(group_id=world.group.id, contact_id=mentor.id))
    first, _last = previous_month(datetime.now(UTC).date())
    await _age(session_maker, relayed["question"].id,
               created_at=datetime.now(UTC) - datetime.combine(first + timedelta(days=3), datetime.min.time(), UTC))
    result = await _run(settings, session_maker)
    assert result.summaries == 2
    assert (await _run(settings, session_maker)).summaries == 0
    mails = await queued(session_maker, "question-summary:")
    assert sorted(m.recipient for m in mails) == ["thang.vd@example.edu.vn", "trang.btt@example.edu.vn"]
    text, html = bodies(mails[0])
    assert "K66 Khoa học Máy tính" in mails[0].subject and f"{first.month:02d}/{first.year}" in mails[0].subject
    assert "Tài liệu về học máy" in text and "cần tài liệu học máy" in text
    for body in (text, html):
        assert "Mai Anh" not in body and "maianh" not in body.lower() and "0912 345 678" not in body


async def test_this_months_questions_wait_for_next_month(relayed, settings, session_maker):
    assert (await _run(settings, session_maker)).summaries == 0
