"""A digest's entries as RIS or BibTeX, through the signed link in the email (no login)."""

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException, TooManyRequestsException
from litestar.middleware.rate_limit import RateLimitConfig, get_remote_address
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.digests.history import DigestHistory, read_digest_token, read_export_token
from crm.digests.models import Digest
from crm.i18n import _
from crm.liaison.params import IdParam
from crm.security.tokens import TokenError

#: Per client address: a reader downloads a file or two; a script trying tokens is slowed down.
EXPORT_RATE_LIMIT = RateLimitConfig(rate_limit=("minute", 30),
                                    identifier_for_request=lambda r: f"digest-export:{get_remote_address(r)}")


def _refused(reason: str) -> Template:
    expired = reason == "expired"
    return Template("errors/error.html", status_code=410 if expired else 403, context={
        "status": 410 if expired else 403,
        "title": _("This link has expired") if expired else _("This link is not valid"),
        "message": _("Ask your liaison librarian to send the list again.") if expired
        else _("The link may have been copied incompletely. Open it again from the email."),
    })


def _too_many(request: Request, exc: TooManyRequestsException) -> Template:
    return Template("errors/error.html", status_code=429, context={
        "status": 429, "title": _("Too many requests"),
        "message": _("Too many requests. Please wait a little and try again.")})


async def _download(request: Request, history: DigestHistory, digest: Digest | None, fmt: str) -> Response:
    if digest is None:
        raise NotFoundException()
    filename, body, media_type = await history.export(request.app.state.settings, digest, fmt)
    return Response(content=body.encode("utf-8"), media_type=f"{media_type}; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
        "Referrer-Policy": "no-referrer",
    })


class DigestExportController(Controller):
    """``/digests/export.ris|.bib?token=…``: the token names the recipient, subscription and period."""

    path = "/digests"
    include_in_schema = False
    middleware = [EXPORT_RATE_LIMIT.middleware]
    exception_handlers = {TooManyRequestsException: _too_many}

    async def _export(self, request: Request, db: AsyncSession, token: str | None, fmt: str) -> Response | Template:
        try:
            subscription_id, contact_id, period = read_digest_token(request.app.state.settings, token)
        except TokenError as exc:
            return _refused(exc.reason)
        history = DigestHistory(db)
        return await _download(request, history, await history.find(subscription_id, contact_id, period), fmt)

    @get("/export.ris")
    async def ris(self, request: Request, db_session: AsyncSession, token: str | None = None) -> Response | Template:
        return await self._export(request, db_session, token, "ris")

    @get("/export.bib")
    async def bib(self, request: Request, db_session: AsyncSession, token: str | None = None) -> Response | Template:
        return await self._export(request, db_session, token, "bib")


class LegacyDigestExportController(Controller):
    """``/digests/{id}/export.ris|.bib?token=…``: links of digests queued before the token named the period."""

    path = "/digests/{digest_id:int}"
    include_in_schema = False
    middleware = [EXPORT_RATE_LIMIT.middleware]
    exception_handlers = {TooManyRequestsException: _too_many}

    async def _export(self, request: Request, db: AsyncSession, digest_id: int, token: str | None,
                      fmt: str) -> Response | Template:
        try:
            contact_id = read_export_token(request.app.state.settings, token, digest_id)
        except TokenError as exc:
            return _refused(exc.reason)
        history = DigestHistory(db)
        digest = await history.get(digest_id)
        return await _download(request, history, digest if digest and digest.contact_id == contact_id else None, fmt)

    @get("/export.ris")
    async def ris(self, request: Request, db_session: AsyncSession, digest_id: IdParam,
                  token: str | None = None) -> Response | Template:
        return await self._export(request, db_session, digest_id, token, "ris")

    @get("/export.bib")
    async def bib(self, request: Request, db_session: AsyncSession, digest_id: IdParam,
                  token: str | None = None) -> Response | Template:
        return await self._export(request, db_session, digest_id, token, "bib")


ROUTES: list[Any] = [DigestExportController, LegacyDigestExportController]
