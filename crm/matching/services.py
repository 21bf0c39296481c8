"""Matching new items against every active interest profile and storing each match once.

The checkpoint is the newest item id a run has fully matched (``MatchRun.last_item_id``),
advanced in the same transaction as each batch's matches: a crash resumes after the last
committed batch, and a match is never stored twice (``uq_item_match``).
"""

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.interests.models import InterestProfile
from crm.matching.analysis import analyze_item
from crm.interests.compile import compile_profile
from crm.matching.index import ProfileIndex
from crm.matching.models import Match, MatchRun
from crm.interests.query import QueryError
from crm.sources.models import Item

log = logging.getLogger("crm.matching")

#: Items matched per transaction.
MATCH_BATCH = 500
#: A new or edited profile is matched against the items first seen in these last days.
BACKFILL_DAYS = 90


async def build_index(session: AsyncSession) -> ProfileIndex:
    """The percolator over every active profile; a profile whose query does not compile is skipped (logged)."""
    index = ProfileIndex()
    for profile in await session.scalars(select(InterestProfile).where(InterestProfile.is_active)):
        query = compile_profile(profile.name, profile.topics, profile.keywords, profile.subject_headings,
                                profile.class_ranges, profile.languages)
        if not query:
            continue
        try:
            index.add(profile.id, query)
        except QueryError as exc:
            log.warning("profile %s not matched: %s (at %s)", profile.id, exc.message, exc.position)
    return index


def _explanation(match) -> list[dict]:
    return [{"clause": hit.clause, "kind": hit.kind, "fields": list(hit.fields), "weight": hit.weight}
            for hit in match.hits]


async def _store(session: AsyncSession, index: ProfileIndex, items: list[Item]) -> int:
    """Store the batch's matches that are not stored yet; returns how many were new."""
    ids = [item.id for item in items]
    stored = set((await session.execute(
        select(Match.item_id, Match.profile_id).where(Match.item_id.in_(ids)))).all())
    now = datetime.now(UTC)
    new = [
        Match(item_id=item.id, profile_id=profile_id, score=found.score,
              explanation=_explanation(found), matched_at=now)
        for item in items
        for profile_id, found in index.match(analyze_item(item))
        if (item.id, profile_id) not in stored
    ]
    session.add_all(new)
    return len(new)


async def _backfill(session_maker: async_sessionmaker, index: ProfileIndex, checkpoint: int,
                    previous_start: datetime | None, batch_size: int) -> int:
    """Profiles created or edited since the previous run meet the recent items it had already matched."""
    if previous_start is None or not checkpoint:
        return 0  # a first run matches every item anyway
    async with session_maker() as session:
        changed = [pid for pid in await session.scalars(
            select(InterestProfile.id).where(InterestProfile.is_active, InterestProfile.updated_at >= previous_start))
            if pid in index]
    if not changed:
        return 0
    recent = ProfileIndex()
    for profile_id in changed:
        recent.add(profile_id, index.query(profile_id))
    since = datetime.now(UTC) - timedelta(days=BACKFILL_DAYS)
    last, added = 0, 0
    while True:
        async with session_maker() as session, session.begin():
            items = list(await session.scalars(
                select(Item).where(Item.id > last, Item.id <= checkpoint, Item.first_seen_at >= since)
                .order_by(Item.id).limit(batch_size)))
            if not items:
                return added
            added += await _store(session, recent, items)
            last = items[-1].id


async def match_new_items(session_maker: async_sessionmaker, *, batch_size: int = MATCH_BATCH) -> MatchRun:
    """Match the items that arrived since the last run, and back-fill new or edited profiles.

    Returns this run with its counts (``matches`` includes back-filled ones).
    """
    async with session_maker() as session, session.begin():
        checkpoint = await session.scalar(select(func.max(MatchRun.last_item_id))) or 0
        previous_start = await session.scalar(select(func.max(MatchRun.started_at)))
        index = await build_index(session)
        run = MatchRun(started_at=datetime.now(UTC), last_item_id=checkpoint, profiles=len(index))
        session.add(run)
        await session.flush()
        run_id = run.id
    backfilled = await _backfill(session_maker, index, checkpoint, previous_start, batch_size)
    last = checkpoint
    while True:
        async with session_maker() as session, session.begin():
            items = list(await session.scalars(select(Item).where(Item.id > last).order_by(Item.id).limit(batch_size)))
            run = await session.get(MatchRun, run_id)
            if not items:
                run.finished_at = datetime.now(UTC)
                run.matches += backfilled
                return run
            run.matches += await _store(session, index, items)
            last = items[-1].id
            run.last_item_id = last
            run.items += len(items)


async def matches_for_profile(session: AsyncSession, profile_id: int, *, include_dismissed: bool = False,
                              limit: int = 200) -> list[tuple[Match, Item]]:
    """A profile's matches, best and newest first, with their items."""
    query = (select(Match, Item).join(Item, Item.id == Match.item_id).where(Match.profile_id == profile_id)
             .order_by(Match.matched_at.desc(), Match.score.desc()).limit(limit))
    if not include_dismissed:
        query = query.where(Match.dismissed.is_(False))
    return [(m, i) for m, i in (await session.execute(query)).all()]
