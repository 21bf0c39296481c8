"""Declarative base, engine and session configuration, and the migration hook."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any

from advanced_alchemy.base import BigIntAuditBase, orm_registry
from advanced_alchemy.extensions.litestar import AsyncSessionConfig, EngineConfig, SQLAlchemyAsyncConfig
from sqlalchemy import Table, event, insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from crm.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ALEMBIC_INI = ROOT / "alembic.ini"

Base = BigIntAuditBase
metadata = orm_registry.metadata


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINTs (releasing one commits); let
    # SQLAlchemy emit BEGIN itself instead (the documented recipe), so nested transactions
    # roll back as they do on PostgreSQL.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets the web process read while the scheduler writes; foreign keys are off by default.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(settings: Settings) -> AsyncEngine:
    kwargs: dict[str, Any] = {"echo": settings.database.echo}
    if settings.database.is_sqlite:
        Path(settings.database.url.split("///", 1)[-1]).parent.mkdir(parents=True, exist_ok=True)
    else:
        kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
    engine = create_async_engine(settings.database.url, **kwargs)
    if settings.database.is_sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


#: Set while running work that writes (jobs, CLI commands, POST/PUT/PATCH/DELETE requests).
_write_intent: ContextVar[bool] = ContextVar("crm_write_intent", default=False)


@contextmanager
def writing() -> Iterator[None]:
    """Transactions opened inside will write: on SQLite they take the write lock when they begin.

    In WAL mode a transaction that first reads and then writes fails at once ("database is
    locked", without waiting for the busy timeout) when another connection committed in between,
    because its snapshot is stale. With the senders committing after every message, a digest run
    or a form saved while mail goes out would hit that. ``BEGIN IMMEDIATE`` waits for the lock
    instead (up to the busy timeout), while reads (GET pages) keep the plain ``BEGIN`` and never
    wait for writers. PostgreSQL needs none of this.
    """
    token = _write_intent.set(True)
    try:
        yield
    finally:
        _write_intent.reset(token)


@contextmanager
def reading() -> Iterator[None]:
    """The opposite of :func:`writing`, inside it: transactions that only read (a job's composing
    step) start with a plain ``BEGIN`` and neither take nor wait for the write lock."""
    token = _write_intent.set(False)
    try:
        yield
    finally:
        _write_intent.reset(token)


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")


async def release(session: AsyncSession) -> None:
    """End a request's transaction (it has only read so far) before work that runs in transactions
    of its own, such as an import: on SQLite the request's ``BEGIN IMMEDIATE`` holds the write lock,
    which those transactions need."""
    await session.commit()


class WriteIntentMiddleware:
    """ASGI middleware: requests that change things (not GET, HEAD or OPTIONS) run in :func:`writing`."""

    READS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("method", "GET") not in self.READS:
            with writing():
                await self.app(scope, receive, send)
        else:
            await self.app(scope, receive, send)


async def insert_ids(session: AsyncSession, table: Table, rows: Sequence[dict]) -> list[int]:
    """Insert many rows into a table with an integer key; returns their ids in the order of ``rows``.

    ``INSERT … RETURNING`` does not promise to return rows in the order of its VALUES, so
    SQLAlchemy's ``sort_by_parameter_order`` falls back to one statement per row on SQLite, about
    0.25 ms each. SQLite itself needs no help: a row without an id gets max(rowid) + 1, so the rows
    of a multi-row INSERT are numbered in the order of their VALUES, batches run in order, and
    nothing else writes inside the transaction (SQLite has one writer): sorting the returned ids
    gives the order of ``rows``. PostgreSQL keeps ``sort_by_parameter_order``, which it batches.
    """
    if not rows:
        return []
    if session.bind.dialect.name == "sqlite":
        ids = sorted((await session.execute(insert(table).returning(table.c.id), list(rows))).scalars())
    else:
        ids = list((await session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                                          list(rows))).scalars())
    if len(ids) != len(rows):
        raise RuntimeError(f"inserted {len(rows)} rows into {table.name} but got {len(ids)} ids back")
    return ids


async def insert_plain_rows(session: AsyncSession, table: Table, columns: Sequence[str], rows: Sequence[tuple],
                            now: datetime) -> None:
    """Insert many rows of plain values (ints, strings, None: what the driver takes as it is), with
    ``created_at`` and ``updated_at`` set to ``now``: COPY on PostgreSQL (asyncpg), one executemany
    of the driver on SQLite, SQLAlchemy's executemany elsewhere.

    For the hundreds of thousands of rows of a digest run: SQLAlchemy's executemany runs every value
    of every row through its type's bind processor, two thirds of the cost of the insert here. The
    timestamp is processed once, by its column's type, so it is stored exactly as SQLAlchemy
    stores it; nothing else needs processing.
    """
    if not rows:
        return
    dialect = session.bind.dialect
    stamp = table.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
    stamp = stamp(now) if stamp else now
    names = [*columns, "created_at", "updated_at"]
    connection = await session.connection()
    if dialect.name == "postgresql" and dialect.driver == "asyncpg":
        # COPY: a third of the time of an executemany of INSERTs. SQLAlchemy's asyncpg adapter
        # begins the transaction with its first statement: one goes first, so the COPY is inside it.
        await connection.exec_driver_sql("SELECT 1")
        raw = await connection.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(
            table.name, columns=names, records=[(*row, stamp, stamp) for row in rows])
        return
    if dialect.paramstyle != "qmark":  # another driver: SQLAlchemy's own executemany, slower but general
        await connection.execute(insert(table), [dict(zip(names, (*row, now, now))) for row in rows])
        return
    quote = dialect.identifier_preparer.quote
    marks = ", ".join("?" for _ in names)
    sql = f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) VALUES ({marks})"
    await connection.exec_driver_sql(sql, [(*row, stamp, stamp) for row in rows])


def session_maker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


def alchemy_config(engine: AsyncEngine) -> SQLAlchemyAsyncConfig:
    """advanced-alchemy's Litestar config: one session per request, committed on 2xx/3xx."""
    return SQLAlchemyAsyncConfig(
        engine_instance=engine,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit_include_redirects",
        engine_config=EngineConfig(),
        metadata=metadata,
    )


# --- migrations -------------------------------------------------------------------------


def alembic_config(settings: Settings):
    from alembic.config import Config

    cfg = Config(str(ALEMBIC_INI))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["database_url"] = settings.database.url
    return cfg



def migrate(settings: Settings, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(settings), revision)


async def pending_migrations(engine: AsyncEngine, settings: Settings) -> bool:
    """True when the database is behind the newest migration (or not migrated at all)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(settings))
    heads = set(script.get_heads())

    def current(sync_conn: Any) -> set[str]:
        return set(MigrationContext.configure(sync_conn).get_current_heads())

    async with engine.connect() as conn:
        return await conn.run_sync(current) != heads
