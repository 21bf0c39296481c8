"""Digest subscriptions: who gets a digest, when, in which language, and who left a group's digest.

Every change recomputes ``next_due_at`` (the dispatcher reads only that), so a librarian's
edit, a lecturer's preference change and an unsubscribe all take effect from the next slot.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import Select, and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm.digests import schemas
from crm.digests.models import FREQUENCIES, SECTIONS, OptOut, Subscription
from crm.digests.schedule import DEFAULT_TIMEZONE, local_today, next_due
from crm.errors import Conflict, FieldErrors
from crm.i18n import _, fmt_date, lazy
from crm.liaison.ids import storable
from crm.liaison.models import Contact, Group, group_member
from crm.pagination import Page, paginate
from crm.settings import LANGUAGES
from crm.text import fold

#: The CRM's defaults for a new subscription (the language comes from the contact).
DEFAULTS: dict[str, Any] = {"frequency": "weekly", "weekday": 0, "month_day": 1, "hour": 8, "max_items": 30,
                            "paused_until": None}
MAX_ITEMS = 200
MAX_MONTH_DAY = 28
#: "Due soon" on the subscription list.
DUE_SOON = timedelta(hours=24)
FIELDS = ("frequency", "paused_until", "weekday", "month_day", "hour", "language", "max_items", "sections")

#: Display labels, translated where shown (``_(label)``).
FREQUENCY_LABELS = {"daily": lazy("Daily"), "weekly": lazy("Weekly"), "monthly": lazy("Monthly"),
                    "paused": lazy("Paused")}
SECTION_LABELS = {"acquisitions": lazy("New acquisitions"), "articles": lazy("Journal articles"),
                  "repository": lazy("Repository items")}
WEEKDAY_LABELS = (lazy("Monday"), lazy("Tuesday"), lazy("Wednesday"), lazy("Thursday"), lazy("Friday"),
                  lazy("Saturday"), lazy("Sunday"))


@dataclass
class SubscriptionFilter:
    frequency: str | None = None
    #: Due within this long from now (overdue ones included).
    due_within: timedelta | None = None
    #: True: paused, or on holiday (paused_until in the future); False: neither.
    paused: bool | None = None
    q: str | None = None


def owner_name(subscription: Subscription) -> str:
    if subscription.contact is not None:
        return subscription.contact.full_name
    if subscription.group is not None:
        return subscription.group.name
    return ""


def check(values: dict[str, Any], current: Subscription | None, today: date) -> dict[str, Any]:
    """Validate ``values`` (the fields being set), one translated message per bad field."""
    errors: dict[str, str] = {}
    if "frequency" in values and values["frequency"] not in FREQUENCIES:
        errors["frequency"] = _("Choose daily, weekly, monthly or paused.")
    if "hour" in values and not (isinstance(values["hour"], int) and 0 <= values["hour"] <= 23):
        errors["hour"] = _("Choose an hour from 0 to 23.")
    if "weekday" in values and not (isinstance(values["weekday"], int) and 0 <= values["weekday"] <= 6):
        errors["weekday"] = _("Choose a day of the week (0 = Monday … 6 = Sunday).")
    if "month_day" in values and not (isinstance(values["month_day"], int) and 1 <= values["month_day"] <= MAX_MONTH_DAY):
        errors["month_day"] = _("Choose a day of the month from 1 to %(n)s.", n=MAX_MONTH_DAY)
    if "max_items" in values and not (isinstance(values["max_items"], int) and 1 <= values["max_items"] <= MAX_ITEMS):
        errors["max_items"] = _("Choose from 1 to %(n)s items.", n=MAX_ITEMS)
    if "language" in values and values["language"] not in LANGUAGES:
        errors["language"] = _("Not one of the allowed values.")
    if "sections" in values:
        sections = values["sections"] or []
        unknown = [s for s in sections if s not in SECTIONS]
        if unknown:
            errors["sections"] = _("Unknown section: %(value)s.", value=", ".join(map(str, unknown[:5])))
        elif not sections:
            errors["sections"] = _("Choose at least one section.")
        else:
            values["sections"] = [s for s in SECTIONS if s in sections]
    if "paused_until" in values:
        until = values["paused_until"]
        unchanged = current is not None and until == current.paused_until
        if until is not None and until < today:
            if unchanged:
                values["paused_until"] = None  # a holiday that is over: nothing to keep
            else:
                errors["paused_until"] = _("The pause must end today or later.")
    if errors:
        raise FieldErrors(errors)
    return values


class SubscriptionService:
    def __init__(self, session: AsyncSession, timezone: str = DEFAULT_TIMEZONE) -> None:
        self.session = session
        self.timezone = timezone

    # --- reading ------------------------------------------------------------------------------

    async def get(self, subscription_id: int) -> Subscription | None:
        return await self.session.get(Subscription, subscription_id) if storable(subscription_id) else None

    async def for_contact(self, contact_id: int) -> Subscription | None:
        return await self.session.scalar(select(Subscription).where(Subscription.contact_id == contact_id))

    async def for_group(self, group_id: int) -> Subscription | None:
        return await self.session.scalar(select(Subscription).where(Subscription.group_id == group_id))

    def _filtered(self, f: SubscriptionFilter, now: datetime) -> Select:
        query = select(Subscription)
        if f.frequency in FREQUENCIES:
            query = query.where(Subscription.frequency == f.frequency)
        if f.due_within is not None:
            query = query.where(Subscription.next_due_at.is_not(None), Subscription.next_due_at <= now + f.due_within)
        if f.paused is not None:
            on_hold = or_(Subscription.frequency == "paused",
                          and_(Subscription.paused_until.is_not(None),
                               Subscription.paused_until > local_today(now, self.timezone)))
            query = query.where(on_hold if f.paused else ~on_hold)
        terms = fold(f.q or "").split()[:8]
        if terms:
            contacts = select(Contact.id)
            groups = select(Group.id)
            for term in terms:
                contacts = contacts.where(Contact.search_key.contains(term, autoescape=True))
                groups = groups.where(Group.search_key.contains(term, autoescape=True))
            query = query.where(or_(Subscription.contact_id.in_(contacts), Subscription.group_id.in_(groups)))
        return query

    async def list_subscriptions(self, f: SubscriptionFilter, page: int | None = 1, per_page: int | None = None,
                                 now: datetime | None = None) -> Page[Subscription]:
        """Soonest due first; paused ones (nothing due) last."""
        query = self._filtered(f, now or datetime.now(UTC)).order_by(
            Subscription.next_due_at.is_(None), Subscription.next_due_at, Subscription.id)
        return await paginate(self.session, query, page, per_page)

    async def opted_out_ids(self, subscription_id: int) -> set[int]:
        rows = await self.session.scalars(select(OptOut.contact_id).where(OptOut.subscription_id == subscription_id))
        return set(rows)

    async def opted_out_map(self, subscription_ids: list[int]) -> dict[int, list[int]]:
        """Opt-outs of a page of subscriptions in one query."""
        out: dict[int, list[int]] = {}
        if subscription_ids:
            rows = await self.session.execute(select(OptOut.subscription_id, OptOut.contact_id)
                                              .where(OptOut.subscription_id.in_(subscription_ids))
                                              .order_by(OptOut.contact_id))
            for sid, cid in rows.all():
                out.setdefault(sid, []).append(cid)
        return out

    async def recipients(self, subscription: Subscription) -> list[Contact]:
        """Who receives it: the contact, or the group's members minus opt-outs; active, with an address."""
        if subscription.contact_id is not None:
            contact = subscription.contact or await self.session.get(Contact, subscription.contact_id)
            return [contact] if contact is not None and contact.is_active and (contact.email or "").strip() else []
        opted_out = select(OptOut.contact_id).where(OptOut.subscription_id == subscription.id)
        query = (
            select(Contact).join(group_member, group_member.c.contact_id == Contact.id)
            .where(group_member.c.group_id == subscription.group_id, Contact.is_active.is_(True),
                   func.trim(Contact.email) != "", Contact.id.not_in(opted_out))
            .order_by(Contact.sort_key, Contact.id)
        )
        return list((await self.session.scalars(query)).unique())

    async def is_member(self, subscription: Subscription, contact_id: int) -> bool:
        """Whether a contact belongs to this digest's audience (the owner, or a group member)."""
        if subscription.contact_id is not None:
            return subscription.contact_id == contact_id
        found = await self.session.scalar(select(group_member.c.contact_id).where(
            group_member.c.group_id == subscription.group_id, group_member.c.contact_id == contact_id))
        return found is not None

    async def is_receiving(self, subscription: Subscription, contact_id: int) -> bool:
        """Subscribed and not unsubscribed (a holiday pause still counts as subscribed)."""
        if subscription.contact_id is not None:
            return subscription.contact_id == contact_id and subscription.frequency != "paused"
        return contact_id not in await self.opted_out_ids(subscription.id)

    # --- writing ------------------------------------------------------------------------------

    def defaults(self, contact: Contact | None = None) -> dict[str, Any]:
        language = contact.language if contact is not None and contact.language in LANGUAGES else "vi"
        return {**DEFAULTS, "language": language, "sections": list(SECTIONS)}

    def reschedule(self, subscription: Subscription, now: datetime | None = None) -> None:
        subscription.next_due_at = next_due(subscription, now or datetime.now(UTC), self.timezone)

    def _values(self, data: schemas.SubscriptionInput) -> dict[str, Any]:
        return {f: getattr(data, f) for f in FIELDS if getattr(data, f) is not msgspec.UNSET}

    async def save(self, owner: Contact | Group, data: schemas.SubscriptionInput,
                   now: datetime | None = None) -> tuple[Subscription, bool]:
        """Create (with the CRM's defaults for what ``data`` leaves out) or update; (subscription, created)."""
        now = now or datetime.now(UTC)
        is_contact = isinstance(owner, Contact)
        existing = await (self.for_contact(owner.id) if is_contact else self.for_group(owner.id))
        values = check(self._values(data), existing, local_today(now, self.timezone))
        if existing is not None:
            return await self.update(existing, values, now), False
        merged = {**self.defaults(owner if is_contact else None), **values}
        subscription = Subscription(**merged)
        if is_contact:
            subscription.contact = owner
        else:
            subscription.group = owner
        self.reschedule(subscription, now)
        try:
            async with self.session.begin_nested():
                self.session.add(subscription)
                await self.session.flush()
        except IntegrityError:  # created concurrently for the same owner
            raise Conflict({"_": _("This contact or group already has a digest subscription.")}) from None
        return subscription, True

    async def update(self, subscription: Subscription, values: dict[str, Any] | schemas.SubscriptionInput,
                     now: datetime | None = None) -> Subscription:
        now = now or datetime.now(UTC)
        if isinstance(values, schemas.SubscriptionInput):
            values = check(self._values(values), subscription, local_today(now, self.timezone))
        for key, value in values.items():
            setattr(subscription, key, value)
        if subscription.paused_until is not None and subscription.paused_until < local_today(now, self.timezone):
            subscription.paused_until = None
        self.reschedule(subscription, now)
        await self.session.flush()
        return subscription

    async def delete(self, subscription: Subscription) -> None:
        await self.session.delete(subscription)
        await self.session.flush()

    async def unsubscribe(self, subscription: Subscription, contact: Contact, now: datetime | None = None) -> None:
        """Own digest: paused (the settings are kept for a change of mind). Group digest: an opt-out."""
        if subscription.contact_id == contact.id:
            await self.update(subscription, {"frequency": "paused"}, now)
            return
        if subscription.group_id is None:
            raise ValueError("this contact does not receive this digest")
        if contact.id in await self.opted_out_ids(subscription.id):
            return
        try:
            async with self.session.begin_nested():
                self.session.add(OptOut(subscription_id=subscription.id, contact_id=contact.id))
                await self.session.flush()
        except IntegrityError:  # the same link clicked twice at once
            pass

    async def resubscribe(self, subscription: Subscription, contact: Contact, frequency: str | None = None,
                          now: datetime | None = None) -> None:
        """Undo :meth:`unsubscribe`; an own paused digest restarts at ``frequency`` (weekly by default)."""
        if subscription.contact_id == contact.id:
            if subscription.frequency == "paused":
                chosen = frequency if frequency in FREQUENCIES and frequency != "paused" else DEFAULTS["frequency"]
                await self.update(subscription, {"frequency": chosen}, now)
            return
        await self.session.execute(delete(OptOut).where(OptOut.subscription_id == subscription.id,
                                                        OptOut.contact_id == contact.id))


def to_schema(subscription: Subscription, opted_out: list[int] | None = None) -> schemas.Subscription:
    owner = None
    if subscription.contact is not None:
        owner = schemas.Owner(kind="contact", id=subscription.contact.id, name=subscription.contact.full_name)
    elif subscription.group is not None:
        owner = schemas.Owner(kind="group", id=subscription.group.id, name=subscription.group.name)
    return schemas.Subscription(
        id=subscription.id, contact_id=subscription.contact_id, group_id=subscription.group_id, owner=owner,
        frequency=subscription.frequency, paused_until=subscription.paused_until, weekday=subscription.weekday,
        month_day=subscription.month_day, hour=subscription.hour, language=subscription.language,
        max_items=subscription.max_items, sections=list(subscription.sections or []),
        next_due_at=subscription.next_due_at, last_sent_at=subscription.last_sent_at,
        opted_out_contact_ids=sorted(opted_out or []),
    )


def describe_schedule(subscription: Any, today: date | None = None) -> str:
    """"Every Monday at 08:00", in the current language (for pages and the CLI)."""
    time_text = f"{subscription.hour:02d}:00"
    if subscription.frequency == "daily":
        text = _("Daily at %(time)s", time=time_text)
    elif subscription.frequency == "weekly":
        text = _("Every %(weekday)s at %(time)s", weekday=_(WEEKDAY_LABELS[subscription.weekday]), time=time_text)
    elif subscription.frequency == "monthly":
        text = _("Monthly on day %(day)s at %(time)s", day=subscription.month_day, time=time_text)
    else:
        return _("Paused")
    until = subscription.paused_until
    if until is not None and (today is None or until > today):
        text += " " + _("(on hold until %(date)s)", date=fmt_date(until))
    return text
