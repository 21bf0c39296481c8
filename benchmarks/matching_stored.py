"""Matching end to end through the database: ``match_new_items`` on a seeded database.

The workload is the in-memory benchmark's (benchmarks/matching.py: Zipf-distributed words,
Vietnamese compounds, subject headings, DDC/LCC numbers; profiles shaped like compiled CRM
profiles), stored: 10,000 interest profiles (written queries, 10 per contact) and 20,000 items
from one source, first seen today. Timed, each on the same data:

* **in memory**: ``analyze_item`` + ``ProfileIndex.match`` (scores and explanations) over the item
  dicts, no database: the ceiling;
* **index build**: the first ``IndexCache.refresh`` of a process (read 10,000 profiles, compile,
  index), then a refresh with nothing changed (the per-run cost of keeping the index);
* **stored, end to end**: ``match_new_items`` over the 20,000 new items: read the item rows and
  their sources in batches of 500, analyze, match, explain, insert the matches, advance the
  checkpoint, one transaction per batch;
* **edit and back-fill**: 10 profiles edited, then ``match_new_items`` with no new item: the index
  updates those 10 and back-fills them over the 20,000 items (90 days), withdrawing and
  refreshing stored matches.

    .venv/bin/python -m benchmarks --only matching_stored [--database-url postgresql+asyncpg://…]
    .venv/bin/python -m benchmarks.matching_stored --profiles 10000 --items 20000

The database is a SQLite file in a temporary directory by default; with ``--database-url`` the
PostgreSQL database is emptied (its ``public`` schema dropped) and migrated first.
"""

import argparse
import asyncio
import gc
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta

from benchmarks.matching import SEED, Workload

PROFILES = 10_000
ITEMS = 20_000
PROFILES_PER_CONTACT = 10
EDITED = 10


async def _seed(session_maker, queries: list[str], items: list[dict]) -> None:
    from sqlalchemy import insert

    from crm.callnumbers import ddc_key, lcc_key
    from crm.interests.models import InterestProfile
    from crm.liaison.models import Contact
    from crm.sources.models import Item, ItemSource, Source

    now = datetime.now(UTC)
    written = now - timedelta(days=30)  # profiles exist long before the items arrive
    async with session_maker() as session, session.begin():
        contacts = [{"full_name": f"Giảng viên {n}", "email": f"gv{n}@bench.edu.vn", "email_key": f"gv{n}@bench.edu.vn",
                     "search_key": f"giang vien {n}", "sort_key": f"{n:08d}"}
                    for n in range(-(-len(queries) // PROFILES_PER_CONTACT))]
        await session.execute(insert(Contact), contacts)
        await session.execute(insert(InterestProfile), [
            {"contact_id": n // PROFILES_PER_CONTACT + 1, "name": f"Hồ sơ {n}", "query": query, "search_key": f"ho so {n}",
             "created_at": written, "updated_at": written}
            for n, query in enumerate(queries)])
        source = Source(name="Sách mới (benchmark)", kind="marc", path="/tmp/benchmark.mrc")
        session.add(source)
        await session.flush()
        source_id = source.id
    for start in range(0, len(items), 2_000):
        chunk = items[start:start + 2_000]
        async with session_maker() as session, session.begin():
            await session.execute(insert(Item), [
                {**raw, "ddc_key": ddc_key(raw["ddc"]), "lcc_key": lcc_key(raw["lcc"]), "first_seen_at": now,
                 "last_updated_at": now, "search_key": ""} for raw in chunk])
            await session.execute(insert(ItemSource), [
                {"item_id": start + n + 1, "source_id": source_id, "record_key": f"bench-{start + n}",
                 "content_hash": "0" * 64, "seen_at": now} for n in range(len(chunk))])


def _in_memory(index, items: list[dict]) -> tuple[float, int]:
    from crm.matching.analysis import analyze_item

    started = time.perf_counter()
    matches = 0
    for raw in items:
        matches += len(index.match(analyze_item(raw, [(1, "Sách mới (benchmark)")])))
    return time.perf_counter() - started, matches


async def _run(profiles: int, item_count: int) -> None:
    from sqlalchemy import func, select, update

    from crm import db
    from crm.interests.models import InterestProfile
    from crm.matching.models import Match
    from crm.matching.services import IndexCache, match_new_items
    from crm.settings import load_settings

    workload, stream = Workload(), Workload(SEED + 1)
    queries = [workload.profile() for _ in range(profiles)]
    items = [stream.item() for _ in range(item_count)]
    engine = db.create_engine(load_settings())  # CRM_DATABASE_URL is set by main()
    session_maker = db.session_maker(engine)
    try:
        started = time.perf_counter()
        await _seed(session_maker, queries, items)
        print(f"seeded {profiles:,} profiles and {item_count:,} items in {time.perf_counter() - started:.1f} s", flush=True)

        cache = IndexCache()
        started = time.perf_counter()
        async with session_maker() as session:
            await cache.refresh(session)
        build = time.perf_counter() - started
        gc.freeze()  # as the match job does once the index is built
        started = time.perf_counter()
        async with session_maker() as session:
            unchanged = await cache.refresh(session)
        refresh = time.perf_counter() - started
        assert not (unchanged.added or unchanged.updated or unchanged.removed)
        print(f"index build (first refresh, {len(cache.index):,} profiles): {build:.2f} s; "
              f"refresh with nothing changed: {refresh * 1000:.0f} ms", flush=True)

        memory_time, memory_matches = _in_memory(cache.index, items)

        started = time.perf_counter()
        report = await match_new_items(session_maker, cache=cache)
        stored_time = time.perf_counter() - started
        async with session_maker() as session:
            stored = await session.scalar(select(func.count()).select_from(Match))
        assert report.items == item_count and stored == report.matches == memory_matches, (report, stored, memory_matches)

        print(f"{'path':<28} {'items':>7} {'matches':>8} {'seconds':>8} {'items/s':>8} {'matches/s':>9}")
        for label, seconds in (("in memory (analyze+match)", memory_time), ("stored, end to end", stored_time)):
            print(f"{label:<28} {item_count:>7,} {memory_matches:>8,} {seconds:>8.2f} {item_count / seconds:>8,.0f} "
                  f"{memory_matches / seconds:>9,.0f}", flush=True)

        async with session_maker() as session, session.begin():
            edited = list(await session.scalars(select(InterestProfile.id).order_by(InterestProfile.id).limit(EDITED)))
            for profile_id in edited:
                await session.execute(update(InterestProfile).where(InterestProfile.id == profile_id)
                                      .values(query=queries[profiles - 1 - profile_id]))
        started = time.perf_counter()
        report = await match_new_items(session_maker, cache=cache)
        seconds = time.perf_counter() - started
        print(f"edit of {EDITED} profiles, then a run: {seconds:.2f} s (index: {len(report.index.updated)} updated; "
              f"back-fill over {item_count:,} items: {report.backfilled} new, {report.refreshed} refreshed, "
              f"{report.withdrawn} withdrawn)", flush=True)
    finally:
        gc.unfreeze()
        await engine.dispose()


async def _reset_postgres(url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


def main(database_url: str | None = None, profiles: int = PROFILES, items: int = ITEMS) -> None:
    from crm import db
    from crm.settings import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{tmp}/matching.db"
        os.environ.update({"CRM_VAR_DIR": tmp, "CRM_SECRET_KEY": "benchmark-secret-key-0123456789abcdef",
                           "CRM_DATABASE_URL": url})
        if database_url:
            asyncio.run(_reset_postgres(url))
        db.migrate(load_settings())
        print(f"database: {'PostgreSQL' if database_url else 'SQLite (temporary file)'}", flush=True)
        asyncio.run(_run(profiles, items))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="a PostgreSQL URL (emptied first; default: a temporary SQLite file)")
    parser.add_argument("--profiles", type=int, default=PROFILES)
    parser.add_argument("--items", type=int, default=ITEMS)
    arguments = parser.parse_args()
    main(arguments.database_url, arguments.profiles, arguments.items)
