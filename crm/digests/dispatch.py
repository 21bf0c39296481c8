"""Dispatch due digests: every subscription whose ``next_due_at`` has passed, in batches.

Restart-safe by construction: a subscription's ``next_due_at`` moves on only after all its
digests are written, so a crash before that leaves it due and the next run does it again; and
writing is idempotent per (subscription, contact, period), so nothing is queued twice. Composing
and rendering happen in read-only transactions, and each chunk of digests is written in a short
one, so the write lock is not held while templates render. A batch that fails is retried one
subscription per transaction, so one broken subscription is set aside (and retried later)
without holding back the others.

A worker that was down does not send a burst of catch-up digests: the next slot is counted from
now, and the one digest sent covers everything new since the last.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import joinedload, raiseload
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm import db
from crm.digests.models import Subscription
from crm.digests.schedule import local_today, next_due, period_for
from crm.digests.selection import ItemStore, Liaisons, chunks
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
                         now: datetime, report: DispatchReport, store: ItemStore | None = None) -> None:
    """Queue the digests of these subscriptions and move each to its next slot.

    Three steps, so that the database's write lock (SQLite has one) is held only while writing:
    read the due subscriptions and their recipients; for each chunk of recipients, compose and
    render in a read-only transaction (nearly all the work), then write the digests and their
    emails in a short one; finally move ``next_due_at`` on, in a transaction that locks the
    subscriptions (``FOR UPDATE SKIP LOCKED``: one another dispatcher holds is left to it).
    A crash between steps leaves the subscription due: the next run composes again, and
    everything already written for the period is skipped (digests are unique per subscription,
    recipient and period), so nobody gets a digest twice.
    """
    from crm.digests import compose  # written alongside; imported when used

    timezone = settings.digests.timezone
    with db.reading():
        async with session_maker() as session:
            # The contact, without their unit (and its parent) or a group: a digest needs neither.
            rows = await session.scalars(
                select(Subscription).where(Subscription.id.in_(subscription_ids)).order_by(Subscription.id)
                .options(joinedload(Subscription.contact).raiseload("*"), raiseload(Subscription.group)))
            due = [s for s in rows.unique()
                   if s.next_due_at is not None and s.next_due_at <= now and s.frequency != "paused"]
            if not due:
                return
            service = SubscriptionService(session, timezone)
            by_period: dict[str, list] = {}
            recipients = 0
            for subscription in due:
                members = await service.recipients(subscription)
                period = period_for(subscription, subscription.next_due_at, timezone)
                by_period.setdefault(period, []).extend((subscription, contact) for contact in members)
                recipients += len(members)
            liaisons = await Liaisons.load(session, local_today(now, timezone))
    # The run's items, citations and rendered entries are shared by its batches (``store``).
    store, taken, queued, sent_to = store or ItemStore(), {}, 0, set()
    for period, pairs in by_period.items():
        for chunk in chunks(pairs, compose.RECIPIENT_CHUNK):
            with db.reading():
                async with session_maker() as session:
                    prepared = await compose.prepare_digests(session, settings, chunk, period, now=now, taken=taken,
                                                             liaisons=liaisons, store=store)
            if not prepared:
                continue
            async with session_maker() as session, session.begin():
                digests = await compose.store_digests(session, settings, prepared, now=now)
            queued += len(digests)
            sent_to.update(p.subscription_id for p in digests)
    async with session_maker() as session, session.begin():
        # Another dispatcher (the CLI next to the worker) may hold some: skip those, it moves them on.
        table = Subscription.__table__
        locked = await session.execute(
            select(table.c.id, table.c.next_due_at, table.c.frequency, table.c.weekday, table.c.month_day,
                   table.c.hour, table.c.paused_until)
            .where(table.c.id.in_([s.id for s in due])).order_by(table.c.id).with_for_update(skip_locked=True))
        moved: dict[bool, list[dict]] = {True: [], False: []}
        for row in locked.all():
            if row.next_due_at is None or row.next_due_at > now:
                continue  # moved on meanwhile
            moved[row.id in sent_to].append(
                {"subscription_id": row.id, "next": next_due(row, max(row.next_due_at, now), timezone)})
        for sent, rows in moved.items():
            if rows:
                values = {"next_due_at": bindparam("next"), **({"last_sent_at": now} if sent else {})}
                await session.execute(update(table).where(table.c.id == bindparam("subscription_id")).values(values),
                                      rows)
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
    store = ItemStore()
    last_id = 0
    while True:
        ids = await _due_ids(session_maker, now, last_id)
        if not ids:
            break
        last_id = max(ids)
        try:
            await dispatch_batch(session_maker, settings, ids, now, report, store)
            continue
        except Exception:
            log.warning("a batch of %s due subscriptions failed; dispatching them one by one", len(ids), exc_info=True)
        for subscription_id in ids:  # find the culprit; the others still go out
            try:
                await dispatch_batch(session_maker, settings, [subscription_id], now, report, store)
            except Exception as exc:
                log.exception("dispatching subscription %s failed; trying again in %s", subscription_id, RETRY_AFTER)
                report.error(f"subscription {subscription_id}: {exc}")
                await _postpone(session_maker, subscription_id, now)
    return report
