"""Match the items that arrived since the last run against every active interest profile."""

import logging

from crm.matching.services import match_new_items
from jobs import JobContext

log = logging.getLogger("crm.jobs.match")


async def run(context: JobContext) -> int:
    """One matching pass; returns how many matches were stored."""
    result = await match_new_items(context.session_maker)
    if result.items:
        log.info("matched %s new items against %s profiles: %s matches", result.items, result.profiles, result.matches)
    return result.matches
