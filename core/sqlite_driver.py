"""SQLite connections for the async engine: aiosqlite, but reads run on the event loop.

aiosqlite runs every call of a connection on a thread of its own, so that a statement
waiting for the database's lock never blocks the event loop. Each call is a round trip
to that thread, and an API request that only reads makes five of them (cursor, execute,
fetch, close, commit), which cost more CPU than the queries themselves.

In write-ahead-log mode a reader never waits for a lock: writers append to the log
while readers keep reading the snapshot they started with. So a connection made here
runs on the calling (event-loop) thread every call that cannot wait:

- a ``SELECT`` and fetching its rows, making and closing cursors;
- ``COMMIT``/``ROLLBACK`` with no write transaction open (nothing to do).

Everything else goes to the connection's thread as before: statements that write (the
first of a transaction waits for the write lock, up to ``timeout``), commits of writes
(a commit may checkpoint the log), PRAGMAs and DDL. A database that is not in WAL mode
(``:memory:``) sends every call to the thread.

The one case in which a WAL reader can still wait: the first connection after a crash
replays the log, and readers of other processes wait for it, once.

Every connection gets ``foreign_keys=ON`` (off by default in SQLite), WAL and
``synchronous=NORMAL`` (with WAL a power cut may lose the last commits, never corrupt
the file). Used by core/db.py through SQLAlchemy's aiosqlite dialect.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite

_READ_CALLS = frozenset({"cursor", "fetchone", "fetchmany", "fetchall"})
_ENDS_OF_TRANSACTION = frozenset({"commit", "rollback"})


def connect(database: str, *, iter_chunk_size: int = 64, **kwargs: Any) -> Connection:
    """A connection to ``database``: await it to open it (``sqlite3.connect``'s arguments)."""
    # Calls run on two threads, one at a time (SQLAlchemy awaits each before the next).
    kwargs["check_same_thread"] = False

    def connector() -> sqlite3.Connection:
        connection = sqlite3.connect(database, **kwargs)
        try:
            connection.execute("PRAGMA foreign_keys=ON")
            # In-memory databases answer "memory" and stay as they are.
            journal = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            connection.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            connection.close()
            raise
        connection_proxy.reads_on_loop = str(journal).lower() == "wal"
        return connection

    connection_proxy = Connection(connector, iter_chunk_size)
    connection_proxy._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own
    return connection_proxy


class Connection(aiosqlite.Connection):
    """An aiosqlite connection that runs the calls that cannot wait for a lock inline."""

    reads_on_loop = False
    """True once the connection is open in WAL mode."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.reads_on_loop and self._running and self._connection is not None \
                and _cannot_wait(fn, args):
            return fn(*args, **kwargs)
        return await super()._execute(fn, *args, **kwargs)


def _cannot_wait(fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
    name = getattr(fn, "__name__", "")
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, sqlite3.Cursor):
        if name == "execute":
            return _is_select(args[0]) if args else False
        return name in _READ_CALLS or name == "close"
    if isinstance(owner, sqlite3.Connection):
        if name in _ENDS_OF_TRANSACTION:
            return not owner.in_transaction
        return name == "cursor"
    return False


def _is_select(sql: Any) -> bool:
    return isinstance(sql, str) and sql.lstrip()[:6].upper() == "SELECT"
