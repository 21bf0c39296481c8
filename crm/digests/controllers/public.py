"""The lecturer's side, without a login: the preference page and one-click unsubscribe (RFC 8058).

Both are reached by signed links from a digest, scoped to one subscription and one recipient.
A bad or expired link gets a friendly page (never a login redirect); the POSTs are rate
limited per client address. ``POST /unsubscribe/<token>`` is exempt from CSRF (a mail client
posts ``List-Unsubscribe=One-Click`` with no cookies): the token is its protection.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm import i18n
from crm.digests import links
from crm.digests.controllers.subscriptions import form_options, read_form, submitted_values, subscription_values
from crm.digests.models import FREQUENCIES, Subscription
from crm.digests.services import SubscriptionService, describe_schedule, owner_name
from crm.digests.schedule import local_today
from crm.errors import FieldErrors
from crm.i18n import _
from crm.liaison.models import Contact
from crm.security.tokens import TokenError
from crm.settings import LANGUAGES

#: POSTs per minute and client address, counted apart from the login limit. Generous enough for a
#: mail provider relaying many one-click unsubscribes from one address, low enough to stop a flood.
LINK_POSTS_PER_MINUTE = 60
LINK_RATE_LIMIT = RateLimitConfig(rate_limit=("minute", LINK_POSTS_PER_MINUTE), exclude=[], store="digest_links")


@dataclass
class Resolved:
    subscription: Subscription
    contact: Contact
    service: SubscriptionService


def _error_page(status: int, title: str, message: str) -> Template:
    return Template("digests/link_error.html", status_code=status, context={"title": title, "message": message})


async def _resolve(request: Request, db: AsyncSession, purpose: str, token: str) -> Resolved | Template:
    """The subscription and recipient a link names, or the page explaining why it cannot be used."""
    settings = request.app.state.settings
    try:
        link = links.read_link(settings, purpose, token)
    except TokenError as exc:
        if exc.reason == "expired":
            return _error_page(410, _("This link has expired"),
                               _("Links in a digest work for a limited time. Use the link in your latest digest, "
                                 "or ask your liaison librarian."))
        return _error_page(400, _("This link is not valid"),
                           _("The link may have been cut off or changed. Copy the whole link from the email, "
                             "or ask your liaison librarian."))
    service = SubscriptionService(db, settings.digests.timezone)
    subscription = await service.get(link.subscription_id)
    contact = await db.get(Contact, link.contact_id)
    if subscription is None or contact is None or not await service.is_member(subscription, contact.id):
        return _error_page(410, _("This subscription no longer exists"),
                           _("You no longer receive this digest, so there is nothing to change here."))
    return Resolved(subscription, contact, service)


def _language(request: Request, resolved: Resolved, chosen: Any = None) -> str:
    """The page's language: the switch (?lang=), else the site's language cookie, else the digest's."""
    for candidate in (chosen, request.query_params.get("lang"), request.cookies.get("lang"),
                      resolved.subscription.language):
        if candidate in LANGUAGES:
            i18n.set_language(candidate)
            return candidate
    return i18n.current_language()


def _context(request: Request, resolved: Resolved, language: str, token: str, purpose_path: str) -> dict[str, Any]:
    settings = request.app.state.settings
    subscription = resolved.subscription
    other = "en" if language == "vi" else "vi"
    return {
        "subscription": subscription, "contact": resolved.contact, "is_group": subscription.group_id is not None,
        # A group's digest is named after the group; one's own is simply the library's digest.
        "digest_name": owner_name(subscription) if subscription.group_id is not None
        else _("New documents from the library"), "language": language, "token": token,
        "switch_url": f"/{purpose_path}/{token}?{urlencode({'lang': other})}", "switch_label": dict(
            vi="Tiếng Việt", en="English")[other], "switch_lang": other,
        "schedule": describe_schedule(subscription, local_today(None, settings.digests.timezone)),
        "timezone": settings.digests.timezone,
    }


class DigestLinkController(Controller):
    include_in_schema = False

    # --- preference page ------------------------------------------------------------------------

    async def _preferences(self, request: Request, resolved: Resolved, token: str, language: str,
                           values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                           status: int = 200, notice: str | None = None) -> Template:
        subscription = resolved.subscription
        receiving = await resolved.service.is_receiving(subscription, resolved.contact.id)
        settings = request.app.state.settings
        context = _context(request, resolved, language, token, "preferences")
        context.update({
            "values": values if values is not None else subscription_values(subscription, {}),
            "errors": errors or {}, "receiving": receiving, "notice": notice,
            "unsubscribe_url": links.unsubscribe_url(settings, subscription.id, resolved.contact.id),
            **form_options(),
        })
        return Template("digests/preferences.html", status_code=status, context=context)

    @get("/preferences/{token:str}")
    async def preferences(self, request: Request, db_session: AsyncSession, token: str,
                          saved: str | None = None) -> Template:
        resolved = await _resolve(request, db_session, links.PREFERENCES, token)
        if isinstance(resolved, Template):
            return resolved
        language = _language(request, resolved)
        notice = {"1": _("Your preferences are saved."), "out": _("You have unsubscribed from this digest."),
                  "in": _("You receive this digest again.")}.get(saved or "")
        return await self._preferences(request, resolved, token, language, notice=notice)

    @post("/preferences/{token:str}", middleware=[LINK_RATE_LIMIT.middleware])
    async def save_preferences(self, request: Request, db_session: AsyncSession, token: str) -> Template | Redirect:
        resolved = await _resolve(request, db_session, links.PREFERENCES, token)
        if isinstance(resolved, Template):
            return resolved
        form = await request.form()
        language = _language(request, resolved, form.get("lang"))
        subscription, contact, service = resolved.subscription, resolved.contact, resolved.service
        action = form.get("action") or "save"
        if action == "unsubscribe":
            await service.unsubscribe(subscription, contact)
            saved = "out"
        elif action == "resubscribe":
            await service.resubscribe(subscription, contact, form.get("frequency"))
            saved = "in"
        elif subscription.group_id is not None:
            # A group's schedule is shared by every member: only the liaison librarian changes it.
            return await self._preferences(request, resolved, token, language, None, {
                "_": _("The schedule of a group's digest is set by the library.")}, 400)
        else:
            try:
                await service.update(subscription, read_form(form))
            except FieldErrors as exc:
                return await self._preferences(request, resolved, token, language, submitted_values(form),
                                               exc.errors, exc.status_code)
            saved = "1"
        return Redirect(path=f"/preferences/{token}?{urlencode({'saved': saved, 'lang': language})}", status_code=303)

    # --- one-click unsubscribe --------------------------------------------------------------------

    async def _unsubscribe_page(self, request: Request, resolved: Resolved, token: str, language: str,
                                done: str | None, previous: str | None = None) -> Template:
        settings = request.app.state.settings
        context = _context(request, resolved, language, token, "unsubscribe")
        context.update({
            "receiving": await resolved.service.is_receiving(resolved.subscription, resolved.contact.id),
            "done": done, "previous_frequency": previous,
            "preferences_url": links.preferences_url(settings, resolved.subscription.id, resolved.contact.id),
        })
        return Template("digests/unsubscribe.html", context=context)

    @get("/unsubscribe/{token:str}")
    async def unsubscribe_page(self, request: Request, db_session: AsyncSession, token: str) -> Template:
        """A confirmation page: link scanners follow GET links, so a GET changes nothing."""
        resolved = await _resolve(request, db_session, links.UNSUBSCRIBE, token)
        if isinstance(resolved, Template):
            return resolved
        return await self._unsubscribe_page(request, resolved, token, _language(request, resolved), None)

    @post("/unsubscribe/{token:str}", status_code=200, middleware=[LINK_RATE_LIMIT.middleware])
    async def unsubscribe(self, request: Request, db_session: AsyncSession, token: str) -> Template:
        """RFC 8058 one-click (``List-Unsubscribe=One-Click``), or the buttons of the page above."""
        resolved = await _resolve(request, db_session, links.UNSUBSCRIBE, token)
        if isinstance(resolved, Template):
            return resolved
        form = await request.form()
        language = _language(request, resolved, form.get("lang"))
        subscription, contact, service = resolved.subscription, resolved.contact, resolved.service
        if form.get("action") == "resubscribe":
            await service.resubscribe(subscription, contact, form.get("frequency"))
            return await self._unsubscribe_page(request, resolved, token, language, "in")
        previous = subscription.frequency if subscription.frequency in FREQUENCIES else None
        await service.unsubscribe(subscription, contact)
        return await self._unsubscribe_page(request, resolved, token, language, "out",
                                            previous if previous != "paused" else None)


ROUTES = [DigestLinkController]
