"""Engines per event loop, sessions that commit or roll back, SQLite connection settings."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from core import db
from core.db import dispose_engines, get_engine, session_scope
from core.settings import get_settings
from models.tables import UserProfile


def test_each_event_loop_gets_its_own_engine_and_each_can_query(database_url: str) -> None:
    async def use_database() -> tuple[AsyncEngine, int]:
        engine = get_engine(database_url)
        assert get_engine(database_url) is engine
        async with session_scope(database_url) as session:
            answer = (await session.execute(text("SELECT 1"))).scalar_one()
        await dispose_engines(database_url)
        return engine, answer

    first, first_answer = asyncio.run(use_database())
    second, second_answer = asyncio.run(use_database())

    assert first is not second
    assert first_answer == second_answer == 1


def test_engines_of_closed_loops_are_forgotten(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'aura.db'}"

    async def open_engine() -> asyncio.AbstractEventLoop:
        async with get_engine(url).connect() as connection:
            await connection.execute(text("SELECT 1"))
        await dispose_engines(url)
        return asyncio.get_running_loop()

    async def loop_is_remembered(loop: asyncio.AbstractEventLoop) -> bool:
        get_engine(url)
        try:
            return loop in db._engines
        finally:
            await dispose_engines(url)

    first_loop = asyncio.run(open_engine())

    assert first_loop in db._engines
    assert not asyncio.run(loop_is_remembered(first_loop))


def test_the_engine_needs_a_running_event_loop() -> None:
    with pytest.raises(RuntimeError, match="running event loop"):
        get_engine("sqlite+aiosqlite://")


async def test_one_engine_per_url_within_a_loop(tmp_path: Path) -> None:
    first_url = f"sqlite+aiosqlite:///{tmp_path / 'one.db'}"
    second_url = f"sqlite+aiosqlite:///{tmp_path / 'two.db'}"
    try:
        assert get_engine(first_url) is get_engine(first_url)
        assert get_engine(first_url) is not get_engine(second_url)
    finally:
        await dispose_engines(first_url)
        await dispose_engines(second_url)


async def test_the_default_url_comes_from_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'settings.db'}"
    monkeypatch.setenv("AURA_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        assert get_engine() is get_engine(url)
    finally:
        await dispose_engines(url)
        get_settings.cache_clear()


async def test_sqlite_gets_its_folder_foreign_keys_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there" / "aura.db"
    url = f"sqlite+aiosqlite:///{path}"
    try:
        async with get_engine(url).connect() as connection:
            foreign_keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar_one()
            journal_mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar_one()
    finally:
        await dispose_engines(url)

    assert path.parent.is_dir()
    assert foreign_keys == 1
    assert journal_mode == "wal"


async def test_session_scope_commits_on_success_and_rolls_back_on_error(
    database_url: str,
) -> None:
    async with session_scope(database_url) as session:
        session.add(UserProfile(id=uuid.uuid4(), email="kept@example.com"))

    with pytest.raises(ZeroDivisionError):
        async with session_scope(database_url) as session:
            session.add(UserProfile(id=uuid.uuid4(), email="lost@example.com"))
            await session.flush()
            1 / 0  # noqa: B018

    async with session_scope(database_url) as session:
        emails = (await session.scalars(select(UserProfile.email))).all()
        count = await session.scalar(select(func.count()).select_from(UserProfile))

    assert emails == ["kept@example.com"]
    assert count == 1


async def test_objects_stay_readable_after_the_commit(database_url: str) -> None:
    async with session_scope(database_url) as session:
        profile = UserProfile(id=uuid.uuid4(), email="after@example.com")
        session.add(profile)

    # expire_on_commit=False: no lazy load (which async sessions cannot do) is needed.
    assert profile.email == "after@example.com"
    assert profile.created_at.tzinfo is not None
