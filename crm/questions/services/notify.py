"""The emails of the relay: each builds its context and queues one outbox row under a stable key.

Keys make every email happen once: ``question-relay:<id>:<relay number>`` is queued again only
when the question is relayed again; reminders and escalations are keyed the same way.
"""

from email.utils import parseaddr

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.i18n import _
from crm.liaison.models import Contact
from crm.mail.models import OutboxMessage
from crm.mail.outbox import enqueue, format_address
from crm.questions.models import Answer, Question
from crm.questions.services.common import lecturer_label, reply_url, track_url
from crm.security.models import User
from crm.settings import Settings
from crm.templating import render_email
from crm.text import given_name

KIND = "question"


def library_name(settings: Settings) -> str:
    name = parseaddr(settings.mail.sender)[0]
    return name or _("Library")


def _signature(settings: Settings, librarian: User | None) -> dict:
    if librarian is None:
        return {"name": library_name(settings)}
    return {"name": librarian.full_name, "title": librarian.title, "email": librarian.email,
            "phone": librarian.phone, "unit": library_name(settings)}


def _question_context(settings: Settings, question: Question) -> dict:
    return {"question": question, "library_name": library_name(settings), "base_url": settings.base_url,
            "student_given_name": given_name(question.student_name)}


async def already_queued(session: AsyncSession, key: str) -> bool:
    return await session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)) is not None


async def _queue(session: AsyncSession, settings: Settings, *, key: str, template: str, name: str, email: str,
                 lang: str | None, context: dict, reply_to: str | None = None) -> OutboxMessage:
    subject, text, html = render_email(template, context, lang)
    return await enqueue(session, key=key, kind=KIND, sender=settings.mail.sender, to=format_address(name, email),
                         subject=subject, text=text, html=html, reply_to=reply_to)


async def queue_received(session: AsyncSession, settings: Settings, question: Question) -> OutboxMessage:
    """To the student: we have your question; follow it here."""
    context = {**_question_context(settings, question), "track_url": track_url(settings, question)}
    return await _queue(session, settings, key=f"question-received:{question.id}", template="question_received",
                        name=question.student_name, email=question.student_email, lang=question.language,
                        context=context)


async def queue_relay(session: AsyncSession, settings: Settings, question: Question, librarian: User | None) -> OutboxMessage:
    """To the lecturer: the question as the librarian edited it, with the signed reply link."""
    lecturer = question.lecturer
    context = {**_question_context(settings, question), "lecturer": lecturer, "lecturer_label": lecturer_label(lecturer),
               "reply_url": reply_url(settings, question), "signature": _signature(settings, librarian),
               "valid_days": 30}
    return await _queue(session, settings, key=f"question-relay:{question.id}:{question.relay_count}",
                        template="question_relay", name=lecturer.full_name, email=lecturer.email,
                        lang=lecturer.language, context=context, reply_to=librarian.email if librarian else None)


async def queue_answer(session: AsyncSession, settings: Settings, question: Question, answer: Answer) -> OutboxMessage:
    """To the student: the lecturer's answer, the recommended items, and where to rate it."""
    context = {**_question_context(settings, question), "answer": answer,
               "lecturer_label": lecturer_label(answer.contact) if answer.contact else None,
               "track_url": track_url(settings, question)}
    return await _queue(session, settings, key=f"question-answer:{answer.id}", template="question_answer",
                        name=question.student_name, email=question.student_email, lang=question.language,
                        context=context)


async def queue_status(session: AsyncSession, settings: Settings, question: Question, event_id: int) -> OutboxMessage:
    """To the student: the question was declined, closed or found to repeat another, with the library's message."""
    context = {**_question_context(settings, question), "track_url": track_url(settings, question),
               "signature": _signature(settings, question.librarian)}
    return await _queue(session, settings, key=f"question-status:{question.id}:{event_id}", template="question_status",
                        name=question.student_name, email=question.student_email, lang=question.language,
                        context=context)


async def queue_reminder(session: AsyncSession, settings: Settings, question: Question) -> OutboxMessage:
    """To the lecturer, once per relay: the question still waits for an answer."""
    lecturer = question.lecturer
    context = {**_question_context(settings, question), "lecturer": lecturer, "lecturer_label": lecturer_label(lecturer),
               "reply_url": reply_url(settings, question), "signature": _signature(settings, question.librarian)}
    return await _queue(session, settings, key=f"question-reminder:{question.id}:{question.relay_count}",
                        template="question_reminder", name=lecturer.full_name, email=lecturer.email,
                        lang=lecturer.language, context=context,
                        reply_to=question.librarian.email if question.librarian else None)


async def queue_escalation(session: AsyncSession, settings: Settings, question: Question, librarian: User,
                           days: int) -> OutboxMessage:
    """To the liaison librarian, once per relay: the lecturer has not answered for ``days`` days."""
    context = {**_question_context(settings, question), "librarian": librarian, "days": days,
               "lecturer_label": lecturer_label(question.lecturer) if question.lecturer else None,
               "question_url": f"{settings.base_url}/questions/{question.id}"}
    return await _queue(session, settings, key=f"question-escalation:{question.id}:{question.relay_count}:{librarian.id}",
                        template="question_escalation", name=librarian.full_name, email=librarian.email,
                        lang=librarian.language, context=context)


async def queue_returned(session: AsyncSession, settings: Settings, question: Question, librarian: User,
                         lecturer: Contact | None, reason: str, colleague: str | None) -> OutboxMessage:
    """To the librarian who relayed it: the lecturer declined or named a colleague."""
    context = {**_question_context(settings, question), "librarian": librarian, "reason": reason,
               "colleague": colleague, "lecturer_label": lecturer_label(lecturer) if lecturer else None,
               "question_url": f"{settings.base_url}/questions/{question.id}"}
    return await _queue(session, settings, key=f"question-returned:{question.id}:{question.relay_count}",
                        template="question_returned", name=librarian.full_name, email=librarian.email,
                        lang=librarian.language, context=context)


async def queue_summary(session: AsyncSession, settings: Settings, *, key: str, lecturer: Contact, course: str,
                        period_label: str, questions: list[dict]) -> OutboxMessage:
    """To a lecturer of a course: the period's questions from its students, anonymized."""
    context = {"library_name": library_name(settings), "lecturer": lecturer, "lecturer_label": lecturer_label(lecturer),
               "course": course, "period": period_label, "questions": questions, "faq_url": f"{settings.base_url}/faq"}
    return await _queue(session, settings, key=key, template="question_summary", name=lecturer.full_name,
                        email=lecturer.email, lang=lecturer.language, context=context)
