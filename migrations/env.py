import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

import crm.models  # noqa: F401  (registers every table)
from crm.db import metadata
from crm.settings import load_settings

config = context.config


def _url() -> str:
    return config.attributes.get("database_url") or load_settings().database.url


def _configure(connection=None, url=None) -> None:
    is_sqlite = (url or _url()).startswith("sqlite")
    context.configure(
        connection=connection,
        url=url,
        target_metadata=metadata,
        render_as_batch=is_sqlite,  # SQLite alters tables by copying them
        compare_type=True,
        literal_binds=connection is None,
    )


def run_offline() -> None:
    _configure(url=_url())
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    existing = config.attributes.get("connection")
    if existing is not None:
        _run_sync(existing)
    else:
        asyncio.run(run_online())
