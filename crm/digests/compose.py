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
from datetime import UTC, datetime
from email.utils import parseaddr

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm import i18n
from crm.digests import content, links
from crm.digests.citations import format_citation, style_name
from crm.digests.export import RIS_MEDIA_TYPE
from crm.digests.models import SECTIONS, Digest, DigestEntry, OptOut, Subscription
from crm.digests.schedule import local_today
from crm.digests.selection import STALE_AFTER, Candidates, ItemStore, Liaisons, Profile, chunks, choose, section_of
from crm.liaison.models import Contact, Group, Interaction, interaction_contact
from crm.mail.outbox import Attachment, address_domain, enqueue, format_address
from crm.security.tokens import make_token
from crm.settings import LANGUAGES, Settings

log = logging.getLogger("crm.digests")

__all__ = ["STALE_AFTER", "ItemStore", "preview_digest", "queue_digest", "queue_digests", "section_of"]

#: Recipients composed per round of queries.
RECIPIENT_CHUNK = 500
EXPORT_PURPOSE = "digest-export"
#: Titles listed in the timeline entry of a digest (the digest page lists them all).
TIMELINE_TITLES = 50


def export_token(settings: Settings, digest_id: int, contact_id: int) -> str:
    return make_token(settings, EXPORT_PURPOSE, {"d": int(digest_id), "c": int(contact_id)})


def export_urls(settings: Settings, digest_id: int, contact_id: int) -> dict[str, str]:
    token = export_token(settings, digest_id, contact_id)
    base = f"{settings.base_url}/digests/{digest_id}/export"
    return {"ris": f"{base}.ris?token={token}", "bib": f"{base}.bib?token={token}"}


def _blocks(chosen, profiles: list[Profile], store: ItemStore, settings: Settings, style: str,
            language: str) -> list[content.ProfileBlock]:
    by_profile: dict[int, dict[str, list[content.DigestItem]]] = defaultdict(lambda: defaultdict(list))
    for item_id, profile, score, explanation in chosen:
        item, kinds = store.items[item_id], store.kinds.get(item_id, frozenset())
        section, link = store.placed(item_id, settings)
        by_profile[profile.id][section].append(content.DigestItem(
            item=item, profile_id=profile.id, section=section, score=score,
            citation=format_citation(item, style, language, section, link.url if link and link.kind == "url" else None),
            link=link, reasons=store.reasons(profile, item_id, explanation, language), source_kinds=kinds))
    return [content.ProfileBlock(p.id, p.name, [content.DigestSection(key, by_profile[p.id][key])
                                                for key in SECTIONS if by_profile[p.id].get(key)])
            for p in profiles if p.id in by_profile]


def _unsubscribe_headers(settings: Settings, unsubscribe_url: str) -> dict[str, str]:
    """RFC 2369 / RFC 8058: one-click unsubscribe, and a mailto for clients without HTTP."""
    mailbox = parseaddr(settings.mail.sender)[1] or f"unsubscribe@{address_domain(settings.mail.sender)}"
    return {
        "List-Unsubscribe": f"<{unsubscribe_url}>, <mailto:{mailbox}?subject=unsubscribe>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": f"<digests.{address_domain(settings.mail.sender)}>",
    }


async def _compose(session: AsyncSession, settings: Settings, pairs: Sequence[tuple[Subscription, Contact]],
                   now: datetime, store: ItemStore, liaisons: Liaisons,
                   taken: dict[int, set[int]]) -> list[tuple[Subscription, Contact, content.RenderedDigest, list]]:
    """The digests of a chunk of recipients, not rendered yet; ``taken`` grows with what they list."""
    candidates = Candidates()
    await candidates.load(session, pairs, now)
    wanted_items = {item_id for matches in candidates.matches.values() for item_id, _s, _e in matches}
    await store.load(session, wanted_items)
    style = style_name(settings.digests.citation_style)
    group_names = {}
    if group_ids := {s.group_id for s, _ in pairs if s.group_id is not None}:
        group_names = dict((await session.execute(select(Group.id, Group.name).where(Group.id.in_(group_ids)))).all())
    out = []
    for subscription, contact in pairs:
        profiles = candidates.owner_profiles(subscription)
        seen = taken.setdefault(contact.id, set())
        chosen = choose(subscription, profiles, candidates, store, seen | candidates.sent.get(contact.id, set()))
        if not chosen:
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
        librarian = assignment.librarian if assignment is not None else None
        digest = content.RenderedDigest(
            subscription_id=subscription.id, contact_id=contact.id, language=language, blocks=blocks,
            sender=settings.mail.sender, to=to,
            reply_to=format_address(librarian.full_name, librarian.email) if librarian else settings.mail.sender,
            liaison_id=librarian.id if librarian else None)
        seen.update(item_id for item_id, *_rest in chosen)
        out.append((subscription, contact, digest, [group_names.get(subscription.group_id), assignment]))
    return out


def _finish(settings: Settings, store: ItemStore, contact: Contact, digest: content.RenderedDigest, extra: list,
            digest_id: int | None) -> None:
    group_name, assignment = extra
    unsubscribe = links.unsubscribe_url(settings, digest.subscription_id, contact.id)
    content.render(digest, contact, assignment, group_name=group_name,
                   preferences_url=links.preferences_url(settings, digest.subscription_id, contact.id),
                   unsubscribe_url=unsubscribe,
                   export_urls=export_urls(settings, digest_id, contact.id) if digest_id is not None else None)
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


async def _insert_digests(session: AsyncSession, composed: list, period: str, sent_by_id: int | None) -> list[int]:
    """The digest rows in one statement; their ids come back keyed by (subscription, contact),
    which is unique per period, so no database has to keep RETURNING in insertion order."""
    values = [{"subscription_id": subscription.id, "contact_id": contact.id, "period": period,
               "language": digest.language, "subject": "", "item_count": digest.item_count, "sent_by_id": sent_by_id}
              for subscription, contact, digest, _extra in composed]
    table = Digest.__table__
    returned = await session.execute(insert(table).returning(table.c.id, table.c.subscription_id, table.c.contact_id),
                                     values)
    ids = {(subscription_id, contact_id): digest_id for digest_id, subscription_id, contact_id in returned.all()}
    return [ids[(subscription.id, contact.id)] for subscription, contact, _digest, _extra in composed]


async def _queue_emails(session: AsyncSession, settings: Settings, store: ItemStore, period: str, today,
                        digest_ids: list[int], composed: list) -> None:
    """Render and queue each digest's email, then write the digests' subjects, entries and
    timeline entries with one statement each (``enqueue`` flushes, so nothing else is pending
    while it runs)."""
    updates, entries, interactions, owners = [], [], [], {}
    for digest_id, (subscription, contact, digest, extra) in zip(digest_ids, composed):
        _finish(settings, store, contact, digest, extra, digest_id)
        message = await enqueue(
            session, key=f"digest:{contact.id}:{subscription.id}:{period}", kind="digest",
            sender=settings.mail.sender, to=digest.to, subject=digest.subject, text=digest.text, html=digest.html,
            reply_to=digest.reply_to, headers=digest.headers,
            attachments=[Attachment(f"digest-{period}.ris", digest.ris.encode("utf-8"), RIS_MEDIA_TYPE)])
        updates.append({"digest_id": digest_id, "subject": digest.subject[:998], "outbox_id": message.id})
        entries.extend({"digest_id": digest_id, "contact_id": contact.id, "item_id": entry.item.id,
                        "profile_id": entry.profile_id, "section": entry.section, "position": position}
                       for position, entry in enumerate(digest.entries))
        with i18n.language(settings.default_language):
            notes = _timeline_notes(digest, digest_id, period, contact.email)
            interactions.append({
                "occurred_on": today, "kind": "email", "librarian_id": digest.liaison_id, "notes": notes,
                "subject": i18n.ngettext("New in the library for you: %(num)s item",
                                         "New in the library for you: %(num)s items", digest.item_count)[:255]})
        owners[notes] = contact.id  # the notes name the digest, so they tell the rows apart
    table = Digest.__table__
    await session.execute(update(table).where(table.c.id == bindparam("digest_id"))
                          .values(subject=bindparam("subject"), outbox_id=bindparam("outbox_id")), updates)
    await session.execute(insert(DigestEntry.__table__), entries)
    logged = Interaction.__table__
    returned = await session.execute(insert(logged).returning(logged.c.id, logged.c.notes), interactions)
    await session.execute(interaction_contact.insert(), [
        {"interaction_id": interaction_id, "contact_id": owners[notes]} for interaction_id, notes in returned.all()])


async def queue_digests(session: AsyncSession, settings: Settings, recipients: Sequence[tuple[Subscription, Contact]],
                        period: str, *, sent_by_id: int | None = None, now: datetime | None = None) -> list[Digest]:
    """Compose and queue the digests of many (subscription, contact) pairs for one period.

    Pairs already given a digest for this period, and members who left a group's digest, are
    skipped; so are recipients with nothing new. Returns the digests queued.
    """
    now = now or datetime.now(UTC)
    today = local_today(now, settings.digests.timezone)
    liaisons = await Liaisons.load(session, today)
    store, taken, queued = ItemStore(), {}, []
    for chunk in chunks(list(recipients), RECIPIENT_CHUNK):
        pairs = await _not_done(session, chunk, period)
        composed = await _compose(session, settings, pairs, now, store, liaisons, taken)
        if not composed:
            continue
        digest_ids = await _insert_digests(session, composed, period, sent_by_id)
        await _queue_emails(session, settings, store, period, today, digest_ids, composed)
        rows = {d.id: d for d in await session.scalars(select(Digest).where(Digest.id.in_(digest_ids)))}
        queued.extend(rows[digest_id] for digest_id in digest_ids)
    return queued


async def _not_done(session: AsyncSession, pairs: Sequence[tuple[Subscription, Contact]],
                    period: str) -> list[tuple[Subscription, Contact]]:
    """The pairs without a digest for the period yet, leaving out members who left a group's digest."""
    contact_ids = [c.id for _, c in pairs]
    done = set((await session.execute(select(Digest.subscription_id, Digest.contact_id).where(
        Digest.period == period, Digest.contact_id.in_(contact_ids)))).all())
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
