"""Read bounces and replies from the IMAP mailbox of the return path (production only).

Without CRM_IMAP_HOST this does nothing: in embedded mode the local mail sink receives them.
"""

import logging

from crm.mail.imap import fetch_inbound
from jobs import JobContext

log = logging.getLogger("crm.jobs.inbound")


async def run(context: JobContext) -> int:
    """One pass over the unseen messages; returns how many were stored."""
    if not context.settings.mail.imap_host:
        return 0
    report = await fetch_inbound(context.session_maker, context.settings)
    if report.read:
        log.info("inbound mail: %s", report)
    return report.read - report.errors
