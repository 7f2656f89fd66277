"""Create and upgrade the database schema with Alembic, from async code.

There is no ``alembic.ini``: :func:`alembic_config` builds the configuration in code, with
the migrations folder next to this module. The migration functions run on the engine of
:func:`core.db.get_engine` inside the running event loop: the async connection is entered
with ``run_sync`` and handed to ``models/migrations/env.py`` through
``config.attributes["connection"]``, so Alembic never starts an event loop of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import URL, Connection

from core.db import get_engine
from core.settings import get_settings

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic configuration for the database at ``url``.

    Args:
        url: SQLAlchemy async URL; ``None`` means ``AURA_DATABASE_URL``.

    Returns:
        A config with ``script_location`` set to ``models/migrations`` and
        ``sqlalchemy.url`` set to ``url`` (used by standalone and offline runs).
    """
    if url is None:
        url = get_settings().database_url
    elif isinstance(url, URL):
        url = url.render_as_string(hide_password=False)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # The options go through ConfigParser interpolation: a literal % is written %%.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def _run_command(
    url: str | URL | None, action: Callable[..., Any], *args: Any
) -> None:
    config = alembic_config(url)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        action(config, *args)

    async with get_engine(url).begin() as connection:
        await connection.run_sync(run)


async def upgrade_database(url: str | URL | None = None, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (all of them by default).

    Runs in one transaction: on PostgreSQL a failed migration leaves nothing behind.

    Args:
        url: database URL; ``None`` means ``AURA_DATABASE_URL``.
        revision: target revision id, or ``"head"``.
    """
    await _run_command(url, command.upgrade, revision)


async def downgrade_database(url: str | URL | None = None, revision: str = "base") -> None:
    """Undo the migrations down to ``revision`` (to an empty database by default).

    Args:
        url: database URL; ``None`` means ``AURA_DATABASE_URL``.
        revision: target revision id, or ``"base"``.
    """
    await _run_command(url, command.downgrade, revision)


async def current_revision(url: str | URL | None = None) -> str | None:
    """The revision the database is at, or ``None`` when no migration has been applied.

    Args:
        url: database URL; ``None`` means ``AURA_DATABASE_URL``.
    """

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with get_engine(url).connect() as connection:
        return await connection.run_sync(read)
