"""Housekeeping: delete what has outlived its retention period (mail caught by the local sink)."""

import logging
from datetime import UTC, datetime

from crm.mail.services import MailboxService
from crm.mail.sink import SINK_RETENTION
from jobs import JobContext

log = logging.getLogger("crm.jobs.housekeeping")


async def run(context: JobContext) -> int:
    """Prune sink messages older than SINK_RETENTION; returns how many were deleted."""
    cutoff = datetime.now(UTC) - SINK_RETENTION
    async with context.session_maker() as session, session.begin():
        removed = await MailboxService(session).prune(cutoff)
    if removed:
        log.info("deleted %s mailbox message(s) received before %s", removed, cutoff.isoformat(timespec="seconds"))
    return removed
