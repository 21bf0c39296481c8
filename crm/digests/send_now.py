"""A librarian's "send now": a recipient's next digest, queued at once outside the schedule.

The digest is an ordinary one (its period is ``now-<UTC timestamp>``), so what it lists is not
sent again by the schedule; a recipient who unsubscribed or left a group's digest gets nothing.
"""

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.digests import compose
from crm.digests.models import Digest, OptOut, Subscription
from crm.errors import FieldErrors
from crm.i18n import _
from crm.liaison.models import Contact, group_member
from crm.settings import Settings


async def subscriptions_of(session: AsyncSession, contact: Contact) -> list[Subscription]:
    """The digests a contact belongs to: their own first, then their groups' (by group id)."""
    groups = select(group_member.c.group_id).where(group_member.c.contact_id == contact.id)
    query = (select(Subscription)
             .where((Subscription.contact_id == contact.id) | Subscription.group_id.in_(groups))
             .order_by(Subscription.contact_id.is_(None), Subscription.group_id, Subscription.id))
    return list((await session.scalars(query)).unique())


async def choose(session: AsyncSession, contact: Contact, subscription_id: int | None) -> Subscription | None:
    """The subscription asked for (it must be one of the contact's), else the contact's first."""
    found = await subscriptions_of(session, contact)
    if subscription_id is None:
        return found[0] if found else None
    chosen = next((s for s in found if s.id == subscription_id), None)
    if chosen is None:
        raise FieldErrors({"subscription_id": _("This contact does not receive that digest.")})
    return chosen


async def refusal(session: AsyncSession, subscription: Subscription, contact: Contact) -> str | None:
    """Why this recipient must not get the digest now, or None."""
    if not contact.is_active:
        return _("This contact is inactive.")
    if not (contact.email or "").strip():
        return _("This contact has no email address.")
    if subscription.contact_id is not None and subscription.frequency == "paused":
        return _("This contact has unsubscribed from the digest.")
    if subscription.group_id is not None:
        left = await session.scalar(select(OptOut.id).where(OptOut.subscription_id == subscription.id,
                                                          OptOut.contact_id == contact.id))
        if left is not None:
            return _("This contact has left the group's digest.")
    return None


async def send_now(session: AsyncSession, settings: Settings, contact: Contact, subscription: Subscription | None,
                   sent_by_id: int | None, now: datetime | None = None) -> Digest | None:
    """Queue the contact's next digest now; None when there is nothing new. FieldErrors when it may not be sent."""
    if subscription is None:
        raise FieldErrors({"subscription_id": _("This contact has no digest subscription yet.")})
    if (reason := await refusal(session, subscription, contact)) is not None:
        raise FieldErrors({"subscription_id": reason})
    now = now or datetime.now(UTC)
    period = f"now-{now.astimezone(UTC):%Y%m%dT%H%M%S}Z"
    return await compose.queue_digest(session, settings, subscription, contact, period, sent_by_id=sent_by_id, now=now)
