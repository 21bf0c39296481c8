"""Questions: remind lecturers, escalate to liaison librarians, and send last month's course summaries."""

import logging

from crm.questions.services.reminders import ReminderRun, send_course_summaries, send_escalations, send_reminders
from jobs import JobContext

log = logging.getLogger("crm.jobs.questions")


async def run(context: JobContext) -> ReminderRun:
    """One pass; each step commits on its own, so a failing summary never holds back a reminder."""
    result = ReminderRun()
    async with context.session_maker() as session, session.begin():
        result.reminded = await send_reminders(session, context.settings)
    async with context.session_maker() as session, session.begin():
        result.escalated = await send_escalations(session, context.settings)
    async with context.session_maker() as session, session.begin():
        result.summaries = await send_course_summaries(session, context.settings)
    if result.reminded or result.escalated or result.summaries:
        log.info("questions: %s reminder(s), %s escalation(s), %s course summary email(s) queued",
                 result.reminded, result.escalated, result.summaries)
    return result
