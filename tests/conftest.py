"""Shared fixtures: a real database (SQLite, or PostgreSQL through CRM_TEST_DATABASE_URL), the app,
a client that logs in through the real login form (with its CSRF token), and data factories."""

import asyncio
import dataclasses
import gc
import os
import re
import shutil
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import event, make_url, text
from sqlalchemy.pool import NullPool
from sqlalchemy.ext.asyncio import create_async_engine

from crm import db
from crm.settings import DatabaseSettings, MailSettings, Settings

PG_URL = os.environ.get("CRM_TEST_DATABASE_URL")
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


def pytest_collection_finish(session):
    # Every test builds an app (hundreds of route handlers: many short-lived objects). Moving what
    # is alive now (imported modules, collected tests) out of the collector's reach keeps Python's
    # full collections from rescanning it again and again; garbage made by tests is still collected.
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True, scope="session")
def _light_password_hashing():
    """argon2id with light parameters inside the test process.

    The production parameters (64 MiB, 3 passes) cost ~0.2 s a hash and as much a check, on
    purpose; most tests create a user and log in, so they paid it two or three times over. The
    algorithm and hash format are unchanged; `crm` subprocesses (CLI and browser tests) still use
    the production parameters.
    """
    from argon2 import PasswordHasher

    from crm.security import services

    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(services, "_hasher", hasher)
        mp.setattr(services, "_DUMMY_HASH", hasher.hash("not-a-real-password"))
        yield


def _settings(tmp: Path, url: str) -> Settings:
    return Settings(
        var_dir=tmp,
        secret_key="test-secret-key-with-enough-entropy-0123456789",
        database=DatabaseSettings(url=url),
        mail=MailSettings(port=0, embedded_sink=False),
        base_url="http://testserver.local",
        run_scheduler=False,
    )


# PostgreSQL: every test shares one database, reset before each test by one call to this function.
# It leaves what TRUNCATE … RESTART IDENTITY of every table left (empty tables, sequences starting
# over, alembic_version kept) at a fraction of the cost: it touches only tables that have rows,
# emptying them with DELETE in foreign-key order (TRUNCATE, which rewrites every table and index
# it cascades to, only for a table with many rows), and restarts only sequences that were used.
RESET_FUNCTION = """
CREATE OR REPLACE FUNCTION crm_test_reset() RETURNS void LANGUAGE plpgsql
SET client_min_messages = warning AS $$
DECLARE
    rel regclass;
    n bigint;
    bulky text[] := '{}';
    small regclass[] := '{}';
    seq record;
BEGIN
    -- Referencing tables before the tables they reference (self-references aside).
    FOR rel IN
        WITH RECURSIVE edge AS (
            SELECT DISTINCT conrelid AS child, confrelid AS parent FROM pg_constraint
            WHERE contype = 'f' AND conrelid <> confrelid AND connamespace = 'public'::regnamespace
        ), depth(oid, d) AS (
            SELECT c.oid, 0 FROM pg_class c
            WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
              AND c.relname <> 'alembic_version'
            UNION ALL
            SELECT edge.child, depth.d + 1 FROM depth JOIN edge ON edge.parent = depth.oid WHERE depth.d < 100
        )
        SELECT oid::regclass FROM depth GROUP BY oid ORDER BY max(d) DESC, oid
    LOOP
        EXECUTE format('SELECT count(*) FROM (SELECT FROM %s LIMIT 1000) AS sample', rel) INTO n;
        IF n >= 1000 THEN
            bulky := bulky || rel::text;
        ELSIF n > 0 THEN
            small := small || rel;
        END IF;
    END LOOP;
    IF cardinality(bulky) > 0 THEN
        EXECUTE 'TRUNCATE ' || array_to_string(bulky, ', ') || ' CASCADE';
    END IF;
    FOREACH rel IN ARRAY small LOOP
        EXECUTE format('DELETE FROM %s', rel);
    END LOOP;
    FOR seq IN
        SELECT format('%I.%I', schemaname, sequencename) AS name, start_value FROM pg_sequences
        WHERE schemaname = 'public' AND last_value IS NOT NULL
    LOOP
        PERFORM setval(seq.name, seq.start_value, false);
    END LOOP;
END $$
"""


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> str:
    """Migrate once per run: a SQLite file to copy per test, or the PostgreSQL database itself."""
    if PG_URL:
        async def reset() -> None:
            engine = create_async_engine(PG_URL)
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
            await engine.dispose()

        async def add_reset_function() -> None:
            engine = create_async_engine(PG_URL)
            async with engine.begin() as conn:
                await conn.exec_driver_sql(RESET_FUNCTION)
            await engine.dispose()

        asyncio.run(reset())
        db.migrate(_settings(tmp_path_factory.mktemp("pg"), PG_URL))
        asyncio.run(add_reset_function())
        return PG_URL
    path = tmp_path_factory.mktemp("template") / "template.db"
    db.migrate(_settings(path.parent, f"sqlite+aiosqlite:///{path}"))
    return str(path)


@pytest.fixture(scope="session")
def reset_postgres(migrated_template):
    """Empties the PostgreSQL database: one round trip on a connection kept for the whole run.

    The connection lives on an event loop of its own (each test has its own loop), driven from
    the synchronous `settings` fixture, outside any running loop. None on SQLite.
    """
    if not PG_URL:
        yield None
        return
    import asyncpg

    loop = asyncio.new_event_loop()
    dsn = make_url(migrated_template).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = None

    def reset() -> None:
        nonlocal conn
        if conn is None or conn.is_closed():
            conn = loop.run_until_complete(asyncpg.connect(dsn))
        loop.run_until_complete(conn.execute("SELECT crm_test_reset()"))

    yield reset
    if conn is not None:
        loop.run_until_complete(conn.close())
    loop.close()


@pytest.fixture
def settings(tmp_path, migrated_template, reset_postgres) -> Settings:
    if reset_postgres:
        reset_postgres()
        return _settings(tmp_path, PG_URL)
    target = tmp_path / "crm.db"
    shutil.copy(migrated_template, target)
    return _settings(tmp_path, f"sqlite+aiosqlite:///{target}")


@pytest.fixture
async def app(settings):
    from crm.app import create_app

    return create_app(settings, background=False)


@pytest.fixture
async def client(app):
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as c:
        yield c


@pytest.fixture
def new_client(settings):
    """Another browser: a client on an app of its own (engines cannot be shared across loops)."""
    from crm.app import create_app

    def make() -> AsyncTestClient:
        return AsyncTestClient(app=create_app(settings, background=False), base_url="http://testserver.local")

    return make


@pytest.fixture
async def session_maker(settings):
    """Sessions for arranging and checking data from the test's side.

    The app runs its own engine inside the test client's event loop; connections cannot cross
    loops (asyncpg), so the test side has an engine of its own without a pool.
    """
    engine = create_async_engine(settings.database.url, poolclass=NullPool)
    if settings.database.is_sqlite:
        event.listen(engine.sync_engine, "connect", db._sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", db._sqlite_begin)
    yield db.session_maker(engine)
    await engine.dispose()


@pytest.fixture
async def session(session_maker):
    """A database session for arranging data; commit to make it visible to requests."""
    async with session_maker() as s:
        yield s


@dataclasses.dataclass
class Factory:
    session_maker: object

    async def user(self, email="thu.thu@example.edu.vn", role="librarian", full_name="Trần Thị Thu", password=PASSWORD, language="vi"):
        from crm.security.schemas import UserCreate
        from crm.security.services import UserService

        async with self.session_maker() as s, s.begin():
            return await UserService(s).create_user(
                UserCreate(email=email, full_name=full_name, password=password, role=role, language=language)
            )

    async def token(self, user) -> str:
        from crm.security.services import UserService

        async with self.session_maker() as s, s.begin():
            return (await UserService(s).create_token(await s.merge(user), "test"))[1]

    async def unit(self, code="CNTT", name_vi="Khoa Công nghệ Thông tin", kind="faculty", parent_id=None, name_en=None):
        from crm.liaison.schemas.units import UnitCreate
        from crm.liaison.services.units import UnitService

        async with self.session_maker() as s, s.begin():
            return await UnitService(s).create_unit(UnitCreate(code=code, name_vi=name_vi, kind=kind, parent_id=parent_id, name_en=name_en))

    async def add(self, *objects):
        async with self.session_maker() as s, s.begin():
            for obj in objects:
                s.add(obj)
        return objects[0] if len(objects) == 1 else objects


@pytest.fixture
def factory(session_maker) -> Factory:
    return Factory(session_maker)


def csrf_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


async def form_post(client, page_url: str, post_url: str | None, data: dict, **kwargs):
    """Load a page (to get its CSRF token), then submit a form as a browser would."""
    page = await client.get(page_url)
    token = csrf_from(page.text)
    return await client.post(post_url or page_url, data={**data, "_csrf_token": token}, **kwargs)


async def login(client, email: str, password: str = PASSWORD):
    response = await form_post(client, "/login", "/login", {"email": email, "password": password}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response


@pytest.fixture
async def librarian(factory, client):
    """A logged-in librarian (the client carries the session)."""
    user = await factory.user()
    await login(client, user.email)
    return user


@pytest.fixture
async def admin(factory, client):
    user = await factory.user(email="admin@example.edu.vn", role="admin", full_name="Lê Văn Quản")
    await login(client, user.email)
    return user


@pytest.fixture
async def admin_token(factory) -> str:
    user = await factory.user(email="api-admin@example.edu.vn", role="admin", full_name="Quản trị API")
    return await factory.token(user)


@pytest.fixture
async def librarian_token(factory) -> str:
    user = await factory.user(email="api-lib@example.edu.vn", role="librarian", full_name="Thủ thư API")
    return await factory.token(user)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
