"""Digests as sent: the history list, one digest with its entries and its email, and its exports.

The email is shown exactly as it was queued (the outbox keeps the whole message), parsed with
the mailbox's parser; the entries come from ``DigestEntry``, so a digest whose email was pruned
still lists what it contained.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.digests.citations import item_link
from crm.digests.compose import EXPORT_PURPOSE
from crm.digests.selection import ItemStore, section_of
from crm.digests.export import BIBTEX_MEDIA_TYPE, RIS_MEDIA_TYPE, to_bibtex, to_ris
from crm.digests.models import Digest, DigestEntry
from crm.interests.models import InterestProfile
from crm.liaison.ids import storable
from crm.mail.models import OutboxMessage
from crm.mail.services import HTML_PREVIEW_CSP, ParsedMessage, parse_message
from crm.pagination import Page, paginate
from crm.security.tokens import TokenError, read_token
from crm.settings import Settings
from crm.sources.models import Item

EXPORT_FORMATS = {"ris": RIS_MEDIA_TYPE, "bib": BIBTEX_MEDIA_TYPE}


@dataclass
class Delivery:
    """Where a digest's email is: queued, sending, sent, failed or cancelled (None: pruned)."""

    status: str | None
    sent_at: datetime | None
    last_error: str | None


@dataclass
class HistoryEntry:
    item: Item
    section: str
    position: int
    profile_id: int | None
    profile_name: str | None


class DigestHistory:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_digests(self, contact_id: int | None = None, page: int | None = 1,
                           per_page: int | None = None) -> Page[Digest]:
        """Newest first, optionally one contact's."""
        query = select(Digest).order_by(Digest.created_at.desc(), Digest.id.desc())
        if contact_id is not None:
            query = query.where(Digest.contact_id == contact_id)
        return await paginate(self.session, query, page, per_page)

    async def get(self, digest_id: int) -> Digest | None:
        return await self.session.get(Digest, digest_id) if storable(digest_id) else None

    async def find(self, subscription_id: int, contact_id: int, period: str) -> Digest | None:
        """The digest of one recipient, subscription and period (unique)."""
        if not (storable(subscription_id) and storable(contact_id)):
            return None
        return await self.session.scalar(select(Digest).where(
            Digest.subscription_id == subscription_id, Digest.contact_id == contact_id, Digest.period == period[:20]))

    async def deliveries(self, digests: list[Digest]) -> dict[int, Delivery]:
        """The outbox state of each digest's email, in one query (keyed by digest id)."""
        ids = {d.outbox_id for d in digests if d.outbox_id is not None}
        if not ids:
            return {}
        rows = await self.session.execute(
            select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.sent_at, OutboxMessage.last_error)
            .where(OutboxMessage.id.in_(ids)))
        by_outbox = {row.id: Delivery(row.status, row.sent_at, row.last_error) for row in rows.all()}
        return {d.id: by_outbox[d.outbox_id] for d in digests if d.outbox_id in by_outbox}

    async def entries(self, digest: Digest) -> list[HistoryEntry]:
        rows = await self.session.execute(
            select(DigestEntry, Item, InterestProfile.name)
            .join(Item, Item.id == DigestEntry.item_id)
            .outerjoin(InterestProfile, InterestProfile.id == DigestEntry.profile_id)
            .where(DigestEntry.digest_id == digest.id)
            .order_by(DigestEntry.position, DigestEntry.id))
        return [HistoryEntry(item, entry.section, entry.position, entry.profile_id, name)
                for entry, item, name in rows.all()]

    async def as_sent(self, digest: Digest) -> ParsedMessage | None:
        """The email as it was queued (None when its outbox row is gone)."""
        if digest.outbox_id is None:
            return None
        raw = await self.session.scalar(select(OutboxMessage.raw).where(OutboxMessage.id == digest.outbox_id))
        return parse_message(raw) if raw is not None else None

    async def export(self, settings: Settings, digest: Digest, fmt: str) -> tuple[str, str, str]:
        """(file name, content, media type) of the digest's entries as RIS or BibTeX."""
        entries = await self.entries(digest)
        store = ItemStore()
        await store.load(self.session, {e.item.id for e in entries})
        triples = []
        for entry in entries:
            kinds = store.kinds.get(entry.item.id, frozenset())
            link = item_link(entry.item, section_of(entry.item, kinds), kinds, store.links.get(entry.item.id),
                             settings.digests)
            triples.append((entry.item, entry.section, link.url if link else None))
        body = to_ris(triples) if fmt == "ris" else to_bibtex(triples)
        return f"digest-{digest.id}.{fmt}", body, EXPORT_FORMATS[fmt]


def sandboxed(html: str) -> str:
    """An email's HTML as a sandboxed iframe's srcdoc gets it: a CSP that blocks scripts and remote content."""
    meta = f'<meta http-equiv="Content-Security-Policy" content="{HTML_PREVIEW_CSP}">'
    # Inside <head>, so the email's own doctype still sets standards mode.
    return html.replace("<head>", "<head>" + meta, 1) if "<head>" in html[:500] else meta + html


def read_digest_token(settings: Settings, token: str | None) -> tuple[int, int, str]:
    """(subscription, contact, period) named by a valid export token; TokenError otherwise."""
    if not token:
        raise TokenError("invalid")
    payload = read_token(settings, EXPORT_PURPOSE, token)
    try:
        subscription_id, contact_id, period = int(payload["s"]), int(payload["c"]), str(payload["p"])
    except (TypeError, KeyError, ValueError):
        raise TokenError("invalid") from None
    return subscription_id, contact_id, period


def read_export_token(settings: Settings, token: str | None, digest_id: int) -> int:
    """The contact named for this digest by an export token of the first format (``{"d", "c"}``,
    links in digests queued before 2026-11-24); TokenError otherwise."""
    """The contact a valid export token names for this digest; TokenError otherwise."""
    if not token:
        raise TokenError("invalid")
    payload = read_token(settings, EXPORT_PURPOSE, token)
    try:
        named_digest, contact_id = int(payload["d"]), int(payload["c"])
    except (TypeError, KeyError, ValueError):
        raise TokenError("invalid") from None
    if named_digest != digest_id:
        raise TokenError("invalid")
    return contact_id
