"""Alembic environment for AuraStudio's database.

Two ways in:

- From :mod:`models.schema` (the usual way, also inside a running event loop): the caller
  opens an async connection, enters it with ``await conn.run_sync(...)`` and hands the sync
  view of it over as ``config.attributes["connection"]``; migrations run on it, inside
  the caller's transaction.
- Standalone (``alembic`` commands with a config that has no connection): an engine is
  made for ``sqlalchemy.url`` (or ``AURA_DATABASE_URL``) in a fresh event loop.

SQLite cannot alter most of a table in place, so on SQLite operations are rendered in
"batch" mode (copy the table, move the data, swap). SQLite caveat for such migrations:
with ``PRAGMA foreign_keys=ON`` (set by ``core.db`` on every connection), dropping the old
copy of a table fires ON DELETE actions of the tables that point at it; a batch migration
of a referenced table must switch foreign keys off around its work.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from core.db import dispose_engines, get_engine
from core.settings import get_settings
from models.tables import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().database_url


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    """Write the SQL of the migrations to the script output instead of running it."""
    url = _url()
    _configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    """Run the migrations on a sync connection (the sync side of an async one)."""
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    """Open an engine for the configured URL in this loop, migrate, close it."""
    url = _url()
    try:
        async with get_engine(url).begin() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await dispose_engines(url)


def run_migrations_online() -> None:
    """Migrate on the handed-over connection, or on a new engine in a new loop."""
    connection = config.attributes.get("connection")
    if connection is None:
        asyncio.run(run_async_migrations())
    else:
        do_run_migrations(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
