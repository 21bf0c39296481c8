"""Arrivals: a newly ingested item fills an open reading-list gap or suggestion, and the people who
wanted it are told once through the outbox (and their next digest marks it).

``resolve_arrivals`` keeps a checkpoint, the newest item id it has fully looked at
(``ArrivalRun.last_item_id``), advanced in the same transaction as each batch's changes and
emails: a crash resumes after the last committed batch. Each person and event is one
``Arrival`` row (unique key) and each email has an idempotency key, so nobody hears twice.
Only items first seen *after* a gap was recorded count as arrivals: a book already on the shelf
when the reading list was entered has not "arrived".
"""

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.acquisitions.models import OPEN_SUGGESTION_STATUSES, Arrival, ArrivalRun, Citation, Suggestion
from crm.acquisitions.services import notify
from crm.acquisitions.services.resolution import Candidate, Resolution, Wanted, match_new_item
from crm.acquisitions.services.suggestions import SuggestionService, wanted_of
from crm.liaison.models import Contact
from crm.settings import Settings
from crm.sources.models import Item, ItemSource

log = logging.getLogger("crm.acquisitions")

#: New items looked at per transaction.
ARRIVAL_BATCH = 500


class ArrivalNote(NamedTuple):
    """An item that arrived for a contact, and why they care: ``reading_list`` or ``suggestion``."""

    item_id: int
    reason: str


async def arrivals_for_contacts(session: AsyncSession, contact_ids: Iterable[int],
                                since: datetime) -> dict[int, list[ArrivalNote]]:
    """Items that arrived since ``since`` filling a gap of these contacts' courses or their
    suggestions, per contact, for the digest composer (one query per thousand contacts).

    Each item once per contact (the reading list wins over a suggestion), oldest first. Label a
    reason with ``crm.acquisitions.labels.ARRIVAL_REASONS``.
    """
    ids = sorted(set(contact_ids))
    notes: dict[int, dict[int, str]] = defaultdict(dict)
    for start in range(0, len(ids), 1000):
        rows = await session.execute(
            select(Arrival.contact_id, Arrival.item_id, Arrival.reason)
            .where(Arrival.contact_id.in_(ids[start:start + 1000]), Arrival.arrived_at >= since)
            .order_by(Arrival.arrived_at, Arrival.id))
        for contact_id, item_id, reason in rows.all():
            if notes[contact_id].get(item_id) != "reading_list":
                notes[contact_id][item_id] = reason
    return {contact_id: [ArrivalNote(item_id, reason) for item_id, reason in by_item.items()]
            for contact_id, by_item in notes.items()}


async def arrivals_for_contact(session: AsyncSession, contact_id: int, since: datetime) -> list[ArrivalNote]:
    """:func:`arrivals_for_contacts` for one contact."""
    return (await arrivals_for_contacts(session, [contact_id], since)).get(contact_id, [])


def _key(*parts: object) -> str:
    return ":".join(str(p) for p in parts)[:400]


async def _record(session: AsyncSession, rows: list[Arrival]) -> list[Arrival]:
    """Store the arrival rows not stored yet; returns the new ones."""
    if not rows:
        return []
    known = set(await session.scalars(select(Arrival.key).where(Arrival.key.in_([r.key for r in rows]))))
    new = [r for r in {r.key: r for r in rows}.values() if r.key not in known]
    session.add_all(new)
    await session.flush()
    return new


async def announce_citations(session: AsyncSession, settings: Settings, filled: list[tuple[Citation, Item]]) -> int:
    """Tell each lecturer of the courses, in one email, which titles of their reading lists arrived."""
    now = datetime.now(UTC)
    rows: list[Arrival] = []
    lecturers: dict[int, Contact] = {}
    for citation, item in filled:
        for lecturer in citation.course.lecturers:
            if not lecturer.email or not lecturer.is_active:
                continue
            lecturers[lecturer.id] = lecturer
            rows.append(Arrival(key=_key("reading_list", citation.id, item.id, lecturer.email_key),
                                item_id=item.id, reason="reading_list", citation_id=citation.id,
                                contact_id=lecturer.id, email=lecturer.email, arrived_at=now))
    new = await _record(session, rows)
    by_contact: dict[int, list[Arrival]] = defaultdict(list)
    for row in new:
        by_contact[row.contact_id].append(row)
    citations = {c.id: (c, i) for c, i in filled}
    for contact_id, arrivals in by_contact.items():
        lecturer = lecturers[contact_id]
        digest = hashlib.sha256("|".join(sorted(a.key for a in arrivals)).encode()).hexdigest()[:24]
        entries = [{"citation": citations[a.citation_id][0], "course": citations[a.citation_id][0].course,
                    "item": notify.item_view(settings, citations[a.citation_id][1])} for a in arrivals]
        await notify.send(session, settings, key=f"acq-arrival:{contact_id}:{digest}", template="acquisitions_arrival",
                          name=lecturer.full_name, email=lecturer.email, language=lecturer.language,
                          context={"contact": lecturer, "entries": entries,
                                   "greeting_name": f"{lecturer.academic_title} {lecturer.full_name}"
                                   if lecturer.academic_title else lecturer.full_name})
    return len(filled)


async def announce_suggestion(session: AsyncSession, settings: Settings, suggestion: Suggestion, item: Item) -> None:
    """The suggested title arrived: the suggestion is received (its email says so) and the arrival noted."""
    if suggestion.status != "received":
        await SuggestionService(session, settings).change_status(suggestion, "received", item_id=item.id)
    else:
        suggestion.item_id = item.id
    if not suggestion.suggester_email:
        return
    contact_id = suggestion.contact_id or await session.scalar(
        select(Contact.id).where(Contact.email_key == suggestion.suggester_email.lower()))
    await _record(session, [Arrival(key=_key("suggestion", suggestion.id, item.id, suggestion.suggester_email.lower()),
                                    item_id=item.id, reason="suggestion", suggestion_id=suggestion.id,
                                    contact_id=contact_id, email=suggestion.suggester_email,
                                    arrived_at=datetime.now(UTC))])


async def _open_gaps(session: AsyncSession) -> list[tuple[Wanted, Citation | Suggestion]]:
    gaps: list[tuple[Wanted, Citation | Suggestion]] = []
    for citation in await session.scalars(select(Citation).where(Citation.status.in_(("not_held", "uncertain")))):
        gaps.append((Wanted(title=citation.title, authors=list(citation.authors or []), year=citation.year,
                            isbn=citation.isbn, doi=citation.doi, exclude=tuple(citation.rejected_item_ids or [])),
                     citation))
    for suggestion in await session.scalars(select(Suggestion).where(
            Suggestion.status.in_(OPEN_SUGGESTION_STATUSES), Suggestion.item_id.is_(None))):
        gaps.append((wanted_of(suggestion.title, suggestion.authors, suggestion.isbn, suggestion.year), suggestion))
    return gaps


async def fill_gaps(session: AsyncSession, settings: Settings, items: list[Item],
                    gaps: list[tuple[Wanted, Citation | Suggestion]]) -> int:
    """Resolve the gaps these new items fill, and tell the people concerned; returns how many were filled."""
    filled_citations: list[tuple[Citation, Item]] = []
    filled = 0
    open_gaps = list(gaps)
    now = datetime.now(UTC)
    for item in items:
        eligible = [(w, t) for w, t in open_gaps if t.created_at < item.first_seen_at]
        if not eligible:
            continue
        candidate = Candidate(id=item.id, title=item.title, subtitle=item.subtitle, authors=list(item.authors or []),
                              year=item.year, isbns=list(item.isbns or []), doi=item.doi)
        for target, resolution in match_new_item(candidate, eligible):
            open_gaps = [(w, t) for w, t in open_gaps if t is not target]
            filled += 1
            if isinstance(target, Citation):
                _apply(target, resolution, now)
                target.arrived_at = now
                filled_citations.append((target, item))
            else:
                await announce_suggestion(session, settings, target, item)
    if filled_citations:
        await session.flush()
        await announce_citations(session, settings, filled_citations)
    return filled


def _apply(citation: Citation, resolution: Resolution, now: datetime) -> None:
    citation.status = resolution.status
    citation.item_id = resolution.item_id
    citation.confidence = resolution.confidence
    citation.method = resolution.method
    citation.resolved_at = now


async def resolve_arrivals(session_maker: async_sessionmaker, settings: Settings, *,
                           batch_size: int = ARRIVAL_BATCH) -> ArrivalRun:
    """Look at the items ingested since the last run; fill the gaps and suggestions they answer."""
    async with session_maker() as session, session.begin():
        checkpoint = await session.scalar(select(func.max(ArrivalRun.last_item_id))) or 0
        run = ArrivalRun(started_at=datetime.now(UTC), last_item_id=checkpoint)
        session.add(run)
        await session.flush()
        run_id = run.id
    last = checkpoint
    while True:
        async with session_maker() as session, session.begin():
            run = await session.get(ArrivalRun, run_id)
            held = select(ItemSource.id).where(ItemSource.item_id == Item.id, ItemSource.deleted.is_(False)).exists()
            items = list(await session.scalars(select(Item).where(Item.id > last, held).order_by(Item.id)
                                               .limit(batch_size)))
            if not items:
                run.finished_at = datetime.now(UTC)
                return run
            gaps = await _open_gaps(session)
            run.resolved += await fill_gaps(session, settings, items, gaps) if gaps else 0
            last = items[-1].id
            run.last_item_id = last
            run.items += len(items)
