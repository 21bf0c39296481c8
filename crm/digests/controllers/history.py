"""Digests sent: the history list and one digest as it was sent (pages and JSON API)."""

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.exceptions import NotFoundException
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.digests.history import Delivery, DigestHistory, sandboxed
from crm.digests.models import Digest
from crm.liaison.params import IdParam, OptionalId, PageParam, PerPageParam, parse_int, parse_page, query_string
from crm.liaison.services.contacts import ContactService
from crm.security.guards import librarian_required


class DigestSummary(msgspec.Struct):
    id: int
    contact_id: int
    contact_name: str
    subscription_id: int | None
    period: str
    language: str
    subject: str
    item_count: int
    created_at: datetime
    sent_by_id: int | None
    #: queued | sending | sent | failed | cancelled; None when the email was pruned from the outbox.
    status: str | None
    sent_at: datetime | None


class DigestEntryOut(msgspec.Struct):
    position: int
    item_id: int
    title: str
    section: str
    profile_id: int | None
    profile_name: str | None


class DigestDetail(msgspec.Struct):
    digest: DigestSummary
    entries: list[DigestEntryOut]
    #: The email as queued: its text and HTML parts (None when pruned).
    text: str | None
    html: str | None


class DigestPage(msgspec.Struct):
    items: list[DigestSummary]
    total: int
    page: int
    per_page: int


def summary(digest: Digest, delivery: Delivery | None) -> DigestSummary:
    return DigestSummary(
        id=digest.id, contact_id=digest.contact_id, contact_name=digest.contact.full_name if digest.contact else "",
        subscription_id=digest.subscription_id, period=digest.period, language=digest.language,
        subject=digest.subject, item_count=digest.item_count, created_at=digest.created_at,
        sent_by_id=digest.sent_by_id, status=delivery.status if delivery else None,
        sent_at=delivery.sent_at if delivery else None)


async def _digest(db: AsyncSession, digest_id: int) -> Digest:
    digest = await DigestHistory(db).get(digest_id)
    if digest is None:
        raise NotFoundException()
    return digest


class DigestHistoryApiController(Controller):
    path = "/api/digests"
    tags = ["digests"]
    guards = [librarian_required]

    @get("/")
    async def list_digests(self, db_session: AsyncSession, contact_id: OptionalId = None, page: PageParam = 1,
                           per_page: PerPageParam = 50) -> DigestPage:
        history = DigestHistory(db_session)
        result = await history.list_digests(contact_id, page, per_page)
        deliveries = await history.deliveries(result.items)
        return DigestPage(items=[summary(d, deliveries.get(d.id)) for d in result.items], total=result.total,
                          page=result.number, per_page=result.per_page)

    @get("/{digest_id:int}")
    async def get_digest(self, db_session: AsyncSession, digest_id: IdParam) -> DigestDetail:
        history = DigestHistory(db_session)
        digest = await _digest(db_session, digest_id)
        sent = await history.as_sent(digest)
        entries = [DigestEntryOut(e.position, e.item.id, e.item.title, e.section, e.profile_id, e.profile_name)
                   for e in await history.entries(digest)]
        return DigestDetail(digest=summary(digest, (await history.deliveries([digest])).get(digest.id)),
                            entries=entries, text=sent.text if sent else None, html=sent.html if sent else None)


class DigestHistoryPageController(Controller):
    path = "/digests"
    guards = [librarian_required]
    include_in_schema = False

    @get("/")
    async def index(self, db_session: AsyncSession, contact_id: str | None = None, page: str | None = None) -> Template:
        cid = parse_int(contact_id)
        history = DigestHistory(db_session)
        result = await history.list_digests(cid, parse_page(page))
        contact = await ContactService(db_session).get(cid) if cid else None
        return Template("digests/history.html", context={
            "page": result, "deliveries": await history.deliveries(result.items), "contact": contact,
            "query": query_string({"contact_id": cid}),
        })

    @get("/{digest_id:int}")
    async def detail(self, request: Request, db_session: AsyncSession, digest_id: IdParam,
                     queued: str | None = None) -> Template:
        history = DigestHistory(db_session)
        digest = await _digest(db_session, digest_id)
        sent = await history.as_sent(digest)
        return Template("digests/history_detail.html", context={
            "digest": digest, "sent": sent, "entries": await history.entries(digest),
            "delivery": (await history.deliveries([digest])).get(digest.id), "queued": queued == "1",
            "preview": sandboxed(sent.html) if sent is not None and sent.html is not None else None,
        })


ROUTES: list[Any] = [DigestHistoryApiController, DigestHistoryPageController]
