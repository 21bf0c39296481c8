"""The scheduler: code-defined periodic jobs, failure isolation, housekeeping, one active scheduler."""

import asyncio
import dataclasses
import logging
import os
import signal
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from crm.mail.models import SinkMessage
from crm.mail.sink import SINK_RETENTION
from jobs import JobContext, housekeeping
from jobs.scheduler import Job, SchedulerLock, SchedulerRunner, build_scheduler, run_job, run_worker
from tests.conftest import PG_URL


def _sink_row(received_at: datetime, subject: str) -> SinkMessage:
    return SinkMessage(received_at=received_at, mail_from="thu-vien@demo.edu.vn", rcpt_to="an@demo.edu.vn",
                       subject=subject, message_id=None, raw=b"Subject: x\r\n\r\nbody\r\n")


async def test_build_scheduler_registers_the_housekeeping_job(settings, session_maker):
    scheduler = build_scheduler(settings, session_maker)
    job = scheduler.get_job("housekeeping")
    assert job is not None
    assert job.coalesce is True and job.max_instances == 1
    assert job.trigger.interval == timedelta(hours=1)
    assert job.next_run_time > datetime.now(UTC)  # the first run waits a little after start


async def test_housekeeping_prunes_old_sink_messages_and_keeps_new_ones(settings, session_maker, factory):
    now = datetime.now(UTC)
    await factory.add(
        _sink_row(now - SINK_RETENTION - timedelta(days=1), "cũ"),
        _sink_row(now - SINK_RETENTION + timedelta(hours=1), "vừa đủ"),
        _sink_row(now, "mới"),
    )
    removed = await housekeeping.run(JobContext(settings=settings, session_maker=session_maker))
    assert removed == 1
    async with session_maker() as s:
        assert sorted(await s.scalars(select(SinkMessage.subject))) == ["mới", "vừa đủ"]
    # Idempotent: a second run finds nothing more to delete.
    assert await housekeeping.run(JobContext(settings=settings, session_maker=session_maker)) == 0


async def test_a_failing_job_is_logged_and_does_not_stop_the_scheduler(settings, session_maker, caplog):
    async def broken(context):
        raise RuntimeError("the harvest server is down")

    scheduler = build_scheduler(settings, session_maker, jobs=[])
    with caplog.at_level(logging.ERROR, logger="crm.jobs"):
        await run_job(Job("broken", broken, every=timedelta(minutes=5)), scheduler)
    assert "job broken failed" in caplog.text and "the harvest server is down" in caplog.text
    assert not scheduler.running_jobs


async def test_the_runner_runs_jobs_in_the_event_loop_and_stops_cleanly(settings, session_maker):
    from crm import db

    ran = asyncio.Event()
    calls = []

    async def tick(context):
        calls.append(context.settings.base_url)
        ran.set()
        # Opens its own transaction like any job.
        async with context.session_maker() as session, session.begin():
            await session.execute(select(1))

    engine = db.create_engine(settings)
    try:
        runner = SchedulerRunner(settings, engine, db.session_maker(engine))
        runner.scheduler = build_scheduler(settings, db.session_maker(engine),
                                           jobs=[Job("tick", tick, every=timedelta(seconds=60), first_after=timedelta(0))])
        await runner.start()
        await asyncio.wait_for(ran.wait(), timeout=5)
        assert runner.active and calls == [settings.base_url]
        await runner.stop()
        assert not runner.scheduler.running
    finally:
        await engine.dispose()


async def test_the_worker_refuses_an_unmigrated_database(tmp_path, settings):
    empty = dataclasses.replace(settings, database=dataclasses.replace(
        settings.database, url=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"))
    with pytest.raises(SystemExit, match="crm migrate"):
        await run_worker(empty)


async def test_the_worker_runs_until_sigterm(settings, caplog):
    with caplog.at_level(logging.INFO, logger="crm.jobs"):
        worker = asyncio.create_task(run_worker(settings))
        for _ in range(100):
            if "worker started" in caplog.text:
                break
            await asyncio.sleep(0.05)
        assert "worker started" in caplog.text
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(worker, timeout=10)
    assert "scheduler stopped" in caplog.text


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="needs CRM_TEST_DATABASE_URL (PostgreSQL)")
async def test_only_one_scheduler_holds_the_lock_on_postgresql(settings, caplog):
    first_engine = create_async_engine(settings.database.url, poolclass=NullPool)
    second_engine = create_async_engine(settings.database.url, poolclass=NullPool)
    first, second = SchedulerLock(first_engine), SchedulerLock(second_engine)
    try:
        assert await first.acquire()
        assert await first.acquire()  # holding it already
        assert not await second.acquire()
        assert await first.alive()

        # A second process's runner waits (and says so) instead of running the jobs.
        from crm import db

        runner = SchedulerRunner(settings, second_engine, db.session_maker(second_engine))
        with caplog.at_level(logging.INFO, logger="crm.jobs"):
            await runner.start()
            for _ in range(50):
                if "another scheduler is active" in caplog.text:
                    break
                await asyncio.sleep(0.05)
        assert "another scheduler is active" in caplog.text
        assert not runner.active
        await runner.stop()

        await first.release()
        assert await second.acquire()
        assert not await first.acquire()
    finally:
        await first.release()
        await second.release()
        await first_engine.dispose()
        await second_engine.dispose()
