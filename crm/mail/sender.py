"""Sending the outbox: claim due rows, hand them to SMTP over reused sessions, record each result.

What is due lives in the ``outbox`` table, so any number of senders (the scheduler's job, ``crm
send``) can run at once and a restart neither loses nor repeats work:

* A sender *claims* a few due rows at a time: rows ``queued`` whose ``next_attempt_at`` has come,
  and rows ``sending`` whose lease (``claimed_until``) ran out because their sender died. On
  PostgreSQL the claim is ``SELECT … FOR UPDATE SKIP LOCKED`` inside the UPDATE that marks the rows
  ``sending``, so two senders never take the same row; on SQLite the same single UPDATE runs
  under the database's one writer lock.
* Each message is sent with the VERP envelope sender of its row (crm.mail.verp), so a bounce
  names the row it is about.
* Each result is committed as soon as the server has answered, before that session sends its
  next message (results that arrive together share one commit). A ``kill -9`` therefore loses
  at most the messages in flight, one per session: a message whose DATA was not yet accepted is
  claimed again when its lease runs out and sent then; the only duplicate risk is a message the
  server accepted (250) in the moment before our commit. Its Message-ID is the same on the
  resend (derived from the idempotency key), so receivers can tell it is the same message.
* Temporary failures (connection trouble, 4xx) are retried with exponential backoff, at most
  MAX_SEND_ATTEMPTS times in all; a 5xx reply fails the row with the server's text. When no SMTP
  session can be opened at all, that session stops and puts back what it had claimed, instead
  of burning an attempt of every queued message against a server that is down.
* Rows whose recipient is undeliverable (too many hard bounces, crm.mail.bounces) are not sent:
  they are marked ``failed`` with ``last_error`` "Address undeliverable since …" and counted as
  skipped.
"""

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, bindparam, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.errors import Conflict
from crm.i18n import _
from crm.mail import bounces
from crm.mail.models import MailAddress, OutboxMessage, outbox_body
from crm.mail.transport import MailTransport, PermanentFailure, SmtpTransport, TemporaryFailure
from crm.mail.verp import verp_address
from crm.settings import Settings

log = logging.getLogger("crm.mail.sender")

#: Attempts in all (the first one included) before a message fails for good.
MAX_SEND_ATTEMPTS = 8
#: Delay before the first retry; it doubles with each attempt, up to MAX_RETRY_DELAY
#: (60 s, 2, 4, 8, 16, 32, 64 min: the 8th attempt comes about 2 hours after the first).
BASE_RETRY = timedelta(seconds=60)
MAX_RETRY_DELAY = timedelta(hours=2)
#: How long a claimed row stays reserved for its sender; past it, another sender takes it over.
CLAIM_LEASE = timedelta(minutes=5)
#: Rows one SMTP session claims at a time: few, so a crash strands little and work spreads evenly.
CLAIM_BATCH = 10

_outbox = OutboxMessage.__table__


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt."""
    return min(BASE_RETRY * (2 ** max(attempts - 1, 0)), MAX_RETRY_DELAY)


@dataclass
class SendReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    worker_id: str = ""
    seconds: float = 0.0
    #: Set when sending stopped early: why (e.g. the SMTP server cannot be reached).
    stopped: str | None = None

    @property
    def total(self) -> int:
        return self.sent + self.retried + self.failed + self.skipped

    def __str__(self) -> str:
        text = (f"sent {self.sent}, retried later {self.retried}, failed {self.failed}, "
                f"skipped (undeliverable) {self.skipped} in {self.seconds:.1f}s")
        return f"{text}; stopped: {self.stopped}" if self.stopped else text


@dataclass
class _Claimed:
    id: int
    recipient: str
    raw: bytes | None
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    undeliverable: str | None = None


@dataclass
class _Outcome:
    id: int
    status: str  # queued | sent | failed
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None = None
    #: (address, reason) when the server refused the recipient for good: a bounce at send time.
    bounce: tuple[str, str] | None = None
    committed: bool = False
    kind: str = ""  # sent | retried | failed | skipped | released (for the report)


def _now() -> datetime:
    return datetime.now(UTC)


async def claim(session: AsyncSession, size: int, lease: timedelta = CLAIM_LEASE) -> list[_Claimed]:
    """Mark up to ``size`` due rows ``sending`` under a lease (and up to ``size`` rows whose
    sender's lease ran out) and return them (caller commits)."""
    now = _now()
    # Two index range scans, each already in order, instead of one OR that sorted every due row
    # for each claim (ix_outbox_due is (status, next_attempt_at), and the row id follows).
    queued = (select(_outbox.c.id).where(_outbox.c.status == "queued", _outbox.c.next_attempt_at <= now)
              .order_by(_outbox.c.next_attempt_at, _outbox.c.id).limit(size))
    stale = (select(_outbox.c.id).where(_outbox.c.status == "sending", _outbox.c.claimed_until < now)
             .order_by(_outbox.c.id).limit(size))
    if session.get_bind().dialect.name == "postgresql":
        queued, stale = queued.with_for_update(skip_locked=True), stale.with_for_update(skip_locked=True)
    # One statement, so the claim writes first and never works from a stale read.
    picked = union_all(select(queued.subquery().c.id), select(stale.subquery().c.id))
    statement = (
        update(_outbox)
        .where(_outbox.c.id.in_(picked))
        .values(status="sending", claimed_until=now + lease, updated_at=now)
        .returning(_outbox.c.id, _outbox.c.recipient, _outbox.c.attempts, _outbox.c.next_attempt_at,
                   _outbox.c.last_error)
    )
    claimed = (await session.execute(statement)).all()
    raws = dict((await session.execute(select(outbox_body.c.outbox_id, outbox_body.c.raw)
                                       .where(outbox_body.c.outbox_id.in_([row.id for row in claimed])))).all()
                ) if claimed else {}
    rows = [_Claimed(row.id, row.recipient, raws.get(row.id), row.attempts, row.next_attempt_at, row.last_error)
            for row in claimed]
    rows.sort(key=lambda r: (r.next_attempt_at, r.id))
    recipients = {r.recipient for r in rows if r.recipient}
    if recipients:
        blocked = await session.execute(
            select(MailAddress.address, MailAddress.undeliverable_since)
            .where(MailAddress.address.in_(recipients), MailAddress.undeliverable_since.is_not(None))
        )
        since = {address: when for address, when in blocked}
        for row in rows:
            if row.recipient in since:
                row.undeliverable = f"Address undeliverable since {since[row.recipient]:%Y-%m-%d %H:%M} UTC (hard bounces)"
    return rows


async def _apply(session: AsyncSession, outcomes: list[_Outcome], bounce_threshold: int) -> None:
    now = _now()
    statement = (
        update(_outbox)
        .where(_outbox.c.id == bindparam("row_id"), _outbox.c.status == "sending")
        .values(status=bindparam("new_status"), attempts=bindparam("new_attempts"),
                next_attempt_at=bindparam("new_next"), last_error=bindparam("new_error"),
                sent_at=bindparam("new_sent_at"), claimed_until=None, updated_at=now)
    )
    params = [{"row_id": o.id, "new_status": o.status, "new_attempts": o.attempts, "new_next": o.next_attempt_at,
               "new_error": o.last_error, "new_sent_at": o.sent_at} for o in outcomes]
    connection = await session.connection()
    await connection.execute(statement, params)
    for outcome in outcomes:
        if outcome.bounce is not None:
            address, reason = outcome.bounce
            await bounces.note_bounce(session, address, hard=True, reason=reason, threshold=bounce_threshold,
                                      outbox_id=outcome.id)


class _Run:
    """One call of send_queued: SMTP sessions as workers sharing a group commit."""

    def __init__(self, session_maker: async_sessionmaker, settings: Settings, transport: MailTransport,
                 limit: int | None, lease: timedelta, stop: asyncio.Event | None, report: SendReport) -> None:
        self.session_maker = session_maker
        self.settings = settings
        self.transport = transport
        self.remaining = limit
        self.lease = lease
        self.stop = stop or asyncio.Event()
        self.report = report
        # SQLite has one writer: claims and commits of this process take turns instead of
        # waiting on each other's locks; on PostgreSQL it merely batches commits.
        self.db_lock = asyncio.Lock()
        self.pending: list[_Outcome] = []

    async def claim(self) -> list[_Claimed]:
        if self.remaining is not None and self.remaining <= 0:
            return []
        size = CLAIM_BATCH if self.remaining is None else min(CLAIM_BATCH, self.remaining)
        if self.remaining is not None:
            self.remaining -= size  # reserved before waiting, so concurrent sessions stay within the limit
        async with self.db_lock:
            async with self.session_maker() as session, session.begin():
                rows = await claim(session, size, self.lease)
        if self.remaining is not None:
            self.remaining += size - len(rows)
        return rows

    async def commit(self, outcome: _Outcome) -> None:
        """Group commit: whoever holds the lock commits every result waiting, its own included."""
        self.pending.append(outcome)
        async with self.db_lock:
            if outcome.committed:
                return
            batch, self.pending = self.pending, []
            try:
                async with self.session_maker() as session, session.begin():
                    await _apply(session, batch, self.settings.mail.bounce_threshold)
            except BaseException:
                self.pending = batch + self.pending
                raise
            for done in batch:
                done.committed = True
                if done.kind != "released":
                    setattr(self.report, done.kind, getattr(self.report, done.kind) + 1)

    def outcome_for(self, row: _Claimed, error: Exception | None) -> _Outcome:
        now = _now()
        if error is None:
            return _Outcome(row.id, "sent", row.attempts + 1, row.next_attempt_at, None, sent_at=now, kind="sent")
        attempts = row.attempts + 1
        if isinstance(error, PermanentFailure):
            bounce = (row.recipient, error.message) if error.stage == "rcpt" else None
            return _Outcome(row.id, "failed", attempts, row.next_attempt_at, error.message, bounce=bounce, kind="failed")
        message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
        if attempts >= MAX_SEND_ATTEMPTS:
            return _Outcome(row.id, "failed", attempts, row.next_attempt_at,
                            f"Gave up after {attempts} attempts. Last error: {message}", kind="failed")
        return _Outcome(row.id, "queued", attempts, now + retry_delay(attempts), message, kind="retried")

    async def release(self, rows: list[_Claimed]) -> None:
        """Give back claimed rows that were not attempted (unchanged, due as before), in one commit."""
        outcomes = [_Outcome(row.id, "queued", row.attempts, row.next_attempt_at, row.last_error, kind="released")
                    for row in rows]
        if outcomes:
            self.pending.extend(outcomes[:-1])
            await self.commit(outcomes[-1])

    async def worker(self, number: int) -> None:
        while not self.stop.is_set():
            rows = await self.claim()
            if not rows:
                return
            for index, row in enumerate(rows):
                if self.stop.is_set():
                    await self.release(rows[index:])
                    return
                if row.undeliverable:
                    await self.commit(_Outcome(row.id, "failed", row.attempts, row.next_attempt_at, row.undeliverable,
                                               kind="skipped"))
                    continue
                error: Exception | None = None
                if not row.recipient:
                    error = PermanentFailure("The message has no recipient address", stage="local")
                elif not row.raw:
                    error = PermanentFailure("The message itself is missing from the outbox", stage="local")
                else:
                    try:
                        await self.transport.send(verp_address(self.settings, row.id), [row.recipient], row.raw)
                    except (TemporaryFailure, PermanentFailure) as exc:
                        error = exc
                    except Exception as exc:  # a bug or an unexpected library error: retry later, loudly
                        log.exception("sending outbox message %s failed unexpectedly", row.id)
                        error = exc
                await self.commit(self.outcome_for(row, error))
                if isinstance(error, TemporaryFailure) and error.server_unavailable:
                    log.warning("SMTP session %s stops: %s", number, error.message)
                    self.report.stopped = error.message
                    await self.release(rows[index + 1:])
                    return


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def send_queued(session_maker: async_sessionmaker, settings: Settings, *, transport: MailTransport | None = None,
                      limit: int | None = None, worker_id: str | None = None, lease: timedelta = CLAIM_LEASE,
                      stop: asyncio.Event | None = None) -> SendReport:
    """Send every due outbox row (at most ``limit``) over ``settings.mail.connections`` sessions.

    ``transport``: a transport owned by the caller (kept open); by default an SmtpTransport for
    this run, closed at the end. ``stop``: set it to finish the messages in flight and give
    back the rest (graceful shutdown).
    """
    report = SendReport(worker_id=worker_id or default_worker_id())
    started = time.monotonic()
    own = transport is None
    transport = transport or SmtpTransport(settings.mail)
    run = _Run(session_maker, settings, transport, limit, lease, stop, report)
    workers = [asyncio.create_task(run.worker(n), name=f"outbox-sender-{n}")
               for n in range(max(1, settings.mail.connections))]
    try:
        results = await asyncio.gather(*workers, return_exceptions=True)
    finally:
        for task in workers:
            task.cancel()
        if own:
            await transport.close()
    report.seconds = time.monotonic() - started
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise errors[0]
    if report.total:
        log.info("outbox (%s): %s", report.worker_id, report)
    return report


# --- librarians' actions ---------------------------------------------------------------


async def retry_message(session: AsyncSession, message_id: int) -> OutboxMessage | None:
    """Queue a failed or cancelled message again (or a waiting one now); None when it does not exist."""
    row = await session.get(OutboxMessage, message_id, with_for_update=True)
    if row is None:
        return None
    if row.status == "sent":
        raise Conflict({"status": _("This message was already sent; it is not sent twice.")})
    if row.status == "sending":
        raise Conflict({"status": _("This message is being sent right now.")})
    status = await bounces.address_status(session, row.recipient)
    if status is not None and status.undeliverable_since is not None:
        raise Conflict({"recipient": _("The address %(address)s is marked undeliverable after repeated hard bounces. "
                                       "Allow it again first if it has been fixed.", address=row.recipient)})
    if row.status in ("failed", "cancelled"):
        row.attempts = 0
    row.status = "queued"
    row.next_attempt_at = _now()
    row.claimed_until = None
    await session.flush()
    return row


async def cancel_message(session: AsyncSession, message_id: int) -> OutboxMessage | None:
    """Stop a queued message from being sent; None when it does not exist."""
    row = await session.get(OutboxMessage, message_id, with_for_update=True)
    if row is None:
        return None
    if row.status != "queued":
        raise Conflict({"status": _("Only a message waiting to be sent can be cancelled.")})
    row.status = "cancelled"
    row.claimed_until = None
    await session.flush()
    return row
