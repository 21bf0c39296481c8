"""Composing digests: for each recipient, the matches not sent to them yet, grouped by interest
profile and kind of source, cited, linked, explained, rendered in their language and queued.

An item reaches a recipient once (``DigestEntry`` is unique per contact and item) and appears
once in a digest, under the profile that scored it best. Nothing new means no digest and no
email. A digest is idempotent per (subscription, contact, period): composing it again queues
nothing. Everything happens in the caller's transaction.

A weekly run composes thousands of digests, so the work is batched over recipients: one query
per kind of row for a chunk of recipients (profiles, matches, already-sent items, items, their
sources, liaison assignments), never one per recipient and item; items and citations are
shared between the recipients who get them.
"""

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm import db, i18n
from crm.digests import content, links
from crm.digests.citations import format_citation, style_name
from crm.digests.export import RIS_MEDIA_TYPE
from crm.digests.models import SECTIONS, Digest, DigestEntry, OptOut, Subscription
from crm.digests.schedule import local_today
from crm.acquisitions import labels as acquisition_labels
from crm.digests.selection import (STALE_AFTER, Candidates, ItemStore, Liaisons, Profile, arrived, chunks, choose,
                                   section_of)
from crm.liaison.models import Contact, Group, Interaction, interaction_contact
from crm.mail.outbox import Attachment, Email, address_domain, enqueue_rows, format_address, outbox_row
from crm.security.tokens import make_token
from crm.settings import LANGUAGES, Settings

log = logging.getLogger("crm.digests")

__all__ = ["STALE_AFTER", "ItemStore", "Prepared", "prepare_digests", "preview_digest", "queue_digest",
           "queue_digests", "section_of", "store_digests"]

#: Recipients composed per round of queries.
RECIPIENT_CHUNK = 500
EXPORT_PURPOSE = "digest-export"
#: Titles listed in the timeline entry of a digest (the digest page lists them all).
TIMELINE_TITLES = 50


def export_token(settings: Settings, subscription_id: int, contact_id: int, period: str) -> str:
    """The signed key of one digest: (subscription, recipient, period) is unique, and known before
    the digest row exists, so the email can be rendered before anything is written."""
    return make_token(settings, EXPORT_PURPOSE, {"s": int(subscription_id), "c": int(contact_id), "p": period})


def export_urls(settings: Settings, subscription_id: int, contact_id: int, period: str) -> dict[str, str]:
    token = export_token(settings, subscription_id, contact_id, period)
    base = f"{settings.base_url}/digests/export"
    return {"ris": f"{base}.ris?token={token}", "bib": f"{base}.bib?token={token}"}


def _entry(store: ItemStore, settings: Settings, style: str, language: str, item_id: int, profile_id: int | None,
           score: float, reasons: list[str]) -> content.DigestItem:
    item, kinds = store.items[item_id], store.kinds.get(item_id, frozenset())
    section, link = store.placed(item_id, settings)
    return content.DigestItem(
        item=item, profile_id=profile_id, section=section, score=score,
        citation=format_citation(item, style, language, section, link.url if link and link.kind == "url" else None),
        link=link, reasons=reasons, source_kinds=kinds)


def _arrivals_block(arrivals: list[tuple[int, str]], store: ItemStore, settings: Settings, style: str,
                    language: str) -> content.ProfileBlock:
    """The items the recipient asked for (reading list, suggestion) that are now in the library."""
    sections: dict[str, list[content.DigestItem]] = defaultdict(list)
    for item_id, reason in arrivals:
        entry = _entry(store, settings, style, language, item_id, None, 0.0,
                       [acquisition_labels.label(acquisition_labels.ARRIVAL_REASONS, reason)])
        entry.arrived = True
        sections[entry.section].append(entry)
    return content.ProfileBlock(None, i18n.gettext("Arrived at your request"),
                                [content.DigestSection(key, sections[key]) for key in SECTIONS if sections.get(key)],
                                kind="arrivals")


def _blocks(chosen, profiles: list[Profile], store: ItemStore, settings: Settings, style: str,
            language: str) -> list[content.ProfileBlock]:
    by_profile: dict[int, dict[str, list[content.DigestItem]]] = defaultdict(lambda: defaultdict(list))
    for item_id, profile, score, explanation in chosen:
        entry = _entry(store, settings, style, language, item_id, profile.id, score,
                       store.reasons(profile, explanation, language))
        by_profile[profile.id][entry.section].append(entry)
    return [content.ProfileBlock(p.id, p.name, [content.DigestSection(key, by_profile[p.id][key])
                                                for key in SECTIONS if by_profile[p.id].get(key)])
            for p in profiles if p.id in by_profile]


def _unsubscribe_headers(settings: Settings, unsubscribe_url: str) -> dict[str, str]:
    """RFC 2369 / RFC 8058: one-click unsubscribe over HTTPS only. No ``mailto:`` alternative: nothing
    reads the library's sending mailbox for unsubscribe requests, and an unsubscribe that is never
    acted on is worse than none (mail providers require the one-click form anyway)."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": f"<digests.{address_domain(settings.mail.sender)}>",
    }


async def _compose(session: AsyncSession, settings: Settings, pairs: Sequence[tuple[Subscription, Contact]],
                   now: datetime, store: ItemStore, liaisons: Liaisons,
                   taken: dict[int, set[int]]) -> list[tuple[Subscription, Contact, content.RenderedDigest, list]]:
    """The digests of a chunk of recipients, not rendered yet; ``taken`` grows with what they list."""
    candidates = Candidates()
    await candidates.load(session, pairs, now)
    await store.load(session, candidates.item_ids)
    style = style_name(settings.digests.citation_style)
    group_names = {}
    if group_ids := {s.group_id for s, _ in pairs if s.group_id is not None}:
        group_names = dict((await session.execute(select(Group.id, Group.name).where(Group.id.in_(group_ids)))).all())
    out = []
    for subscription, contact in pairs:
        profiles = candidates.owner_profiles(subscription)
        seen = taken.setdefault(contact.id, set())
        excluded = seen | candidates.sent.get(contact.id, set())
        arrivals = arrived(subscription, contact, candidates, store, excluded)
        chosen = choose(subscription, profiles, candidates, store, excluded | {item_id for item_id, _r in arrivals})
        if not chosen and not arrivals:
            continue
        try:
            to = format_address(contact.full_name, contact.email.strip())
        except (ValueError, IndexError):
            log.warning("contact %s has an unusable address %r: no digest", contact.id, contact.email)
            continue
        language = subscription.language if subscription.language in LANGUAGES else "vi"
        assignment = liaisons.find(subscription, contact)
        with i18n.language(language):
            blocks = _blocks(chosen, profiles, store, settings, style, language)
            if arrivals:
                blocks.insert(0, _arrivals_block(arrivals, store, settings, style, language))
        librarian = assignment.librarian if assignment is not None else None
        digest = content.RenderedDigest(
            subscription_id=subscription.id, contact_id=contact.id, language=language, blocks=blocks,
            sender=settings.mail.sender, to=to,
            reply_to=format_address(librarian.full_name, librarian.email) if librarian else settings.mail.sender,
            liaison_id=librarian.id if librarian else None)
        seen.update(item_id for item_id, *_rest in chosen)
        seen.update(item_id for item_id, _reason in arrivals)
        out.append((subscription, contact, digest, [group_names.get(subscription.group_id), assignment]))
    return out


def _finish(settings: Settings, store: ItemStore, contact: Contact, digest: content.RenderedDigest, extra: list,
            period: str | None) -> None:
    group_name, assignment = extra
    unsubscribe = links.unsubscribe_url(settings, digest.subscription_id, contact.id)
    content.render(digest, contact, assignment, group_name=group_name,
                   preferences_url=links.preferences_url(settings, digest.subscription_id, contact.id),
                   unsubscribe_url=unsubscribe,
                   export_urls=export_urls(settings, digest.subscription_id, contact.id, period) if period else None,
                   fragments=store.fragments)
    digest.headers = _unsubscribe_headers(settings, unsubscribe)
    digest.ris = store.ris(digest.entries)


async def preview_digest(session: AsyncSession, settings: Settings, subscription: Subscription,
                         contact: Contact, *, now: datetime | None = None) -> content.RenderedDigest | None:
    """The recipient's next digest as it would be sent now (export links left out); nothing is written."""
    now = now or datetime.now(UTC)
    liaisons = await Liaisons.load(session, local_today(now, settings.digests.timezone))
    store = ItemStore()
    composed = await _compose(session, settings, [(subscription, contact)], now, store, liaisons, {})
    if not composed:
        return None
    _subscription, contact, digest, extra = composed[0]
    _finish(settings, store, contact, digest, extra, None)
    return digest


def _timeline_notes(digest: content.RenderedDigest, digest_id: int, period: str, address: str) -> str:
    titles = [f"- {e.item.title}" for e in digest.entries[:TIMELINE_TITLES]]
    if digest.item_count > TIMELINE_TITLES:
        titles.append(f"- … (+{digest.item_count - TIMELINE_TITLES})")
    head = i18n.gettext("Digest sent to %(address)s (%(period)s):", address=address, period=period)
    return "\n".join([head, *titles, "", i18n.gettext("The digest as sent: %(link)s", link=f"/digests/{digest_id}")])


@dataclass
class Prepared:
    """A digest composed and rendered, its outbox row built: all that is left is to write it."""

    subscription_id: int
    contact_id: int
    address: str
    period: str
    digest: content.RenderedDigest
    outbox_row: dict
    #: Set by :func:`store_digests` once written.
    digest_id: int | None = None


async def prepare_digests(session: AsyncSession, settings: Settings,
                          recipients: Sequence[tuple[Subscription, Contact]], period: str, *,
                          now: datetime | None = None, taken: dict[int, set[int]] | None = None,
                          liaisons: Liaisons | None = None, store: ItemStore | None = None) -> list[Prepared]:
    """Compose and render the digests of (subscription, contact) pairs for one period; reads only.

    This is nearly all the work (selection, citations, templates, CSS inlining, MIME), so a
    dispatcher runs it outside its write transaction: on SQLite the one write lock is then held
    only while :func:`store_digests` writes, and senders and librarians' forms are not kept waiting.
    Pairs already given a digest for the period, members who left a group's digest and recipients
    with nothing new are left out. ``taken`` (contact → items) carries what earlier calls of the
    same run listed, so a person's two digests never list the same item.
    """
    now = now or datetime.now(UTC)
    liaisons = liaisons or await Liaisons.load(session, local_today(now, settings.digests.timezone))
    store = store or ItemStore()
    taken = {} if taken is None else taken
    pairs = await _not_done(session, recipients, period)
    prepared = []
    for chunk in chunks(pairs, RECIPIENT_CHUNK):
        for subscription, contact, digest, extra in await _compose(session, settings, chunk, now, store, liaisons,
                                                                   taken):
            _finish(settings, store, contact, digest, extra, period)
            email = Email(
                key=digest_key(subscription.id, contact.id, period), kind="digest", sender=settings.mail.sender,
                to=digest.to, subject=digest.subject, text=digest.text, html=digest.html, reply_to=digest.reply_to,
                headers=digest.headers,
                attachments=[Attachment(f"digest-{period}.ris", digest.ris.encode("utf-8"), RIS_MEDIA_TYPE)])
            prepared.append(Prepared(subscription.id, contact.id, contact.email, period, digest,
                                     outbox_row(email, now)))
            digest.text = digest.html = digest.ris = ""  # in the outbox row now; keeps a large run small
    return prepared


def digest_key(subscription_id: int, contact_id: int, period: str) -> str:
    """The outbox idempotency key of a digest: one email per recipient, subscription and period."""
    return f"digest:{contact_id}:{subscription_id}:{period}"


async def store_digests(session: AsyncSession, settings: Settings, prepared: Sequence[Prepared], *,
                        sent_by_id: int | None = None, now: datetime | None = None) -> list[Prepared]:
    """Write prepared digests in the caller's transaction: digest rows, outbox rows, entries and
    timeline entries, a handful of statements for all of them. Digests queued meanwhile (by
    another dispatcher, or "send now") are skipped, so nothing is ever queued twice. Returns
    those written, their ``digest_id`` set."""
    now = now or datetime.now(UTC)
    today = local_today(now, settings.digests.timezone)
    done = set()
    for period in {p.period for p in prepared}:
        done.update((s, c, period) for s, c in await _queued_for(
            session, period, [p.contact_id for p in prepared if p.period == period]))
    todo = [p for p in prepared if (p.subscription_id, p.contact_id, p.period) not in done]
    if not todo:
        return []
    # The emails first, so each digest row is written once, with its outbox id.
    outbox_ids = await enqueue_rows(session, [p.outbox_row for p in todo])
    digest_ids = await db.insert_ids(session, Digest.__table__, [
        {"subscription_id": p.subscription_id, "contact_id": p.contact_id, "period": p.period,
         "language": p.digest.language, "subject": p.digest.subject[:998], "item_count": p.digest.item_count,
         "sent_by_id": sent_by_id, "outbox_id": outbox_ids[p.outbox_row["idempotency_key"]]} for p in todo])
    entries, interactions, owners = [], [], []
    for digest_id, p in zip(digest_ids, todo):
        entries.extend((digest_id, p.contact_id, entry.item.id, entry.profile_id, entry.section, position)
                       for position, entry in enumerate(p.digest.entries))
        with i18n.language(settings.default_language):
            interactions.append({
                "occurred_on": today, "kind": "email", "librarian_id": p.digest.liaison_id,
                "notes": _timeline_notes(p.digest, digest_id, p.period, p.address),
                "subject": i18n.ngettext("New in the library for you: %(num)s item",
                                         "New in the library for you: %(num)s items", p.digest.item_count)[:255]})
        owners.append(p.contact_id)
    await db.insert_plain_rows(session, DigestEntry.__table__,
                               ("digest_id", "contact_id", "item_id", "profile_id", "section", "position"), entries,
                               now)
    interaction_ids = await db.insert_ids(session, Interaction.__table__, interactions)
    await session.execute(interaction_contact.insert(), [
        {"interaction_id": interaction_id, "contact_id": contact_id}
        for interaction_id, contact_id in zip(interaction_ids, owners)])
    for digest_id, p in zip(digest_ids, todo):
        p.digest_id = digest_id
    return todo


async def queue_digests(session: AsyncSession, settings: Settings, recipients: Sequence[tuple[Subscription, Contact]],
                        period: str, *, sent_by_id: int | None = None, now: datetime | None = None) -> list[Digest]:
    """Compose and queue the digests of many (subscription, contact) pairs for one period, in the
    caller's transaction (:func:`prepare_digests` then :func:`store_digests`, chunk by chunk).

    Pairs already given a digest for this period, and members who left a group's digest, are
    skipped; so are recipients with nothing new. Returns the digests queued.
    """
    now = now or datetime.now(UTC)
    liaisons = await Liaisons.load(session, local_today(now, settings.digests.timezone))
    store, taken, queued = ItemStore(), {}, []
    for chunk in chunks(list(recipients), RECIPIENT_CHUNK):
        prepared = await prepare_digests(session, settings, chunk, period, now=now, taken=taken, liaisons=liaisons,
                                         store=store)
        queued.extend(p.digest_id for p in await store_digests(session, settings, prepared, sent_by_id=sent_by_id,
                                                               now=now))
    rows = {}
    for ids in chunks(queued, 1000):
        rows.update({d.id: d for d in await session.scalars(select(Digest).where(Digest.id.in_(ids)))})
    return [rows[digest_id] for digest_id in queued]


async def _queued_for(session: AsyncSession, period: str, contact_ids: Sequence[int]) -> set[tuple[int, int]]:
    """(subscription, contact) of the digests these contacts already have for the period."""
    found: set[tuple[int, int]] = set()
    for ids in chunks(list(contact_ids), 1000):
        found.update((await session.execute(select(Digest.subscription_id, Digest.contact_id).where(
            Digest.period == period, Digest.contact_id.in_(ids)))).tuples().all())
    return found


async def _not_done(session: AsyncSession, pairs: Sequence[tuple[Subscription, Contact]],
                    period: str) -> list[tuple[Subscription, Contact]]:
    """The pairs without a digest for the period yet, leaving out members who left a group's digest."""
    contact_ids = [c.id for _, c in pairs]
    done = await _queued_for(session, period, contact_ids)
    group_subscriptions = [s.id for s, _ in pairs if s.group_id is not None]
    left = set()
    if group_subscriptions:
        left = set((await session.execute(select(OptOut.subscription_id, OptOut.contact_id).where(
            OptOut.subscription_id.in_(group_subscriptions), OptOut.contact_id.in_(contact_ids)))).all())
    out, seen = [], set()
    for subscription, contact in pairs:
        key = (subscription.id, contact.id)
        if key in done or key in left or key in seen or not (contact.email or "").strip():
            continue
        seen.add(key)
        out.append((subscription, contact))
    return out


async def queue_digest(session: AsyncSession, settings: Settings, subscription: Subscription, contact: Contact,
                       period: str, *, sent_by_id: int | None = None, now: datetime | None = None) -> Digest | None:
    """Compose and queue one recipient's digest for a period; None when there is nothing new or it
    was already queued for that period."""
    queued = await queue_digests(session, settings, [(subscription, contact)], period, sent_by_id=sent_by_id, now=now)
    return queued[0] if queued else None
