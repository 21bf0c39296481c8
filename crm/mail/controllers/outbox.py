"""The outbox: pages under /outbox and JSON under /api/outbox (librarians).

Librarians see what is queued, sent and failed (and why), read a message as it was queued,
retry or cancel it, and allow an address again after it was marked undeliverable.
"""

from typing import Annotated
from urllib.parse import urlencode

from litestar import Controller, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.mail import bounces, schemas
from crm.mail.controllers.mailbox import html_preview
from crm.mail.models import OUTBOX_STATUSES, MailAddress, OutboxMessage
from crm.mail.sender import MAX_SEND_ATTEMPTS, cancel_message, retry_message
from crm.mail.services import OutboxFilter, OutboxService, parse_message
from crm.pagination import MAX_PER_PAGE
from crm.security.guards import librarian_required

MAX_ID = 2**63 - 1
MAX_PAGE = 1_000_000
MessageId = Annotated[int, Parameter(ge=1, le=MAX_ID)]
PageNumber = Annotated[int, Parameter(ge=1, le=MAX_PAGE)]
PerPage = Annotated[int, Parameter(ge=1, le=MAX_PER_PAGE)]


async def _get(db: AsyncSession, message_id: int) -> OutboxMessage:
    row = await OutboxService(db).get(message_id)
    if row is None:
        raise NotFoundException()
    return row


def _summary(row: OutboxMessage) -> schemas.OutboxMessage:
    return schemas.OutboxMessage(
        id=row.id, kind=row.kind, recipient=row.recipient, subject=row.subject, status=row.status,
        attempts=row.attempts, created_at=row.created_at,
        next_attempt_at=row.next_attempt_at if row.status in ("queued", "sending") else None,
        sent_at=row.sent_at, last_error=row.last_error, message_id=row.message_id,
        idempotency_key=row.idempotency_key,
    )


def _address(status: MailAddress | None) -> schemas.AddressStatus | None:
    if status is None:
        return None
    return schemas.AddressStatus(
        address=status.address, deliverable=status.undeliverable_since is None, hard_bounces=status.hard_bounces,
        soft_bounces=status.soft_bounces, last_bounce_at=status.last_bounce_at,
        last_bounce_reason=status.last_bounce_reason, undeliverable_since=status.undeliverable_since,
    )


async def _detail(db: AsyncSession, row: OutboxMessage) -> schemas.OutboxMessageDetail:
    parsed = parse_message(row.raw)
    inbound = await OutboxService(db).inbound_for(row.id)
    summary = _summary(row)
    return schemas.OutboxMessageDetail(
        **{f: getattr(summary, f) for f in summary.__struct_fields__}, max_attempts=MAX_SEND_ATTEMPTS,
        size=len(row.raw), headers=parsed.headers, text=parsed.text, html=parsed.html,
        attachments=[schemas.MailboxAttachment(a.filename, a.content_type, a.size) for a in parsed.attachments],
        inbound=[schemas.InboundSummary(id=m.id, kind=m.kind, received_at=m.received_at, sender=m.sender,
                                        subject=m.subject, bounce_recipient=m.bounce_recipient,
                                        bounce_status=m.bounce_status, bounce_reason=m.bounce_reason)
                 for m in inbound],
        address=_address(await bounces.address_status(db, row.recipient)),
    )


class OutboxApiController(Controller):
    path = "/api/outbox"
    tags = ["outbox"]
    guards = [librarian_required]

    @get("/")
    async def list_messages(
        self, db_session: AsyncSession, status: schemas.OutboxStatus | None = None, kind: str | None = None,
        q: str | None = None, page: PageNumber = 1, per_page: PerPage = 50,
    ) -> schemas.OutboxPage:
        """Newest first; ``q`` matches the recipient address."""
        outbox = OutboxService(db_session)
        result = await outbox.list_messages(OutboxFilter(status, kind or None, q), page, per_page)
        return schemas.OutboxPage(items=[_summary(r) for r in result.items], total=result.total, page=result.number,
                                  per_page=result.per_page, pages=result.pages, counts=await outbox.counts())

    @get("/{message_id:int}")
    async def get_message(self, db_session: AsyncSession, message_id: MessageId) -> schemas.OutboxMessageDetail:
        return await _detail(db_session, await _get(db_session, message_id))

    @post("/{message_id:int}/retry", status_code=200)
    async def retry(self, db_session: AsyncSession, message_id: MessageId) -> schemas.OutboxMessage:
        """Queue a failed or cancelled message again, or send a waiting one now."""
        row = await retry_message(db_session, message_id)
        if row is None:
            raise NotFoundException()
        return _summary(row)

    @post("/{message_id:int}/cancel", status_code=200)
    async def cancel(self, db_session: AsyncSession, message_id: MessageId) -> schemas.OutboxMessage:
        row = await cancel_message(db_session, message_id)
        if row is None:
            raise NotFoundException()
        return _summary(row)

    @post("/{message_id:int}/allow-address", status_code=200)
    async def allow_address(self, db_session: AsyncSession, message_id: MessageId) -> schemas.AddressStatus | None:
        """The recipient was marked undeliverable but has been fixed: send to it again."""
        row = await _get(db_session, message_id)
        return _address(await bounces.reinstate_address(db_session, row.recipient))


def _page_filter(status: str | None, kind: str | None, q: str | None) -> OutboxFilter:
    """A list page's filters, read leniently: a blank or unknown value means no filter."""
    return OutboxFilter(status=status if status in OUTBOX_STATUSES else None,
                        kind=(kind or "").strip()[:20] or None, q=(q or "").strip()[:320] or None)


def _page_number(value: str | None) -> int:
    text = (value or "").strip()
    return min(int(text), MAX_PAGE) if text.isdigit() and 0 < len(text) < 8 and int(text) > 0 else 1


class OutboxPageController(Controller):
    path = "/outbox"
    guards = [librarian_required]
    include_in_schema = False

    @get("/")
    async def index(self, db_session: AsyncSession, status: str | None = None, kind: str | None = None,
                    q: str | None = None, page: str | None = None) -> Template:
        outbox = OutboxService(db_session)
        filters = _page_filter(status, kind, q)
        result = await outbox.list_messages(filters, _page_number(page))
        values = {"status": filters.status or "", "kind": filters.kind or "", "q": filters.q or ""}
        return Template("mail/outbox.html", context={
            "page": result, "values": values, "counts": await outbox.counts(), "kinds": await outbox.kinds(),
            "query": urlencode({k: v for k, v in values.items() if v}), "statuses": OUTBOX_STATUSES,
            "base_query": urlencode({k: v for k, v in values.items() if v and k != "status"}),
            "max_attempts": MAX_SEND_ATTEMPTS,
        })

    async def _show(self, db: AsyncSession, row: OutboxMessage, errors: dict | None = None, status: int = 200) -> Template:
        parsed = parse_message(row.raw)
        return Template("mail/outbox_detail.html", status_code=status, context={
            "message": row, "parsed": parsed, "size": len(row.raw), "max_attempts": MAX_SEND_ATTEMPTS,
            "preview": html_preview(parsed.html) if parsed.html is not None else None,
            "inbound": await OutboxService(db).inbound_for(row.id),
            "address": await bounces.address_status(db, row.recipient), "errors": errors or {},
        })

    @get("/{message_id:int}")
    async def detail(self, db_session: AsyncSession, message_id: MessageId) -> Template:
        return await self._show(db_session, await _get(db_session, message_id))

    @get("/{message_id:int}/raw")
    async def raw(self, db_session: AsyncSession, message_id: MessageId) -> Response[bytes]:
        row = await _get(db_session, message_id)
        return Response(content=row.raw, media_type="message/rfc822", headers={
            "Content-Disposition": f'attachment; filename="outbox-{row.id}.eml"', "X-Content-Type-Options": "nosniff",
        })

    @post("/{message_id:int}/retry")
    async def retry(self, db_session: AsyncSession, message_id: MessageId) -> Template | Redirect:
        row = await _get(db_session, message_id)
        try:
            await retry_message(db_session, row.id)
        except FieldErrors as exc:
            return await self._show(db_session, row, exc.errors, exc.status_code)
        return Redirect(path=f"/outbox/{row.id}", status_code=303)

    @post("/{message_id:int}/cancel")
    async def cancel(self, db_session: AsyncSession, message_id: MessageId) -> Template | Redirect:
        row = await _get(db_session, message_id)
        try:
            await cancel_message(db_session, row.id)
        except FieldErrors as exc:
            return await self._show(db_session, row, exc.errors, exc.status_code)
        return Redirect(path=f"/outbox/{row.id}", status_code=303)

    @post("/{message_id:int}/allow-address")
    async def allow_address(self, db_session: AsyncSession, message_id: MessageId) -> Redirect:
        row = await _get(db_session, message_id)
        await bounces.reinstate_address(db_session, row.recipient)
        return Redirect(path=f"/outbox/{row.id}", status_code=303)
