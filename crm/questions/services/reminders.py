"""What the questions job does: remind lecturers, escalate to liaison librarians, summarize per course.

Each email is keyed (question, relay number, recipient; or course, lecturer, month), so running
the job again, or in two processes, queues nothing twice; the question's ``reminded_at`` and
``escalated_at`` record what was done so the queue page can show it.
"""

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.i18n import language
from crm.liaison.models import Contact, Group, Unit, group_member
from crm.liaison.services.assignments import AssignmentService
from crm.questions.models import Question
from crm.questions.services import notify
from crm.questions.services.common import now_utc, record_event, status_label
from crm.questions.services.faq import anonymize
from crm.security.models import User
from crm.settings import Settings
from crm.text import fold

#: Questions handled per run at most (the rest waits for the next run).
BATCH = 200
#: Characters of each question quoted in a course summary.
SUMMARY_EXCERPT = 400


@dataclass
class ReminderRun:
    reminded: int = 0
    escalated: int = 0
    summaries: int = 0


async def liaison_librarians(session: AsyncSession, question: Question, today: date | None = None) -> list[User]:
    """Who looks after the question's course or unit now: the group's liaison, else the unit's (or a
    parent unit's), else the librarian who relayed it, else the administrators."""
    assignments = AssignmentService(session)
    found: list = []
    if question.group_id is not None:
        found = await assignments.for_group(question.group_id, today)
    unit_id = question.unit_id
    seen: set[int] = set()
    while not found and unit_id is not None and unit_id not in seen:
        seen.add(unit_id)
        found = await assignments.for_unit(unit_id, today)
        unit = await session.get(Unit, unit_id)
        unit_id = unit.parent_id if unit is not None else None
    primary = [a.librarian for a in found if a.role == "primary" and a.librarian and a.librarian.is_active]
    people = primary or [a.librarian for a in found if a.librarian and a.librarian.is_active]
    if not people and question.librarian is not None and question.librarian.is_active:
        people = [question.librarian]
    if not people:
        people = list(await session.scalars(select(User).where(User.role == "admin", User.is_active)))
    return list({u.id: u for u in people}.values())


async def _overdue(session: AsyncSession, cutoff: datetime, column) -> list[Question]:
    query = (select(Question).where(Question.status == "relayed", Question.relayed_at <= cutoff, column.is_(None),
                                    Question.lecturer_id.is_not(None))
             .order_by(Question.relayed_at, Question.id).limit(BATCH))
    return list((await session.scalars(query)).unique())


async def send_reminders(session: AsyncSession, settings: Settings, now: datetime | None = None) -> int:
    now = now or now_utc()
    cutoff = now - timedelta(days=settings.questions.remind_after_days)
    count = 0
    for question in await _overdue(session, cutoff, Question.reminded_at):
        await notify.queue_reminder(session, settings, question)
        question.reminded_at = now
        await record_event(session, question, "reminded", "system", contact=question.lecturer, at=now)
        count += 1
    await session.flush()
    return count


async def send_escalations(session: AsyncSession, settings: Settings, now: datetime | None = None) -> int:
    now = now or now_utc()
    days = settings.questions.escalate_after_days
    cutoff = now - timedelta(days=days)
    count = 0
    for question in await _overdue(session, cutoff, Question.escalated_at):
        people = await liaison_librarians(session, question, now.date())
        for librarian in people:
            await notify.queue_escalation(session, settings, question, librarian, days)
        question.escalated_at = now
        await record_event(session, question, "escalated", "system", at=now,
                           note=", ".join(u.full_name for u in people) or None)
        count += 1
    await session.flush()
    return count


# --- per-course summaries ------------------------------------------------------------------------


def previous_month(today: date) -> tuple[date, date]:
    first = today.replace(day=1)
    last = first - timedelta(days=1)
    return last.replace(day=1), last


def _course_key(question: Question) -> str | None:
    if question.group_id is not None:
        return f"g{question.group_id}"
    folded = fold(question.course)
    return f"c{hashlib.sha256(folded.encode()).hexdigest()[:16]}" if folded else None


async def send_course_summaries(session: AsyncSession, settings: Settings, today: date | None = None) -> int:
    """Last month's questions of each course, anonymized, to its lecturers (once per course, lecturer, month).

    A course's lecturers: those its questions were relayed to, and the lecturers who are members of its group.
    """
    today = today or now_utc().date()
    first, last = previous_month(today)
    start = datetime.combine(first, time.min).astimezone()
    end = datetime.combine(last + timedelta(days=1), time.min).astimezone()
    questions = list((await session.scalars(
        select(Question).where(Question.created_at >= start, Question.created_at < end,
                               Question.status != "duplicate").order_by(Question.created_at))).unique())
    courses: dict[str, list[Question]] = {}
    for question in questions:
        key = _course_key(question)
        if key is not None:
            courses.setdefault(key, []).append(question)
    month = first.strftime("%Y-%m")
    count = 0
    for key, items in courses.items():
        lecturers = {q.lecturer.id: q.lecturer for q in items if q.lecturer is not None and q.relayed_at is not None}
        group_id = items[0].group_id
        if group_id is not None:
            members = await session.scalars(select(Contact).join(group_member, group_member.c.contact_id == Contact.id)
                                            .where(group_member.c.group_id == group_id, Contact.kind == "lecturer"))
            lecturers.update({c.id: c for c in members})
        group = await session.get(Group, group_id) if group_id is not None else None
        course = group.name if group is not None else (items[0].course or "")
        for lecturer in lecturers.values():
            summary_key = f"question-summary:{key}:{lecturer.id}:{month}"
            if not lecturer.is_active or await notify.already_queued(session, summary_key):
                continue
            with language(lecturer.language):
                entries = [{"topic": q.topic, "text": _excerpt(q), "status": status_label(q.status),
                            "answered": q.answered_at is not None} for q in items]
                period = f"{first.month:02d}/{first.year}"
            await notify.queue_summary(session, settings, key=summary_key,
                                       lecturer=lecturer, course=course, period_label=period, questions=entries)
            count += 1
    await session.flush()
    return count


def _excerpt(question: Question) -> str:
    text = anonymize(question.relayed_text, [question.student_name])
    return text if len(text) <= SUMMARY_EXCERPT else text[:SUMMARY_EXCERPT].rstrip() + "…"
