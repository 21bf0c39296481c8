"""Shared fixtures: a real database (SQLite, or PostgreSQL through CRM_TEST_DATABASE_URL), the app,
a client that logs in through the real login form (with its CSRF token), and data factories."""

import asyncio
import dataclasses
import os
import re
import shutil
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import event, text
from sqlalchemy.pool import NullPool
from sqlalchemy.ext.asyncio import create_async_engine

from crm import db
from crm.settings import DatabaseSettings, MailSettings, Settings

PG_URL = os.environ.get("CRM_TEST_DATABASE_URL")
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


def _settings(tmp: Path, url: str) -> Settings:
    return Settings(
        var_dir=tmp,
        secret_key="test-secret-key-with-enough-entropy-0123456789",
        database=DatabaseSettings(url=url),
        mail=MailSettings(port=0, embedded_sink=False),
        base_url="http://testserver.local",
        run_scheduler=False,
    )


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

        asyncio.run(reset())
        db.migrate(_settings(tmp_path_factory.mktemp("pg"), PG_URL))
        return PG_URL
    path = tmp_path_factory.mktemp("template") / "template.db"
    db.migrate(_settings(path.parent, f"sqlite+aiosqlite:///{path}"))
    return str(path)


@pytest.fixture
async def settings(tmp_path, migrated_template) -> Settings:
    if PG_URL:
        engine = create_async_engine(PG_URL)
        async with engine.begin() as conn:
            tables = [t.name for t in db.metadata.sorted_tables]
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        await engine.dispose()
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
