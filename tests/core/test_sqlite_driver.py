"""core/sqlite_driver.py: on a WAL database, reads run on the event loop and writes on
the connection's thread, so a write that waits for the lock leaves the loop free."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import dispose_engines, get_engine

Trace = list[tuple[str, str]]
"""(thread, first word of the statement): thread is "loop" or "worker"."""


@pytest.fixture
async def file_url(tmp_path: Path) -> AsyncIterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'aura.db'}"
    async with get_engine(url).begin() as connection:
        await connection.execute(text("CREATE TABLE notes (body TEXT NOT NULL)"))
    yield url
    await dispose_engines(url)


async def _trace(connection: AsyncConnection) -> Trace:
    """Record each SQL statement the connection runs, and on which thread."""
    loop_thread = threading.current_thread()
    trace: Trace = []

    def record(sql: str) -> None:
        where = "loop" if threading.current_thread() is loop_thread else "worker"
        trace.append((where, sql.split()[0].upper()))

    raw = await connection.get_raw_connection()
    await raw.driver_connection.set_trace_callback(record)
    return trace


async def test_reads_and_their_commit_run_on_the_event_loop(file_url: str) -> None:
    async with get_engine(file_url).connect() as connection:
        trace = await _trace(connection)
        rows = (await connection.execute(text("SELECT count(*) FROM notes"))).scalar_one()
        await connection.commit()

    assert rows == 0
    assert trace == [("loop", "SELECT")]  # a commit with nothing written runs no statement


async def test_writes_and_their_commit_run_on_the_connection_thread(file_url: str) -> None:
    async with get_engine(file_url).connect() as connection:
        trace = await _trace(connection)
        await connection.execute(text("INSERT INTO notes VALUES ('hello')"))
        # A read inside the write transaction holds no lock it could wait for.
        await connection.execute(text("SELECT body FROM notes"))
        await connection.commit()

    assert trace == [("worker", "BEGIN"), ("worker", "INSERT"), ("loop", "SELECT"),
                     ("worker", "COMMIT")]


async def test_a_write_waiting_for_the_lock_leaves_the_loop_serving_reads(
        file_url: str, tmp_path: Path) -> None:
    other_process = sqlite3.connect(tmp_path / "aura.db", isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")  # holds the write lock
    other_process.execute("INSERT INTO notes VALUES ('not yet committed')")

    async def write() -> None:
        async with get_engine(file_url).begin() as connection:
            await connection.execute(text("INSERT INTO notes VALUES ('mine')"))

    try:
        writing = asyncio.create_task(write())
        await asyncio.sleep(0.2)  # the write is now waiting for the lock, on its thread
        async with get_engine(file_url).connect() as connection:
            seen = (await connection.execute(text("SELECT body FROM notes"))).all()
        assert not writing.done()
        assert seen == []  # WAL: the reader sees the last commit, and did not wait
    finally:
        other_process.commit()
        other_process.close()
    await asyncio.wait_for(writing, timeout=30)

    async with get_engine(file_url).connect() as connection:
        bodies = (await connection.execute(text("SELECT body FROM notes ORDER BY rowid")))
        assert bodies.scalars().all() == ["not yet committed", "mine"]


async def test_a_database_not_in_wal_mode_runs_everything_on_the_connection_thread() -> None:
    url = "sqlite+aiosqlite://"  # in memory: the journal mode stays "memory"
    try:
        async with get_engine(url).connect() as connection:
            trace = await _trace(connection)
            mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar_one()
            await connection.execute(text("SELECT 1"))
    finally:
        await dispose_engines(url)

    assert mode == "memory"
    assert trace == [("worker", "PRAGMA"), ("worker", "SELECT")]
