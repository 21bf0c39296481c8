"""Preview a recipient's next digest and "send now": pages under /contacts/{id}/digest and the API."""

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Response, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.digests import compose, send_now
from crm.digests.controllers.history import DigestSummary, summary
from crm.digests.history import DigestHistory, sandboxed
from crm.errors import FieldErrors
from crm.i18n import _
from crm.liaison.models import Contact
from crm.liaison.params import IdParam, parse_int
from crm.liaison.services.contacts import ContactService
from crm.security.guards import librarian_required


class SendNowInput(msgspec.Struct, forbid_unknown_fields=True):
    subscription_id: int | None = None


class SendNowResult(msgspec.Struct):
    queued: bool
    message: str
    digest: DigestSummary | None = None


async def _contact(db: AsyncSession, contact_id: int) -> Contact:
    contact = await ContactService(db).get(contact_id)
    if contact is None:
        raise NotFoundException()
    return contact


class DigestPreviewController(Controller):
    path = "/contacts/{contact_id:int}/digest"
    guards = [librarian_required]
    include_in_schema = False

    async def _page(self, request: Request, db: AsyncSession, contact: Contact, subscription_id: int | None,
                    errors: dict | None = None, notice: str | None = None, status: int = 200) -> Template:
        subscriptions = await send_now.subscriptions_of(db, contact)
        try:
            subscription = await send_now.choose(db, contact, subscription_id)
        except FieldErrors as exc:
            subscription, errors, status = None, {**(errors or {}), **exc.errors}, exc.status_code
        digest = refusal = None
        if subscription is not None:
            refusal = await send_now.refusal(db, subscription, contact)
            digest = await compose.preview_digest(db, request.app.state.settings, subscription, contact)
        return Template("digests/preview.html", status_code=status, context={
            "contact": contact, "subscriptions": subscriptions, "subscription": subscription, "digest": digest,
            "refusal": refusal, "errors": errors or {}, "notice": notice,
            "preview": sandboxed(digest.html) if digest is not None else None,
        })

    @get("/preview")
    async def preview(self, request: Request, db_session: AsyncSession, contact_id: IdParam,
                      subscription_id: str | None = None) -> Template:
        contact = await _contact(db_session, contact_id)
        return await self._page(request, db_session, contact, parse_int(subscription_id))

    @post("/send-now")
    async def send(self, request: Request, db_session: AsyncSession, contact_id: IdParam) -> Template | Redirect:
        contact = await _contact(db_session, contact_id)
        form = await request.form()
        chosen = parse_int(form.get("subscription_id"))
        try:
            subscription = await send_now.choose(db_session, contact, chosen)
            digest = await send_now.send_now(db_session, request.app.state.settings, contact, subscription,
                                             request.user.id)
        except FieldErrors as exc:
            return await self._page(request, db_session, contact, chosen, exc.errors, status=exc.status_code)
        if digest is None:
            return await self._page(request, db_session, contact, chosen,
                                    notice=_("Nothing new to send: no digest was queued."))
        return Redirect(path=f"/digests/{digest.id}?queued=1", status_code=303)


class DigestSendApiController(Controller):
    path = "/api/contacts/{contact_id:int}/digest"
    tags = ["digests"]
    guards = [librarian_required]

    @post("/send-now", status_code=200)
    async def send_now(self, request: Request, db_session: AsyncSession, contact_id: IdParam,
                       data: SendNowInput | None = None) -> Response[SendNowResult]:
        """Queue the contact's next digest now: 201 with the digest, or 200 with queued=false when nothing is new."""
        contact = await _contact(db_session, contact_id)
        subscription = await send_now.choose(db_session, contact, data.subscription_id if data else None)
        digest = await send_now.send_now(db_session, request.app.state.settings, contact, subscription, request.user.id)
        if digest is None:
            return Response(SendNowResult(queued=False, message=_("Nothing new to send: no digest was queued.")))
        deliveries = await DigestHistory(db_session).deliveries([digest])
        return Response(SendNowResult(queued=True, message=_("The digest is queued."),
                                      digest=summary(digest, deliveries.get(digest.id))), status_code=201)


ROUTES: list[Any] = [DigestPreviewController, DigestSendApiController]
