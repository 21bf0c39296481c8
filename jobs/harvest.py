"""Harvest the due sources: every enabled source whose ``next_due_at`` has come (see crm.sources.harvest)."""

import logging

from crm.sources.harvest import run_due
from jobs import JobContext

log = logging.getLogger("crm.jobs.harvest")


async def run(context: JobContext) -> int:
    """Run every due source one after another; returns how many runs were made."""
    runs = await run_due(context.session_maker, context.settings)
    for run in runs:
        level = logging.WARNING if run.status == "failed" else logging.INFO
        log.log(level, "source %s (%s): %s, read %s, new %s, updated %s, rejected %s%s", run.source_id,
                run.source.name if run.source else "?", run.status, run.read, run.new, run.updated, run.rejected,
                f" — {run.message}" if run.message else "")
    return len(runs)
