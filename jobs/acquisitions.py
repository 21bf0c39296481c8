"""Arrivals: items ingested since the last run that fill an open reading-list gap or suggestion
(the lecturers and suggesters are told once; see crm.acquisitions.services.arrivals)."""

import logging

from crm.acquisitions.services import resolve_arrivals
from jobs import JobContext

log = logging.getLogger("crm.jobs.acquisitions")


async def run(context: JobContext) -> int:
    """One pass; returns how many gaps and suggestions new items filled."""
    result = await resolve_arrivals(context.session_maker, context.settings)
    if result.resolved:
        log.info("%s new item(s) filled %s reading-list gap(s) or suggestion(s)", result.items, result.resolved)
    return result.resolved
