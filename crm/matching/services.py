"""Matching new items against every active interest profile, storing each match once, and keeping
the stored matches true to the profiles as librarians edit them.

**The index lives as long as the process.** ``IndexCache`` holds one ``ProfileIndex`` per
database (``index_cache``) with the ``updated_at`` of each profile version it indexed. A run
reads ``(id, updated_at, is_active)`` of every profile (one cheap scan) and adds, updates or
removes only what changed; a fresh process (``crm match``, a restarted worker) builds it once.

**Checkpoint.** The newest item id a run has fully matched (``MatchRun.last_item_id``) is
advanced in the same transaction as each batch's matches: a crash resumes after the last
committed batch, and a match is never stored twice (``uq_item_match``).

**Back-fill.** A profile created or edited since the start of the last finished run (less
``EDIT_GRACE``, for an edit committed while that run was reading) meets the items earlier runs
already matched (``id <= checkpoint``) that were first seen in the last ``backfill_days`` days
(``CRM_MATCH_BACKFILL_DAYS``, default 90). Items newer than the checkpoint meet it in the run's
normal pass.

**Withdrawal.** During an edited profile's back-fill each of its stored matches, inside the
window or older, is checked against the new version of the query:

* still met: its score and explanation are refreshed;
* no longer met: the match is deleted, unless a librarian dismissed it (the dismissal is kept,
  so the match is never created again) or it already went out in a digest (a ``digest_entry``
  row with that profile and item: what was sent is history).

Deactivating a profile withdraws nothing: it only stops matching. Deleting one deletes its
matches (foreign key cascade).

One run at a time per process (a lock in the cache); the scheduler runs the job on one process
only (see jobs/scheduler.py).
"""

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from weakref import WeakKeyDictionary

from sqlalchemy import BigInteger, column, delete, func, or_, select, table, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.interests.models import InterestProfile
from crm.interests.query import QueryError
from crm.interests.services import profile_query
from crm.matching.analysis import analyze_item
from crm.matching.index import ProfileIndex
from crm.matching.models import Match, MatchRun
from crm.matching.review import (  # noqa: F401  (the domain's services, re-exported)
    StoredMatch, StoredMatches, dismiss_match, matches_for_contact, matches_for_group, matches_for_profile,
    restore_match,
)
from crm.sources.models import Item, ItemSource, Source

log = logging.getLogger("crm.matching")

#: Items matched per transaction.
MATCH_BATCH = 500
#: A new or edited profile is matched against the items first seen in these last days (see Settings).
BACKFILL_DAYS = 90
#: Profiles edited this long before the previous run started are back-filled again, in case the
#: edit was committed after that run had read the profiles (back-filling twice changes nothing).
EDIT_GRACE = timedelta(minutes=5)
#: Profiles loaded per query when only some changed; past twice this, every active profile is read.
PROFILE_CHUNK = 500

#: The item columns matching reads (no ORM objects: a row is all ``analyze_item`` needs).
ITEM_COLUMNS = (Item.id, Item.title, Item.subtitle, Item.subjects, Item.abstract, Item.authors, Item.ddc,
                Item.lcc, Item.ddc_key, Item.lcc_key, Item.language, Item.material_type, Item.year,
                Item.first_seen_at)
#: Matches are inserted in bulk through the table (Core: no ORM bookkeeping per row).
MATCH_TABLE = Match.__table__
#: What went out in digests (crm/digests/models.py DigestEntry), read as a plain table: digests
#: build on matching, not the other way round.
DIGEST_ENTRY = table("digest_entry", column("item_id", BigInteger), column("profile_id", BigInteger))
PROFILE_COLUMNS = (InterestProfile.id, InterestProfile.updated_at, InterestProfile.name, InterestProfile.topics,
                   InterestProfile.keywords, InterestProfile.subject_headings, InterestProfile.class_ranges,
                   InterestProfile.languages, InterestProfile.query, InterestProfile.exact)


# --- the index kept across runs -------------------------------------------------------------


@dataclass
class IndexChanges:
    """What one refresh did to the index (profile ids)."""

    added: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    #: Active profiles whose query does not compile (logged) or looks for nothing: not indexed.
    skipped: list[int] = field(default_factory=list)


class IndexCache:
    """A ``ProfileIndex`` and the version (``updated_at``) of every profile it reflects."""

    def __init__(self, index: ProfileIndex | None = None) -> None:
        self.index = index if index is not None else ProfileIndex()
        #: profile id → updated_at of the version last read (indexed or skipped).
        self.versions: dict[int, datetime] = {}
        self.loaded = False
        self._locks: WeakKeyDictionary = WeakKeyDictionary()

    def lock(self) -> asyncio.Lock:
        """One match run at a time on this index (per event loop: tests and the CLI run several)."""
        loop = asyncio.get_running_loop()
        found = self._locks.get(loop)
        if found is None:
            found = self._locks[loop] = asyncio.Lock()
        return found

    async def refresh(self, session: AsyncSession) -> IndexChanges:
        """Bring the index up to date with the active profiles, touching only those that changed."""
        changes = IndexChanges()
        current = {pid: updated for pid, updated in await session.execute(
            select(InterestProfile.id, InterestProfile.updated_at).where(InterestProfile.is_active))}
        for pid in [pid for pid in self.versions if pid not in current]:
            self._forget(pid, changes)
        stale = [pid for pid, updated in current.items() if self.versions.get(pid) != updated]
        seen = set()
        for profile in await _load_profiles(session, stale, everything=len(stale) > 2 * PROFILE_CHUNK):
            seen.add(profile.id)
            self._apply(profile, changes)
        for pid in stale:
            if pid not in seen:  # deleted or deactivated since the first read
                self._forget(pid, changes)
        self.loaded = True
        return changes

    def _forget(self, pid: int, changes: IndexChanges) -> None:
        self.versions.pop(pid, None)
        if self.index.remove(pid):
            changes.removed.append(pid)

    def _apply(self, profile, changes: IndexChanges) -> None:
        known = profile.id in self.index
        self.versions[profile.id] = profile.updated_at
        query = profile_query(profile)
        if not query:  # nothing to look for (yet)
            if self.index.remove(profile.id):
                changes.removed.append(profile.id)
            changes.skipped.append(profile.id)
            return
        try:
            if known:
                self.index.update(profile.id, query, bool(profile.exact))
                changes.updated.append(profile.id)
            else:
                self.index.add(profile.id, query, bool(profile.exact))
                changes.added.append(profile.id)
        except QueryError as exc:
            # ``add`` compiles before it replaces: drop the old version, the profile no longer says that.
            if self.index.remove(profile.id):
                changes.removed.append(profile.id)
            changes.skipped.append(profile.id)
            log.warning("profile %s not matched: %s (at %s)", profile.id, exc.message, exc.position)


async def _load_profiles(session: AsyncSession, ids: list[int], everything: bool) -> list:
    if not ids:
        return []
    active = select(*PROFILE_COLUMNS).where(InterestProfile.is_active)
    if everything:
        wanted = set(ids)
        return [row for row in await session.execute(active) if row.id in wanted]
    rows = []
    for start in range(0, len(ids), PROFILE_CHUNK):
        rows += list(await session.execute(active.where(InterestProfile.id.in_(ids[start:start + PROFILE_CHUNK]))))
    return rows


_caches: dict[str, IndexCache] = {}


def index_cache(session_maker: async_sessionmaker) -> IndexCache:
    """The process's index for the database behind ``session_maker`` (built on first use)."""
    bind = session_maker.kw.get("bind")
    key = bind.url.render_as_string(hide_password=True) if bind is not None else ""
    return _caches.setdefault(key, IndexCache())


async def build_index(session: AsyncSession) -> ProfileIndex:
    """A fresh percolator over every active profile (previews, tests); runs use ``index_cache``."""
    cache = IndexCache()
    await cache.refresh(session)
    return cache.index


# --- runs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchReport:
    """One run: ``matches`` counts every new match, the back-filled ones included."""

    run_id: int
    items: int
    matches: int
    profiles: int
    backfilled: int = 0
    refreshed: int = 0
    withdrawn: int = 0
    index: IndexChanges = field(default_factory=IndexChanges)


@dataclass
class _Backfill:
    profiles: int = 0
    added: int = 0
    refreshed: int = 0
    withdrawn: int = 0


def _explanation(found) -> list[dict]:
    return [{"clause": hit.clause, "kind": hit.kind, "fields": list(hit.fields), "weight": hit.weight}
            for hit in found.hits]


async def _sources(session: AsyncSession, item_ids: list[int]) -> dict[int, list[tuple[int, str]]]:
    """Each item's (source id, source name) pairs, for ``source:`` clauses: one query per batch."""
    found: dict[int, list[tuple[int, str]]] = {}
    for item_id, source_id, name in await session.execute(
            select(ItemSource.item_id, Source.id, Source.name).join(Source, Source.id == ItemSource.source_id)
            .where(ItemSource.item_id.in_(item_ids))):
        found.setdefault(item_id, []).append((source_id, name))
    return found


async def _store(session: AsyncSession, index: ProfileIndex, items: list) -> int:
    """Store the batch's matches that are not stored yet; returns how many were new."""
    ids = [item.id for item in items]
    sources = await _sources(session, ids)
    stored = set((await session.execute(
        select(Match.item_id, Match.profile_id).where(Match.item_id.in_(ids)))).all())
    now = datetime.now(UTC)
    new = [
        {"item_id": item.id, "profile_id": profile_id, "score": found.score,
         "explanation": _explanation(found), "matched_at": now, "dismissed": False}
        for item in items
        for profile_id, found in index.match(analyze_item(item, sources.get(item.id, ())))
        if (item.id, profile_id) not in stored
    ]
    if new:
        await session.execute(MATCH_TABLE.insert(), new)
    return len(new)


async def _edited_since(session: AsyncSession, checkpoint: int) -> datetime | None:
    """Profiles updated at or after this are back-filled; None on a first run (it matches everything)."""
    if not checkpoint:
        return None
    since = await session.scalar(select(func.max(MatchRun.started_at)).where(MatchRun.finished_at.is_not(None)))
    if since is None:  # every earlier run stopped midway: back-fill whatever changed since the first
        since = await session.scalar(select(func.min(MatchRun.started_at)))
    return since - EDIT_GRACE if since is not None else None


async def _backfill(session_maker: async_sessionmaker, index: ProfileIndex, checkpoint: int, edited_since: datetime,
                    backfill_days: int, batch_size: int) -> _Backfill:
    """New or edited profiles meet the items already matched: new matches in the window, and
    their stored matches refreshed or withdrawn (the rule is in the module docstring)."""
    result = _Backfill()
    edited = select(InterestProfile.id).where(InterestProfile.is_active, InterestProfile.updated_at >= edited_since)
    async with session_maker() as session:
        changed = {pid for pid in await session.scalars(edited) if pid in index}
    if not changed:
        return result
    result.profiles = len(changed)
    recent = ProfileIndex()
    for profile_id in changed:
        recent.add(profile_id, index.query(profile_id))
    window_start = datetime.now(UTC) - timedelta(days=max(backfill_days, 0))
    # The changed profiles in SQL: their ids when few, else the query that found them (a superset).
    of_changed = Match.profile_id.in_(sorted(changed) if len(changed) <= PROFILE_CHUNK else edited.scalar_subquery())
    in_scope = or_(Item.first_seen_at >= window_start, Item.id.in_(select(Match.item_id).where(of_changed)))
    last = 0
    while True:
        async with session_maker() as session, session.begin():
            items = list(await session.execute(
                select(*ITEM_COLUMNS).where(Item.id > last, Item.id <= checkpoint, in_scope)
                .order_by(Item.id).limit(batch_size)))
            if not items:
                return result
            await _backfill_batch(session, recent, changed, of_changed, items, window_start, result)
            last = items[-1].id


async def _backfill_batch(session: AsyncSession, recent: ProfileIndex, changed: set[int], of_changed, items: list,
                          window_start: datetime, result: _Backfill) -> None:
    ids = [item.id for item in items]
    sources = await _sources(session, ids)
    stored: dict[int, dict[int, tuple]] = {}
    for match_id, item_id, profile_id, dismissed, score, explanation in await session.execute(
            select(Match.id, Match.item_id, Match.profile_id, Match.dismissed, Match.score, Match.explanation)
            .where(Match.item_id.in_(ids), of_changed)):
        if profile_id in changed:
            stored.setdefault(item_id, {})[profile_id] = (match_id, dismissed, score, explanation)
    sent = set((await session.execute(
        select(DIGEST_ENTRY.c.item_id, DIGEST_ENTRY.c.profile_id).where(DIGEST_ENTRY.c.item_id.in_(ids)))).all())
    now = datetime.now(UTC)
    new, refreshed, withdrawn = [], [], []
    for item in items:
        had = stored.get(item.id, {})
        met = set()
        for profile_id, found in recent.match(analyze_item(item, sources.get(item.id, ()))):
            met.add(profile_id)
            explanation = _explanation(found)
            if profile_id in had:
                match_id, _dismissed, score, old = had[profile_id]
                if score != found.score or old != explanation:
                    refreshed.append({"id": match_id, "score": found.score, "explanation": explanation})
            elif item.first_seen_at >= window_start:
                new.append({"item_id": item.id, "profile_id": profile_id, "score": found.score,
                            "explanation": explanation, "matched_at": now, "dismissed": False})
        withdrawn += [match_id for profile_id, (match_id, dismissed, _s, _e) in had.items()
                      if profile_id not in met and not dismissed and (item.id, profile_id) not in sent]
    if new:
        await session.execute(MATCH_TABLE.insert(), new)
    if refreshed:
        await session.execute(update(Match), refreshed)
    if withdrawn:
        await session.execute(delete(Match).where(Match.id.in_(withdrawn)))
    result.added += len(new)
    result.refreshed += len(refreshed)
    result.withdrawn += len(withdrawn)


async def match_new_items(session_maker: async_sessionmaker, *, backfill_days: int = BACKFILL_DAYS,
                          batch_size: int = MATCH_BATCH, cache: IndexCache | None = None) -> MatchReport:
    """Match the items that arrived since the last run, and back-fill new or edited profiles."""
    cache = cache if cache is not None else index_cache(session_maker)
    async with cache.lock():
        async with session_maker() as session, session.begin():
            checkpoint = await session.scalar(select(func.max(MatchRun.last_item_id))) or 0
            edited_since = await _edited_since(session, checkpoint)
            run = MatchRun(started_at=datetime.now(UTC), last_item_id=checkpoint)
            changes = await cache.refresh(session)
            index = cache.index
            run.profiles = len(index)
            session.add(run)
            await session.flush()
            run_id = run.id
        backfill = _Backfill()
        if edited_since is not None and len(index):
            backfill = await _backfill(session_maker, index, checkpoint, edited_since, backfill_days, batch_size)
        last, items_done, stored = checkpoint, 0, 0
        while True:
            async with session_maker() as session, session.begin():
                items = list(await session.execute(
                    select(*ITEM_COLUMNS).where(Item.id > last).order_by(Item.id).limit(batch_size)))
                run = await session.get(MatchRun, run_id)
                if not items:
                    run.finished_at = datetime.now(UTC)
                    run.matches += backfill.added
                    break
                added = await _store(session, index, items) if len(index) else 0
                stored += added
                run.matches += added
                last = items[-1].id
                run.last_item_id = last
                run.items += len(items)
                items_done += len(items)
    if backfill.profiles:
        log.info("back-filled %s profile(s) over %s days: %s new, %s refreshed, %s withdrawn match(es)",
                 backfill.profiles, backfill_days, backfill.added, backfill.refreshed, backfill.withdrawn)
    return MatchReport(run_id=run_id, items=items_done, matches=stored + backfill.added, profiles=len(index),
                       backfilled=backfill.added, refreshed=backfill.refreshed, withdrawn=backfill.withdrawn,
                       index=changes)
