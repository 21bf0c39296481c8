"""The scheduler: APScheduler 3.11 in the app's event loop, or alone in ``crm worker``.

What is due lives in our tables, not in the scheduler, so jobs are plain periodic ticks kept in
memory. On PostgreSQL at most one process runs them: the one holding a session-level advisory
lock; the others wait and try again. SQLite means one process, so no lock.
"""

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from crm import db
from crm.settings import Settings
from jobs import JobContext, harvest, housekeeping, match
from jobs import acquisitions
from jobs import inbound, outbox
from jobs import digests
from jobs import questions

log = logging.getLogger("crm.jobs")

#: Key of the PostgreSQL advisory lock that elects the one active scheduler (a bigint).
SCHEDULER_LOCK_KEY = int.from_bytes(b"liaiscrm", "big")
#: How often a waiting process retries the lock, and how often the holder checks it still has it.
LOCK_RETRY_INTERVAL = timedelta(seconds=30)
#: How long a stopping scheduler lets running jobs finish before cancelling them.
STOP_GRACE = timedelta(seconds=30)


@dataclass(frozen=True)
class Job:
    id: str
    run: Callable[[JobContext], Awaitable[object]]
    every: timedelta
    #: Delay of the first run after start, so a restart does not stampede the database.
    first_after: timedelta = timedelta(minutes=1)


#: Every periodic job; adding one is an import and a line here.
JOBS: list[Job] = [
    Job("housekeeping", housekeeping.run, every=timedelta(hours=1)),
    Job("harvest", harvest.run, every=timedelta(minutes=5)),
    Job("match", match.run, every=timedelta(minutes=5)),
    Job("acquisitions", acquisitions.run, every=timedelta(minutes=5)),
    Job("outbox", outbox.run, every=timedelta(seconds=30), first_after=timedelta(seconds=10)),
    Job("inbound", inbound.run, every=timedelta(minutes=5)),
    Job("digests", digests.run, every=timedelta(minutes=1)),
    Job("questions", questions.run, every=timedelta(hours=1)),
]


class Scheduler(AsyncIOScheduler):
    """An AsyncIOScheduler that knows which of its jobs are running, so it can stop gracefully."""

    def __init__(self, context: JobContext, **options: object) -> None:
        super().__init__(**options)
        self.context = context
        self.running_jobs: set[asyncio.Task] = set()

    async def wait_for_running_jobs(self, timeout: float) -> None:
        pending = {task for task in self.running_jobs if not task.done()}
        if not pending:
            return
        log.info("waiting up to %ss for %s running job(s)", int(timeout), len(pending))
        _done, still_running = await asyncio.wait(pending, timeout=timeout)
        for task in still_running:
            task.cancel()
        if still_running:
            await asyncio.wait(still_running, timeout=5)


async def run_job(job: Job, scheduler: Scheduler) -> None:
    """Run one job; a failure is logged and the scheduler carries on."""
    task = asyncio.current_task()
    if task is not None:
        scheduler.running_jobs.add(task)
    started = time.monotonic()
    try:
        with db.writing():
            result = await job.run(scheduler.context)
    except asyncio.CancelledError:
        log.warning("job %s was cancelled at shutdown", job.id)
        raise
    except Exception:
        log.exception("job %s failed after %.1fs; it runs again at its next time", job.id, time.monotonic() - started)
    else:
        log.debug("job %s finished in %.2fs (%s)", job.id, time.monotonic() - started, result)
    finally:
        if task is not None:
            scheduler.running_jobs.discard(task)


def build_scheduler(settings: Settings, session_maker: async_sessionmaker, jobs: list[Job] | None = None) -> Scheduler:
    """A scheduler with every job registered (not started)."""
    # APScheduler logs every run at INFO ("Running job …" twice a minute for the outbox alone);
    # our jobs log what they did themselves.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler = Scheduler(
        JobContext(settings=settings, session_maker=session_maker),
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    now = datetime.now(UTC)
    for job in JOBS if jobs is None else jobs:
        scheduler.add_job(
            run_job,
            trigger=IntervalTrigger(seconds=int(job.every.total_seconds()), timezone=UTC),
            args=[job, scheduler],
            id=job.id,
            name=job.id,
            max_instances=1,
            coalesce=True,
            next_run_time=now + job.first_after,
            replace_existing=True,
        )
    return scheduler


class SchedulerLock:
    """The PostgreSQL advisory lock electing the one active scheduler, held on a dedicated connection.

    The lock lives as long as that connection: if the process dies, PostgreSQL releases it and a
    waiting process takes over within LOCK_RETRY_INTERVAL.
    """

    def __init__(self, engine: AsyncEngine, key: int = SCHEDULER_LOCK_KEY) -> None:
        self.engine = engine
        self.key = key
        self._conn: AsyncConnection | None = None

    @property
    def needed(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    async def acquire(self) -> bool:
        """True when this process now holds the lock (always on SQLite)."""
        if not self.needed or self._conn is not None:
            return True
        try:
            conn = await self.engine.connect()
        except Exception as exc:
            log.warning("cannot reach the database to take the scheduler lock: %s", exc)
            return False
        try:
            got = await conn.scalar(text("SELECT pg_try_advisory_lock(CAST(:key AS bigint))"), {"key": self.key})
            await conn.commit()
        except Exception as exc:
            log.warning("cannot take the scheduler lock: %s", exc)
            await self._close(conn)
            return False
        if not got:
            await self._close(conn)
            return False
        self._conn = conn
        return True

    async def alive(self) -> bool:
        """Whether the connection holding the lock is still open (the lock goes with it)."""
        if not self.needed:
            return True
        if self._conn is None:
            return False
        try:
            await self._conn.execute(text("SELECT 1"))
            await self._conn.commit()
            return True
        except Exception as exc:
            log.warning("the scheduler lock's database connection failed: %s", exc)
            conn, self._conn = self._conn, None
            await self._close(conn, invalidate=True)
            return False

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await conn.execute(text("SELECT pg_advisory_unlock(CAST(:key AS bigint))"), {"key": self.key})
            await conn.commit()
        except Exception as exc:
            log.warning("could not release the scheduler lock cleanly (it goes with the connection): %s", exc)
            await self._close(conn, invalidate=True)
            return
        await self._close(conn)

    @staticmethod
    async def _close(conn: AsyncConnection, invalidate: bool = False) -> None:
        try:
            if invalidate:
                await conn.invalidate()
            await conn.close()
        except Exception:
            log.debug("closing a scheduler lock connection failed", exc_info=True)


class SchedulerRunner:
    """Runs the jobs while this process holds the scheduler lock; waits for it otherwise."""

    def __init__(self, settings: Settings, engine: AsyncEngine, session_maker: async_sessionmaker) -> None:
        self.scheduler = build_scheduler(settings, session_maker)
        self.lock = SchedulerLock(engine)
        self.retry_interval = LOCK_RETRY_INTERVAL.total_seconds()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._announced_wait = False

    @property
    def active(self) -> bool:
        """Whether this process is the one running the jobs now."""
        return self.scheduler.state == STATE_RUNNING

    async def start(self) -> None:
        """Start paused and try the lock once now, so a lone process is active when this returns."""
        self.scheduler.start(paused=True)
        await self._check()
        self._task = asyncio.create_task(self._supervise(), name="crm-scheduler-lock")

    async def _check(self) -> None:
        if not self.active:
            if await self.lock.acquire():
                self.scheduler.resume()
                self._announced_wait = False
                log.info("scheduler active: %s", ", ".join(j.id for j in self.scheduler.get_jobs()))
            else:
                level = logging.DEBUG if self._announced_wait else logging.INFO
                log.log(level, "another scheduler is active; trying again every %ss", int(self.retry_interval))
                self._announced_wait = True
        elif not await self.lock.alive():
            self.scheduler.pause()
            log.warning("lost the scheduler lock; jobs are paused until this process takes it again")

    async def _supervise(self) -> None:
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self.retry_interval)
            except TimeoutError:
                try:
                    await self._check()
                except Exception:
                    log.exception("checking the scheduler lock failed; trying again later")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
        if self.scheduler.running:
            self.scheduler.pause()
            await self.scheduler.wait_for_running_jobs(STOP_GRACE.total_seconds())
            self.scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # the shutdown is queued on the loop
        await self.lock.release()
        log.info("scheduler stopped")


def _configure_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


async def run_worker(settings: Settings) -> None:
    """``crm worker``: run the scheduler until SIGINT or SIGTERM."""
    from crm import db

    _configure_logging()
    engine = db.create_engine(settings)
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    try:
        try:
            behind = await db.pending_migrations(engine, settings)
        except Exception as exc:
            raise SystemExit(f"Cannot open the database: {exc}") from None
        if behind:
            raise SystemExit(
                "The database is not migrated to the current version. Run `crm migrate`, then start the worker again."
            )
        runner = SchedulerRunner(settings, engine, db.session_maker(engine))
        stop = asyncio.Event()
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
        await runner.start()
        log.info("worker started with %s job(s); stop it with Ctrl+C or SIGTERM", len(JOBS))
        await stop.wait()
        log.info("stopping the worker")
        await runner.stop()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await engine.dispose()
