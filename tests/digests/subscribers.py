"""Subscriptions for the digest tests, made through the service (so next_due_at is set as in production)."""

from datetime import datetime

from crm.digests import schemas
from crm.digests.services import SubscriptionService
from crm.liaison.models import Contact, Group


async def subscribe(factory, owner, now: datetime | None = None, **fields):
    """Subscribe a contact or group (defaults for what ``fields`` leaves out); returns the subscription."""
    async with factory.session_maker() as s, s.begin():
        target = await s.get(Contact if isinstance(owner, Contact) else Group, owner.id)
        subscription, _created = await SubscriptionService(s).save(target, schemas.SubscriptionInput(**fields), now=now)
        return subscription


async def reload(factory, model, object_id):
    async with factory.session_maker() as s:
        return await s.get(model, object_id)
