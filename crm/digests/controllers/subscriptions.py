"""Digest subscriptions for librarians: JSON API and pages for a contact's or a group's digest."""

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, delete, get, post, put
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.digests import links, schemas
from crm.digests.models import FREQUENCIES, SECTIONS, Subscription
from crm.digests.schedule import local_today
from crm.digests.services import (DUE_SOON, FREQUENCY_LABELS, MAX_ITEMS, MAX_MONTH_DAY, SECTION_LABELS,
                                  WEEKDAY_LABELS, SubscriptionFilter, SubscriptionService, check,
                                  describe_schedule, to_schema)
from crm.errors import FieldErrors
from crm.forms import form_values, validate
from crm.i18n import _
from crm.liaison.models import Contact, Group
from crm.liaison.params import IdParam, PageParam, PerPageParam, parse_int, parse_page, query_string
from crm.liaison.services.contacts import ContactService
from crm.liaison.services.groups import GroupService
from crm.security.guards import librarian_required
from crm.settings import Settings


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _service(request: Request, db: AsyncSession) -> SubscriptionService:
    return SubscriptionService(db, _settings(request).digests.timezone)


async def _contact(db: AsyncSession, contact_id: int) -> Contact:
    contact = await ContactService(db).get(contact_id)
    if contact is None:
        raise NotFoundException()
    return contact


async def _group(db: AsyncSession, group_id: int) -> Group:
    group = await GroupService(db).get(group_id)
    if group is None:
        raise NotFoundException()
    return group


def form_options() -> dict[str, Any]:
    """The choices of a subscription form, translated (shared with the lecturer's preference page)."""
    return {
        "frequencies": [(k, _(v)) for k, v in FREQUENCY_LABELS.items()],
        "weekdays": [(i, _(label)) for i, label in enumerate(WEEKDAY_LABELS)],
        "hours": [(h, f"{h:02d}:00") for h in range(24)],
        "month_days": [(d, str(d)) for d in range(1, MAX_MONTH_DAY + 1)],
        "section_options": [(k, _(v)) for k, v in SECTION_LABELS.items()],
        "languages": [("vi", "Tiếng Việt"), ("en", "English")],
        "max_items_limit": MAX_ITEMS,
    }


def subscription_values(subscription: Subscription | None, defaults: dict[str, Any]) -> dict[str, Any]:
    source = subscription if subscription is not None else None
    values = {k: (getattr(source, k) if source is not None else defaults[k])
              for k in ("frequency", "weekday", "month_day", "hour", "language", "max_items", "sections", "paused_until")}
    values["sections"] = list(values["sections"] or [])
    return values


def read_form(form: Any) -> schemas.SubscriptionInput:
    """A submitted subscription form → the fields to set (every field's problem at once).

    When some fields do not even parse, the rules are still checked on those that do, so the
    form shows "hour 0–23" next to "not a whole number" instead of one after the other.
    """
    try:
        return validate(form, schemas.SubscriptionForm).as_input()
    except FieldErrors as exc:
        errors = dict(exc.errors)
        parsed: dict[str, Any] = {}
        for name in ("hour", "weekday", "month_day", "max_items"):
            if name not in errors and (number := parse_int(form.get(name))) is not None:
                parsed[name] = number
        for name in ("frequency", "language"):
            if name not in errors and form.get(name):
                parsed[name] = form.get(name)
        if "sections" not in errors:
            parsed["sections"] = form.getall("sections", []) if hasattr(form, "getall") else form.get("sections", [])
        try:
            check(parsed, None, local_today())
        except FieldErrors as more:
            errors = {**more.errors, **errors}
        raise FieldErrors(errors) from None


def submitted_values(form: Any) -> dict[str, Any]:
    values = form_values(form)
    values["sections"] = form.getall("sections", []) if hasattr(form, "getall") else values.get("sections", [])
    return values


# --- JSON API ---------------------------------------------------------------------------------


class SubscriptionApiController(Controller):
    path = "/api"
    tags = ["digest subscriptions"]
    guards = [librarian_required]

    async def _schema(self, service: SubscriptionService, subscription: Subscription) -> schemas.Subscription:
        opted_out = await service.opted_out_ids(subscription.id) if subscription.group_id else set()
        return to_schema(subscription, sorted(opted_out))

    @get("/subscriptions")
    async def list_subscriptions(self, request: Request, db_session: AsyncSession, frequency: str | None = None,
                                 due_within_hours: int | None = None, paused: bool | None = None, q: str | None = None,
                                 page: PageParam = 1, per_page: PerPageParam = 50) -> schemas.SubscriptionPage:
        """Filter by ``frequency``, due within ``due_within_hours`` (overdue included), ``paused`` (or on hold)."""
        if frequency is not None and frequency not in FREQUENCIES:
            raise FieldErrors({"frequency": _("Choose daily, weekly, monthly or paused.")})
        if due_within_hours is not None and not 0 <= due_within_hours <= 24 * 366:
            raise FieldErrors({"due_within_hours": _("Must be at most %(n)s.", n=24 * 366)})
        service = _service(request, db_session)
        filters = SubscriptionFilter(frequency=frequency, paused=paused, q=q,
                                     due_within=timedelta(hours=due_within_hours) if due_within_hours is not None else None)
        result = await service.list_subscriptions(filters, page, per_page)
        opt_outs = await service.opted_out_map([s.id for s in result.items if s.group_id])
        return schemas.SubscriptionPage(items=[to_schema(s, opt_outs.get(s.id)) for s in result.items],
                                        total=result.total, page=result.number, per_page=result.per_page)

    @get("/contacts/{contact_id:int}/subscription")
    async def get_contact_subscription(self, request: Request, db_session: AsyncSession,
                                       contact_id: IdParam) -> schemas.Subscription:
        service = _service(request, db_session)
        subscription = await service.for_contact((await _contact(db_session, contact_id)).id)
        if subscription is None:
            raise NotFoundException()
        return await self._schema(service, subscription)

    @put("/contacts/{contact_id:int}/subscription")
    async def put_contact_subscription(self, request: Request, db_session: AsyncSession, contact_id: IdParam,
                                       data: schemas.SubscriptionInput) -> schemas.Subscription:
        """Create (defaults for what is left out) or change the contact's own digest."""
        service = _service(request, db_session)
        subscription, _created = await service.save(await _contact(db_session, contact_id), data)
        return await self._schema(service, subscription)

    @delete("/contacts/{contact_id:int}/subscription")
    async def delete_contact_subscription(self, request: Request, db_session: AsyncSession, contact_id: IdParam) -> None:
        service = _service(request, db_session)
        subscription = await service.for_contact((await _contact(db_session, contact_id)).id)
        if subscription is None:
            raise NotFoundException()
        await service.delete(subscription)

    @get("/groups/{group_id:int}/subscription")
    async def get_group_subscription(self, request: Request, db_session: AsyncSession,
                                     group_id: IdParam) -> schemas.Subscription:
        service = _service(request, db_session)
        subscription = await service.for_group((await _group(db_session, group_id)).id)
        if subscription is None:
            raise NotFoundException()
        return await self._schema(service, subscription)

    @put("/groups/{group_id:int}/subscription")
    async def put_group_subscription(self, request: Request, db_session: AsyncSession, group_id: IdParam,
                                     data: schemas.SubscriptionInput) -> schemas.Subscription:
        """Create or change the group's digest (it goes to each member who has not opted out)."""
        service = _service(request, db_session)
        subscription, _created = await service.save(await _group(db_session, group_id), data)
        return await self._schema(service, subscription)

    @delete("/groups/{group_id:int}/subscription")
    async def delete_group_subscription(self, request: Request, db_session: AsyncSession, group_id: IdParam) -> None:
        service = _service(request, db_session)
        subscription = await service.for_group((await _group(db_session, group_id)).id)
        if subscription is None:
            raise NotFoundException()
        await service.delete(subscription)

    async def _member(self, request: Request, db: AsyncSession, group_id: int,
                      contact_id: int) -> tuple[SubscriptionService, Subscription, Contact]:
        service = _service(request, db)
        subscription = await service.for_group((await _group(db, group_id)).id)
        if subscription is None:
            raise NotFoundException()
        contact = await _contact(db, contact_id)
        if not await service.is_member(subscription, contact.id):
            raise FieldErrors({"contact_id": _("This contact is not a member of the group.")})
        return service, subscription, contact

    @put("/groups/{group_id:int}/subscription/opt-outs/{contact_id:int}")
    async def opt_out_member(self, request: Request, db_session: AsyncSession, group_id: IdParam,
                             contact_id: IdParam) -> schemas.Subscription:
        """A member leaves the group's digest (what their unsubscribe link does)."""
        service, subscription, contact = await self._member(request, db_session, group_id, contact_id)
        await service.unsubscribe(subscription, contact)
        return await self._schema(service, subscription)

    @delete("/groups/{group_id:int}/subscription/opt-outs/{contact_id:int}", status_code=200)
    async def opt_in_member(self, request: Request, db_session: AsyncSession, group_id: IdParam,
                            contact_id: IdParam) -> schemas.Subscription:
        """The member receives the group's digest again."""
        service, subscription, contact = await self._member(request, db_session, group_id, contact_id)
        await service.resubscribe(subscription, contact)
        return await self._schema(service, subscription)


# --- pages ------------------------------------------------------------------------------------


class SubscriptionPageController(Controller):
    guards = [librarian_required]
    include_in_schema = False

    async def _page(self, request: Request, db: AsyncSession, owner: Contact | Group,
                    values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                    status: int = 200) -> Template:
        settings = _settings(request)
        service = _service(request, db)
        is_contact = isinstance(owner, Contact)
        subscription = await (service.for_contact(owner.id) if is_contact else service.for_group(owner.id))
        members: list[Contact] = []
        opted_out: set[int] = set()
        recipients: list[Contact] = []
        if subscription is not None:
            recipients = await service.recipients(subscription)
            opted_out = await service.opted_out_ids(subscription.id) if not is_contact else set()
        if not is_contact:
            members = await GroupService(db).members(owner.id)
        preferences_url = (links.preferences_url(settings, subscription.id, owner.id)
                           if subscription is not None and is_contact else None)
        return Template("digests/subscription.html", status_code=status, context={
            "owner": owner, "is_contact": is_contact, "subscription": subscription,
            "values": values if values is not None else subscription_values(subscription, service.defaults(
                owner if is_contact else None)),
            "errors": errors or {}, "members": members, "opted_out": opted_out,
            "recipient_ids": {c.id for c in recipients}, "preferences_url": preferences_url,
            "tz": ZoneInfo(settings.digests.timezone), "timezone": settings.digests.timezone,
            "schedule": describe_schedule(subscription, local_today(None, settings.digests.timezone))
            if subscription is not None else "",
            "base": f"/contacts/{owner.id}" if is_contact else f"/groups/{owner.id}",
            **form_options(),
        })

    async def _save(self, request: Request, db: AsyncSession, owner: Contact | Group) -> Template | Redirect:
        form = await request.form()
        try:
            await _service(request, db).save(owner, read_form(form))
        except FieldErrors as exc:
            return await self._page(request, db, owner, submitted_values(form), exc.errors, exc.status_code)
        base = f"/contacts/{owner.id}" if isinstance(owner, Contact) else f"/groups/{owner.id}"
        return Redirect(path=f"{base}/digest?saved=1", status_code=303)

    async def _delete(self, request: Request, db: AsyncSession, owner: Contact | Group) -> Redirect:
        service = _service(request, db)
        is_contact = isinstance(owner, Contact)
        subscription = await (service.for_contact(owner.id) if is_contact else service.for_group(owner.id))
        if subscription is not None:
            await service.delete(subscription)
        return Redirect(path=f"/contacts/{owner.id}" if is_contact else f"/groups/{owner.id}", status_code=303)

    @get("/contacts/{contact_id:int}/digest")
    async def contact_page(self, request: Request, db_session: AsyncSession, contact_id: int) -> Template:
        return await self._page(request, db_session, await _contact(db_session, contact_id))

    @post("/contacts/{contact_id:int}/digest")
    async def contact_save(self, request: Request, db_session: AsyncSession, contact_id: int) -> Template | Redirect:
        return await self._save(request, db_session, await _contact(db_session, contact_id))

    @post("/contacts/{contact_id:int}/digest/delete")
    async def contact_delete(self, request: Request, db_session: AsyncSession, contact_id: int) -> Redirect:
        return await self._delete(request, db_session, await _contact(db_session, contact_id))

    @get("/groups/{group_id:int}/digest")
    async def group_page(self, request: Request, db_session: AsyncSession, group_id: int) -> Template:
        return await self._page(request, db_session, await _group(db_session, group_id))

    @post("/groups/{group_id:int}/digest")
    async def group_save(self, request: Request, db_session: AsyncSession, group_id: int) -> Template | Redirect:
        return await self._save(request, db_session, await _group(db_session, group_id))

    @post("/groups/{group_id:int}/digest/delete")
    async def group_delete(self, request: Request, db_session: AsyncSession, group_id: int) -> Redirect:
        return await self._delete(request, db_session, await _group(db_session, group_id))

    @post("/groups/{group_id:int}/digest/members/{contact_id:int}/{action:str}")
    async def group_member(self, request: Request, db_session: AsyncSession, group_id: int, contact_id: int,
                           action: str) -> Redirect:
        """Take a member out of the group's digest (``unsubscribe``) or back in (``resubscribe``)."""
        if action not in ("unsubscribe", "resubscribe"):
            raise NotFoundException()
        group = await _group(db_session, group_id)
        service = _service(request, db_session)
        subscription = await service.for_group(group.id)
        contact = await ContactService(db_session).get(contact_id)
        if subscription is None or contact is None:
            raise NotFoundException()
        if action == "unsubscribe":
            await service.unsubscribe(subscription, contact)
        else:
            await service.resubscribe(subscription, contact)
        return Redirect(path=f"/groups/{group.id}/digest#members", status_code=303)

    @get("/digests/subscriptions")
    async def index(self, request: Request, db_session: AsyncSession, frequency: str | None = None,
                    due: str | None = None, paused: str | None = None, q: str | None = None,
                    page: str | None = None) -> Template:
        settings = _settings(request)
        service = _service(request, db_session)
        filters = SubscriptionFilter(
            frequency=frequency if frequency in FREQUENCIES else None,
            due_within=DUE_SOON if due == "soon" else (timedelta(0) if due == "now" else None),
            paused={"1": True, "0": False}.get(paused or ""), q=(q or "").strip()[:200] or None)
        now = datetime.now(UTC)
        result = await service.list_subscriptions(filters, parse_page(page), now=now)
        values = {"frequency": filters.frequency or "", "due": due if due in ("soon", "now") else "",
                  "paused": paused if filters.paused is not None else "", "q": filters.q or ""}
        today = local_today(now, settings.digests.timezone)
        return Template("digests/subscriptions.html", context={
            "page": result, "values": values, "query": query_string(values),
            "schedules": {s.id: describe_schedule(s, today) for s in result.items},
            "tz": ZoneInfo(settings.digests.timezone), "local_today": today, "now": now,
            "frequency_labels": FREQUENCY_LABELS, "section_labels": SECTION_LABELS, "sections": SECTIONS,
            **form_options(),
        })


ROUTES = [SubscriptionApiController, SubscriptionPageController]
