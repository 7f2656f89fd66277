"""The async database engine and sessions.

One :class:`~sqlalchemy.ext.asyncio.AsyncEngine` exists per (database URL, running event
loop): asyncpg and aiosqlite connections belong to the loop that opened them, and tests,
the CLI and Prefect's task runners run several loops in one process. Engines of a loop
that has been closed are dropped (and their loop forgotten) the next time an engine is
asked for; :func:`dispose_engines` closes the current loop's engines explicitly.

SQLite connections come from core/sqlite_driver.py: foreign keys, write-ahead logging,
and reads that run on the event loop instead of a round trip to aiosqlite's thread; the
folder of the database file is created. The sqlite3 driver keeps its default ("legacy")
transaction control: a transaction begins at the first INSERT/UPDATE/DELETE, which keeps
readers and writers of one file from locking each other out, but means DDL is not
transactional and SAVEPOINTs do not nest on SQLite.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core import sqlite_driver
from core.settings import get_settings

_MEMORY_DATABASES = frozenset({"", ":memory:"})

_engines: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, tuple[AsyncEngine, async_sessionmaker[AsyncSession]]]
] = weakref.WeakKeyDictionary()


def _running_loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "the database engine can only be used from async code with a running event "
            "loop (its connections belong to that loop); call it from inside a coroutine"
        ) from None


def _create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # pool_pre_ping: a server restart or an idle timeout must not fail the next step.
        return create_async_engine(parsed, pool_pre_ping=True)

    database = parsed.database or ""
    is_uri = database.startswith("file:") or _is_true(parsed.query.get("uri"))
    if database not in _MEMORY_DATABASES and not is_uri:
        Path(database).parent.mkdir(parents=True, exist_ok=True)

    # No rollback when a connection goes back to the pool: sessions and connections end
    # their transactions themselves (commit, or rollback on close), and a redundant call
    # to an aiosqlite connection may be a round trip to its thread.
    engine = create_async_engine(parsed, pool_reset_on_return=None)

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> Any:
        # SQLAlchemy's aiosqlite adapter around our connection (core/sqlite_driver.py).
        return dialect.loaded_dbapi.connect(*cargs, async_creator_fn=sqlite_driver.connect,
                                            **cparams)

    return engine


def _is_true(value: Any) -> bool:
    if isinstance(value, tuple):
        value = value[-1] if value else None
    return str(value).lower() in {"1", "true", "yes", "on"}


def _loop_engines(
    loop: asyncio.AbstractEventLoop,
) -> dict[str, tuple[AsyncEngine, async_sessionmaker[AsyncSession]]]:
    for other in [other for other in _engines.keys() if other.is_closed()]:
        # Its connections died with it; nothing can be awaited on a closed loop.
        _engines.pop(other, None)
    return _engines.setdefault(loop, {})


def _key(url: str | URL | None) -> str:
    if url is None:
        return get_settings().database_url
    if isinstance(url, URL):
        return url.render_as_string(hide_password=False)
    return url


def _entry(url: str | URL | None) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    engines = _loop_engines(_running_loop())
    key = _key(url)
    entry = engines.get(key)
    if entry is None:
        engine = _create_engine(key)
        entry = (engine, async_sessionmaker(engine, expire_on_commit=False))
        engines[key] = entry
    return entry


def get_engine(url: str | URL | None = None) -> AsyncEngine:
    """The engine for ``url`` in the running event loop, created on first use.

    Args:
        url: SQLAlchemy async URL (``sqlite+aiosqlite:///…`` or
            ``postgresql+asyncpg://…``); ``None`` means ``AURA_DATABASE_URL``.

    Returns:
        The engine cached for this URL and this event loop.

    Raises:
        RuntimeError: when called with no running event loop.
    """
    return _entry(url)[0]


def get_sessionmaker(url: str | URL | None = None) -> async_sessionmaker[AsyncSession]:
    """The session factory bound to :func:`get_engine` of ``url`` (``expire_on_commit=False``)."""
    return _entry(url)[1]


@asynccontextmanager
async def session_scope(url: str | URL | None = None) -> AsyncIterator[AsyncSession]:
    """A session that commits when the block ends normally and rolls back on an error.

    Objects stay usable after the commit (``expire_on_commit=False``), so results can be
    returned from the block without another query.

    Args:
        url: database URL; ``None`` means ``AURA_DATABASE_URL``.
    """
    async with get_sessionmaker(url)() as session:
        try:
            yield session
        except Exception:
            await session.rollback()
            raise
        await session.commit()


async def dispose_engines(url: str | URL | None = None) -> None:
    """Close the engines of the running event loop and forget them.

    Args:
        url: close only the engine of this URL; ``None`` closes every engine of the loop.
    """
    engines = _loop_engines(_running_loop())
    keys = list(engines) if url is None else [_key(url)]
    for key in keys:
        entry = engines.pop(key, None)
        if entry is not None:
            await entry[0].dispose()
