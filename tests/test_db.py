"""Transactions behave the same on SQLite and PostgreSQL: a rolled-back savepoint leaves nothing."""

from sqlalchemy import func, select

from crm.liaison.models import Unit


async def test_savepoint_rollback_discards_its_rows(session_maker):
    async with session_maker() as s, s.begin():
        s.add(Unit(code="KEEP", name_vi="Giữ lại", search_key="keep"))
        await s.flush()
        nested = await s.begin_nested()
        s.add(Unit(code="DROP", name_vi="Bỏ đi", search_key="drop"))
        await s.flush()
        await nested.rollback()
    async with session_maker() as s:
        codes = set(await s.scalars(select(Unit.code)))
    assert codes == {"KEEP"}


async def test_outer_rollback_discards_everything(session_maker):
    async with session_maker() as s:
        async with s.begin():
            s.add(Unit(code="A1", name_vi="A", search_key="a"))
            await s.flush()
            await s.rollback()
    async with session_maker() as s:
        assert await s.scalar(select(func.count()).select_from(Unit)) == 0


async def test_a_released_savepoint_is_still_undone_by_the_outer_rollback(session_maker):
    # pysqlite's legacy transaction handling made a first SAVEPOINT the outermost transaction,
    # so releasing it committed: an all-or-nothing import could half-write.
    async with session_maker() as s:
        await s.begin()
        async with s.begin_nested():
            s.add(Unit(code="HALF", name_vi="Nửa chừng", search_key="half"))
        await s.rollback()
    async with session_maker() as s:
        assert await s.scalar(select(func.count()).select_from(Unit)) == 0


# --- concurrent writers on SQLite ---------------------------------------------------------------

import asyncio  # noqa: E402

import pytest  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402

from crm import db  # noqa: E402


async def _read_then_write_while_another_commits(session_maker) -> None:
    """A transaction reads, another connection commits a write, then the first writes."""
    other_committed = asyncio.Event()

    async def other_writer() -> None:
        async with session_maker() as other, other.begin():
            other.add(Unit(code="OTHER", name_vi="Khác", search_key="other"))
        other_committed.set()

    async with session_maker() as s, s.begin():
        await s.scalar(select(func.count()).select_from(Unit))
        writer = asyncio.create_task(other_writer())
        await asyncio.wait([writer], timeout=0.5)  # with the write lock held, the other waits for us
        s.add(Unit(code="MINE", name_vi="Của tôi", search_key="mine"))
        await s.flush()
    await writer
    assert other_committed.is_set()


async def test_read_then_write_waits_for_the_lock_under_write_intent(session_maker):
    # Jobs, CLI commands and form posts run in db.writing(): SQLite's BEGIN IMMEDIATE takes the write
    # lock first, so a digest run and the sender committing after every message take turns.
    with db.writing():
        await _read_then_write_while_another_commits(session_maker)
    async with session_maker() as s:
        assert set(await s.scalars(select(Unit.code))) == {"MINE", "OTHER"}


async def test_without_write_intent_sqlite_refuses_a_stale_read_then_write(settings, session_maker):
    # Why writing() exists: in WAL mode a plain BEGIN that read before another commit cannot write.
    if not settings.database.is_sqlite:
        pytest.skip("PostgreSQL lets both transactions write (row locks, no stale snapshot error)")
    with pytest.raises(OperationalError, match="locked"):
        await _read_then_write_while_another_commits(session_maker)


async def test_write_intent_is_set_for_changing_requests_only():
    seen = {}

    async def app(scope, receive, send):
        seen[scope["method"]] = db._write_intent.get()

    middleware = db.WriteIntentMiddleware(app)
    for method in ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"):
        await middleware({"type": "http", "method": method}, None, None)
    assert seen == {"GET": False, "HEAD": False, "OPTIONS": False,
                    "POST": True, "PUT": True, "PATCH": True, "DELETE": True}
    assert db._write_intent.get() is False


async def test_scheduled_jobs_and_cli_commands_run_with_write_intent(settings, session_maker):
    from crm.cli import run
    from jobs.scheduler import Job, build_scheduler, run_job

    seen = []

    async def job(context) -> int:
        seen.append(db._write_intent.get())
        return 0

    scheduler = build_scheduler(settings, session_maker, jobs=[])
    from datetime import timedelta
    await run_job(Job("probe", job, every=timedelta(minutes=1)), scheduler)

    async def command() -> bool:
        return db._write_intent.get()

    assert seen == [True]
    assert await asyncio.to_thread(run, command()) is True
    assert db._write_intent.get() is False


async def test_bulk_inserts_belong_to_the_callers_transaction_and_keep_the_order(session_maker):
    """insert_ids returns ids in the order of the rows; insert_plain_rows (a driver executemany, COPY
    on PostgreSQL) is undone with the transaction it ran in, and stores timestamps as the ORM does."""
    from datetime import UTC, datetime

    table = Unit.__table__
    now = datetime(2026, 11, 24, 5, 0, 0, 123456, tzinfo=UTC)
    async with session_maker() as s, s.begin():
        ids = await db.insert_ids(s, table, [{"code": f"K{n}", "name_vi": f"Khoa {n}", "kind": "faculty",
                                              "search_key": f"khoa {n}"} for n in range(300)])
    async with session_maker() as s:
        assert dict((await s.execute(select(Unit.id, Unit.code))).all()) == {
            unit_id: f"K{n}" for n, unit_id in enumerate(ids)}

    with pytest.raises(RuntimeError):
        async with session_maker() as s, s.begin():
            await db.insert_plain_rows(s, table, ("code", "name_vi", "kind", "search_key"),
                                       [("X1", "Khoa X", "faculty", "khoa x")], now)
            assert await s.scalar(select(func.count()).select_from(Unit).where(Unit.code == "X1")) == 1
            raise RuntimeError("something later in the transaction fails")
    async with session_maker() as s:
        assert await s.scalar(select(func.count()).select_from(Unit).where(Unit.code == "X1")) == 0

    async with session_maker() as s, s.begin():
        await db.insert_plain_rows(s, table, ("code", "name_vi", "kind", "search_key"),
                                   [("X2", "Khoa X", "faculty", "khoa x")], now)
    async with session_maker() as s:
        unit = await s.scalar(select(Unit).where(Unit.code == "X2"))
    assert unit.created_at == now and unit.updated_at == now


async def test_bulk_insert_with_another_driver_goes_through_sqlalchemy(settings, session_maker, monkeypatch):
    """A driver that is neither asyncpg nor sqlite3 (another parameter style) gets SQLAlchemy's executemany."""
    from datetime import UTC, datetime

    if not settings.database.is_sqlite:
        pytest.skip("PostgreSQL (asyncpg) uses COPY")
    engine = db.create_engine(settings)  # a dialect (and statement cache) of its own, changed below
    monkeypatch.setattr(engine.dialect, "paramstyle", "named")  # sqlite3 takes :name parameters too
    monkeypatch.setattr(engine.dialect, "positional", False)
    now = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    try:
        async with db.session_maker(engine)() as s, s.begin():
            await db.insert_plain_rows(s, Unit.__table__, ("code", "name_vi", "kind", "search_key"),
                                       [("Y1", "Khoa Y", "faculty", "khoa y"), ("Y2", "Khoa Z", "faculty", "khoa z")],
                                       now)
    finally:
        await engine.dispose()
    async with session_maker() as s:
        units = list(await s.scalars(select(Unit).where(Unit.code.in_(["Y1", "Y2"])).order_by(Unit.code)))
    assert [(u.code, u.created_at) for u in units] == [("Y1", now), ("Y2", now)]
