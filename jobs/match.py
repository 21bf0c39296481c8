"""Match the items that arrived since the last run against every active interest profile, and
back-fill the profiles created or edited since over the last ``CRM_MATCH_BACKFILL_DAYS`` days.

The profile index stays in memory between runs (crm.matching.services.index_cache): the first
run of a process builds it, later runs apply only the profiles that changed.
"""

import gc
import logging

from crm.matching.services import index_cache, match_new_items
from jobs import JobContext

log = logging.getLogger("crm.jobs.match")

#: Once an index this large is first built, move it out of the cyclic collector's full passes
#: (``gc.freeze()``, see crm/matching/index.py): it lives as long as the process.
FREEZE_FROM_PROFILES = 1_000


async def run(context: JobContext) -> int:
    """One matching pass; returns how many matches were stored."""
    cache = index_cache(context.session_maker)
    first = not cache.loaded
    result = await match_new_items(context.session_maker, backfill_days=context.settings.match_backfill_days)
    if first and len(cache.index) >= FREEZE_FROM_PROFILES:
        gc.freeze()
    changed = len(result.index.added) + len(result.index.updated) + len(result.index.removed)
    if result.items or result.backfilled or result.withdrawn or (changed and not first):
        log.info("matched %s new item(s) against %s profile(s): %s new match(es) (%s back-filled), %s refreshed, "
                 "%s withdrawn; index: %s added, %s updated, %s removed", result.items, result.profiles,
                 result.matches, result.backfilled, result.refreshed, result.withdrawn, len(result.index.added),
                 len(result.index.updated), len(result.index.removed))
    return result.matches
