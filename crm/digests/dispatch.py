"""Dispatch due digests: every subscription whose ``next_due_at`` has passed, in batches.

Restart-safe by construction: a subscription's digests are queued and its ``next_due_at``
moved on in the same transaction, so a crash before the commit leaves it due and the next run
does it again, and composing is idempotent per (subscription, contact, period), so nothing is
queued twice. A batch that fails is retried one subscription per transaction, so one broken
subscription is set aside (and retried later) without holding back the others.

A worker that was down does not send a burst of catch-up digests: the next slot is counted from
now, and the one digest sent covers everything new since the last.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm.digests.models import Subscription
from crm.digests.schedule import next_due, period_for
from crm.digests.services import SubscriptionService
from crm.settings import Settings

log = logging.getLogger("crm.digests")

#: Subscriptions dispatched per transaction (a failing batch is retried one subscription at a time).
BATCH_SIZE = 100
#: A subscription that failed is tried again this much later (not every minute).
RETRY_AFTER = timedelta(minutes=15)
#: Errors kept in a report (the log has them all).
MAX_REPORTED_ERRORS = 20


@dataclass
class DispatchReport:
    subscriptions: int = 0
    recipients: int = 0
    #: Digests queued (one email each).
    digests: int = 0
    #: Recipients with nothing new this period: nothing is sent.
    empty: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        self.failed += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(message)


async def _due_ids(session_maker: async_sessionmaker, now: datetime, after_id: int) -> list[int]:
    async with session_maker() as session:
        query = (select(Subscription.id)
                 .where(Subscription.next_due_at.is_not(None), Subscription.next_due_at <= now,
                        Subscription.frequency != "paused", Subscription.id > after_id)
                 .order_by(Subscription.id).limit(BATCH_SIZE))
        return list(await session.scalars(query))


async def dispatch_batch(session_maker: async_sessionmaker, settings: Settings, subscription_ids: list[int],
                         now: datetime, report: DispatchReport) -> None:
    """Queue the digests of these subscriptions and move each to its next slot, in one transaction.

    Recipients of the same period are composed together (compose shares its queries, items and
    citations between them), which is what makes a weekly run of thousands of digests fast.
    """
    from crm.digests import compose  # written alongside; imported when used

    timezone = settings.digests.timezone
    async with session_maker() as session, session.begin():
        # Another dispatcher (the CLI next to the worker) may hold some: skip those, they are being done.
        rows = await session.scalars(
            select(Subscription).where(Subscription.id.in_(subscription_ids)).order_by(Subscription.id)
            .with_for_update(skip_locked=True, of=Subscription))
        due = [s for s in rows.unique()
               if s.next_due_at is not None and s.next_due_at <= now and s.frequency != "paused"]
        if not due:
            return
        service = SubscriptionService(session, timezone)
        by_period: dict[str, list] = {}
        plans, recipients = [], 0
        for subscription in due:
            period = period_for(subscription, subscription.next_due_at, timezone)
            members = await service.recipients(subscription)
            by_period.setdefault(period, []).extend((subscription, contact) for contact in members)
            plans.append((subscription, next_due(subscription, max(subscription.next_due_at, now), timezone)))
            recipients += len(members)
        queued, sent_to = 0, set()
        for period, pairs in by_period.items():
            digests = await compose.queue_digests(session, settings, pairs, period, now=now)
            queued += len(digests)
            sent_to.update(d.subscription_id for d in digests)
        for subscription, following in plans:
            if subscription.id in sent_to:
                subscription.last_sent_at = now
            subscription.next_due_at = following
    # Counted once committed.
    report.subscriptions += len(due)
    report.recipients += recipients
    report.digests += queued
    report.empty += recipients - queued


async def _postpone(session_maker: async_sessionmaker, subscription_id: int, now: datetime) -> None:
    try:
        async with session_maker() as session, session.begin():
            subscription = await session.get(Subscription, subscription_id)
            if subscription is not None and subscription.next_due_at is not None and subscription.next_due_at <= now:
                subscription.next_due_at = now + RETRY_AFTER
    except Exception:
        log.exception("could not postpone subscription %s after a failure", subscription_id)


async def dispatch_due_digests(session_maker: async_sessionmaker, settings: Settings,
                               now: datetime | None = None) -> DispatchReport:
    """Queue the digests of every due subscription; returns what was done."""
    now = now or datetime.now(UTC)
    report = DispatchReport()
    last_id = 0
    while True:
        ids = await _due_ids(session_maker, now, last_id)
        if not ids:
            break
        last_id = max(ids)
        try:
            await dispatch_batch(session_maker, settings, ids, now, report)
            continue
        except Exception:
            log.warning("a batch of %s due subscriptions failed; dispatching them one by one", len(ids), exc_info=True)
        for subscription_id in ids:  # find the culprit; the others still go out
            try:
                await dispatch_batch(session_maker, settings, [subscription_id], now, report)
            except Exception as exc:
                log.exception("dispatching subscription %s failed; trying again in %s", subscription_id, RETRY_AFTER)
                report.error(f"subscription {subscription_id}: {exc}")
                await _postpone(session_maker, subscription_id, now)
    return report
