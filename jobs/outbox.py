"""Send the outbox: every due message, over the configured number of reused SMTP sessions."""

import logging

from crm.mail.sender import send_queued
from jobs import JobContext

log = logging.getLogger("crm.jobs.outbox")


async def run(context: JobContext) -> int:
    """One sending pass (what is due lives in the outbox table); returns how many were sent."""
    report = await send_queued(context.session_maker, context.settings, worker_id="scheduler")
    if report.stopped:
        log.warning("sending stopped early: %s (the rest waits for the next run)", report.stopped)
    return report.sent
