"""A question on the CRM timeline: one consultation Interaction per question, kept in step with it.

The liaison domain knows nothing of questions (DESIGN: questions → liaison), so the question
writes an ordinary interaction the contact and group pages already show, naming the question's
page in its notes, and updates its participants and outcome as the question moves on.
"""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.i18n import _, fmt_date, language
from crm.liaison.models import Contact, Group, Interaction
from crm.questions.models import Question
from crm.questions.services.common import lecturer_label
from crm.settings import Settings

SUBJECT_LIMIT = 255
EXCERPT_LIMIT = 600


def _outcome(question: Question) -> str | None:
    if question.status == "answered" and question.answered_at:
        who = lecturer_label(question.lecturer) if question.lecturer else _("the lecturer")
        return _("Answered by %(name)s on %(date)s.", name=who, date=fmt_date(question.answered_at.date()))
    if question.status == "relayed" and question.relayed_at:
        who = lecturer_label(question.lecturer) if question.lecturer else _("the lecturer")
        return _("Relayed to %(name)s on %(date)s.", name=who, date=fmt_date(question.relayed_at.date()))
    if question.status in ("closed", "declined", "duplicate") and question.closed_at:
        labels = {"closed": _("Closed on %(date)s."), "declined": _("Declined on %(date)s."),
                  "duplicate": _("Marked as a duplicate on %(date)s.")}
        return labels[question.status] % {"date": fmt_date(question.closed_at.date())}
    return None


async def sync_interaction(session: AsyncSession, settings: Settings, question: Question) -> Interaction | None:
    """Create or update the question's interaction; none while it concerns no known contact or group."""
    contacts: list[Contact] = []
    for contact in (question.lecturer, question.requested_lecturer):
        if contact is not None and contact not in contacts:
            contacts.append(contact)
    student = await session.scalar(select(Contact).where(Contact.email_key == question.email_key))
    if student is not None and student not in contacts:
        contacts.append(student)
    groups: list[Group] = [question.group] if question.group is not None else []
    interaction = await session.get(Interaction, question.interaction_id) if question.interaction_id else None
    if not contacts and not groups and interaction is None:
        return None
    with language(settings.default_language):
        subject = _("Student question: %(topic)s", topic=question.topic)[:SUBJECT_LIMIT]
        excerpt = question.relayed_text if len(question.relayed_text) <= EXCERPT_LIMIT else \
            question.relayed_text[:EXCERPT_LIMIT].rstrip() + "…"
        notes = "\n".join([
            _("Question %(reference)s from %(name)s (%(course)s), page /questions/%(id)s.",
              reference=question.reference, name=question.student_name, course=question.course or "—", id=question.id),
            "", excerpt,
        ])
        outcome = _outcome(question)
    if interaction is None:
        interaction = Interaction(kind="consultation", occurred_on=question.created_at.date(), contacts=[], groups=[])
        session.add(interaction)
    interaction.subject = subject
    interaction.notes = notes
    interaction.outcome = outcome
    if question.librarian_id is not None:
        interaction.librarian_id = question.librarian_id
    # Participants are only added: a lecturer the question passed through stays part of its history.
    interaction.contacts = [*interaction.contacts, *(c for c in contacts if c not in interaction.contacts)]
    interaction.groups = [*interaction.groups, *(g for g in groups if g not in interaction.groups)]
    await session.flush()
    question.interaction_id = interaction.id
    return interaction
