"""Dispatch the digests that are due, then attach replies to digests to the contacts' timelines."""

import logging

from crm.digests.dispatch import dispatch_due_digests
from crm.digests.replies import consume_digest_replies
from jobs import JobContext

log = logging.getLogger("crm.jobs.digests")


async def run(context: JobContext) -> int:
    """One pass; returns how many digests were queued."""
    report = await dispatch_due_digests(context.session_maker, context.settings)
    if report.subscriptions:
        log.info("digests: %s subscription(s) due, %s digest(s) queued, %s with nothing new, %s failed",
                 report.subscriptions, report.digests, report.empty, report.failed)
    replies = await consume_digest_replies(context.session_maker, context.settings)
    if replies.consumed:
        log.info("digest replies: %s attached to contacts' timelines", replies.interactions)
    return report.digests
