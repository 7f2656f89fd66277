"""Database fixtures (a pytest plugin, registered in tests/conftest.py).

``database_url`` runs a test twice: on a SQLite file in the test's ``tmp_path`` and on a
fresh PostgreSQL database made for that test alone (``aura_test_<hex>``, dropped after),
both migrated to the newest revision. The PostgreSQL server is
``postgresql://postgres@127.0.0.1:5432/test`` unless ``AURA_TEST_POSTGRES_URL`` names
another (any database on it that we may connect to; it is only used to create and drop
the test databases).

When the server cannot be reached the PostgreSQL half is skipped with a message saying
so, except when ``CI`` is set to a true value: CI must reach it, so there it fails.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NoReturn

import asyncpg
import pytest
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import dispose_engines, get_sessionmaker
from models.schema import upgrade_database

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
CONNECT_TIMEOUT_S = 5.0

_unreachable_reason: str | None = None
"""Set after the first failed connection, so later tests skip without waiting again."""


def _server_url() -> URL:
    raw = os.environ.get("AURA_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    # asyncpg wants a plain postgresql:// DSN; accept SQLAlchemy's +asyncpg form too.
    return make_url(raw).set(drivername="postgresql")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def _skip_or_fail(reason: str) -> NoReturn:
    if _in_ci():
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
    pytest.skip(reason)


async def _connect_server() -> asyncpg.Connection:
    global _unreachable_reason
    if _unreachable_reason is not None:
        _skip_or_fail(_unreachable_reason)
    server = _server_url()
    try:
        return await asyncpg.connect(
            server.render_as_string(hide_password=False), timeout=CONNECT_TIMEOUT_S
        )
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        _unreachable_reason = (
            f"PostgreSQL is not reachable at {server.render_as_string(hide_password=True)}: "
            f"start it to run the PostgreSQL half of the tests ({type(exc).__name__}: {exc})"
        )
        _skip_or_fail(_unreachable_reason)


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database for the block; yields its SQLAlchemy async URL.

    The database is dropped afterwards, after the engines of this loop are closed;
    ``WITH (FORCE)`` ends connections still open from other loops.
    """
    name = f"aura_test_{secrets.token_hex(6)}"
    server = await _connect_server()
    try:
        await server.execute(f'CREATE DATABASE "{name}"')
    finally:
        await server.close()
    url = (
        _server_url()
        .set(drivername="postgresql+asyncpg", database=name)
        .render_as_string(hide_password=False)
    )
    try:
        yield url
    finally:
        await dispose_engines(url)
        server = await _connect_server()
        try:
            await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await server.close()


@pytest.fixture(
    params=[pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql")]
)
async def database_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:
    """SQLAlchemy async URL of an empty, fully migrated database, on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'aura.db'}"
        try:
            await upgrade_database(url)
            yield url
        finally:
            await dispose_engines(url)
    else:
        async with postgres_database() as url:
            await upgrade_database(url)
            yield url


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    """A session on ``database_url``; what the test does not commit is rolled back."""
    async with get_sessionmaker(database_url)() as db_session:
        yield db_session
