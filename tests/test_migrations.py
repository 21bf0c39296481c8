"""Alembic migrations go up and down on SQLite and PostgreSQL, and match the models."""

import asyncio
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

import crm.models  # noqa: F401  (the metadata of every domain)
from crm import db
from tests.conftest import PG_URL, _settings


@pytest.fixture
def empty_database(tmp_path):
    """A database of its own (these tests drop every table)."""
    if not PG_URL:
        yield f"sqlite+aiosqlite:///{tmp_path / 'mig.db'}"
        return
    name = f"crm_mig_{uuid.uuid4().hex[:8]}"
    admin_url = PG_URL

    async def run(sql: str) -> None:
        engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _tables(url: str) -> set[str]:
    async def go() -> set[str]:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        await engine.dispose()
        return names - {"alembic_version"}

    return asyncio.run(go())


def _diff(url: str) -> list:
    async def go() -> list:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            result = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), db.metadata))
        await engine.dispose()
        return result

    return asyncio.run(go())


def test_upgrade_downgrade_upgrade(empty_database, tmp_path):
    settings = _settings(tmp_path, empty_database)
    expected = {t.name for t in db.metadata.sorted_tables}
    db.migrate(settings)
    assert _tables(empty_database) == expected
    db.downgrade(settings, "base")
    assert _tables(empty_database) == set()
    db.migrate(settings)
    assert _tables(empty_database) == expected


def _run(url: str, *statements: str) -> list:
    async def go() -> list:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            results = [await conn.execute(text(sql)) for sql in statements]
            rows = results[-1].all() if results[-1].returns_rows else []
        await engine.dispose()
        return rows

    return asyncio.run(go())


def test_queued_messages_move_to_outbox_body_and_back(empty_database, tmp_path):
    """The migration that puts messages apart from their rows keeps every message, both ways."""
    settings = _settings(tmp_path, empty_database)
    db.migrate(settings, "d9e4a1b2c3f5")
    message = "Subject: Thư mục tài liệu mới\n\nNội dung.\n".encode()
    now = "2026-11-24 00:00:00+00:00"
    _run(empty_database, "INSERT INTO outbox (idempotency_key, message_id, kind, recipient, subject, raw, status, "
         "attempts, next_attempt_at, created_at, updated_at) VALUES ('k1', '<m1@x>', 'digest', 'an@example.edu.vn', "
         f"'s', {_bytes(empty_database, message)}, 'queued', 0, '{now}', '{now}', '{now}')")
    db.migrate(settings)
    assert _run(empty_database, "SELECT o.recipient, b.raw FROM outbox o JOIN outbox_body b ON b.outbox_id = o.id") \
        == [("an@example.edu.vn", message)]
    assert "raw" not in _columns(empty_database, "outbox")
    db.downgrade(settings, "d9e4a1b2c3f5")
    assert _run(empty_database, "SELECT recipient, raw FROM outbox") == [("an@example.edu.vn", message)]
    assert "outbox_body" not in _tables(empty_database)


def _bytes(url: str, value: bytes) -> str:
    return f"X'{value.hex()}'" if url.startswith("sqlite") else f"'\\x{value.hex()}'::bytea"


def _columns(url: str, table: str) -> set[str]:
    async def go() -> set[str]:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns(table)})
        await engine.dispose()
        return names

    return asyncio.run(go())


def test_migrations_match_the_models(empty_database, tmp_path):
    db.migrate(_settings(tmp_path, empty_database))
    assert _diff(empty_database) == []


async def test_the_app_refuses_an_unmigrated_database(tmp_path):
    from litestar.testing import AsyncTestClient

    from crm.app import UnmigratedDatabase, create_app

    app = create_app(_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"), background=False)
    with pytest.raises(BaseException) as info:
        async with AsyncTestClient(app=app):
            pass
    errors = [info.value]
    while isinstance(errors[-1], BaseExceptionGroup):
        errors.append(errors[-1].exceptions[0])
    assert isinstance(errors[-1], UnmigratedDatabase)
    assert "crm migrate" in str(errors[-1])


async def test_stored_messages_are_compressed_with_lz4_on_postgresql(settings):
    if not PG_URL:
        pytest.skip("a PostgreSQL storage setting")
    engine = create_async_engine(settings.database.url)
    try:
        async with engine.connect() as conn:
            version = int(await conn.scalar(text("SHOW server_version_num")))
            method = await conn.scalar(text(
                "SELECT attcompression FROM pg_attribute WHERE attrelid = 'outbox_body'::regclass AND attname = 'raw'"))
    finally:
        await engine.dispose()
    if version < 140000:
        pytest.skip("PostgreSQL before 14 has one compression method")
    assert method in ("l", b"l")  # lz4: a quarter of pglz's cost per 36 KiB digest
