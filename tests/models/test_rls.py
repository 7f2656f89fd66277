"""Migration 0002: row-level security on PostgreSQL, and profiles without an email.

The row-level security tests run plain SQL with no owner filter, in a transaction that
carries a user's JWT claims and the role ``authenticated``, as the API's sessions do: the
policies alone decide what is seen and written. The rows are made beforehand by the
owner (a superuser, which bypasses the policies, as the flow workers do).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Uuid, bindparam, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import dispose_engines, get_engine
from models.schema import current_revision, downgrade_database, upgrade_database
from tests.support.databases import postgres_database

ADA = uuid.UUID("a0000000-0000-4000-8000-00000000000a")
BOB = uuid.UUID("b0000000-0000-4000-8000-00000000000b")
OWNED_TABLES = ("projects", "asset_vault", "export_jobs", "actor_dna", "effect_library")
ALL_TABLES = ("user_profiles", *OWNED_TABLES)
REFUSED = "new row violates row-level security policy"


def claims_of(user: uuid.UUID) -> dict[str, Any]:
    return {"sub": str(user), "aud": "authenticated", "role": "authenticated",
            "exp": 4_102_444_800}


async def insert(connection: AsyncConnection, table: str, **values: Any) -> None:
    columns = ", ".join(values)
    placeholders = ", ".join(f":{name}" for name in values)
    ids = [bindparam(name, type_=Uuid()) for name, value in values.items()
           if isinstance(value, uuid.UUID)]
    await connection.execute(
        text(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})").bindparams(*ids),
        values)


def new_row(table: str, owner: uuid.UUID | None, **extra: Any) -> dict[str, Any]:
    """A valid row of ``table`` owned by ``owner`` (NULL for stock rows)."""
    row_id = uuid.uuid4()
    rows: dict[str, dict[str, Any]] = {
        "projects": {"title": "Demo", "script": "Hi.", "settings": "{}"},
        "asset_vault": {"kind": "photo", "storage_key": f"a/{row_id}.jpg",
                        "content_type": "image/jpeg", "size_bytes": 1, "sha256": row_id.hex},
        "export_jobs": {"spec": "{}", "steps": "{}"},
        "actor_dna": {"name": "Face", "neutral_pose": "{}", "rig": "{}", "style": "{}",
                      "is_stock": owner is None},
        "effect_library": {"name": f"fx-{row_id.hex[:8]}", "kind": "trickster",
                           "params": "{}"},
    }
    return {"id": row_id, "user_id": owner, **rows[table], **extra}


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A migrated PostgreSQL database where Ada and Bob each own one row of every table,
    and there is one stock avatar and one stock effect."""
    async with postgres_database() as url:
        await upgrade_database(url)
        async with get_engine(url).begin() as owner:
            for user in (ADA, BOB):
                await insert(owner, "user_profiles", id=user, email=f"{user}@example.com")
                for table in OWNED_TABLES:
                    await insert(owner, table, **new_row(table, user))
            await insert(owner, "actor_dna", **new_row("actor_dna", None))
            await insert(owner, "effect_library", **new_row("effect_library", None))
        yield url


@asynccontextmanager
async def acting_as(url: str, claims: dict[str, Any] | None,
                    role: str = "authenticated") -> AsyncIterator[AsyncConnection]:
    """A transaction as the API runs one: the caller's claims, then the role; rolled back."""
    async with get_engine(url).connect() as connection:
        async with connection.begin() as transaction:
            if claims is not None:
                await connection.execute(
                    text("SELECT set_config('request.jwt.claims', :claims, true)"),
                    {"claims": json.dumps(claims)})
            await connection.execute(text(f"SET LOCAL ROLE {role}"))
            yield connection
            await transaction.rollback()


async def owners(connection: AsyncConnection, table: str) -> list[str | None]:
    column = "id" if table == "user_profiles" else "user_id"
    rows = await connection.execute(text(f"SELECT {column} FROM {table}"))
    return sorted((str(owner) if owner else None for (owner,) in rows),
                  key=lambda owner: owner or "")


async def test_every_user_owned_table_has_forced_rls_and_one_policy_per_command(
    postgres_url: str,
) -> None:
    async with get_engine(postgres_url).connect() as connection:
        flags = dict((await connection.execute(text(
            "SELECT relname, relrowsecurity AND relforcerowsecurity FROM pg_class "
            "WHERE relname = ANY(:tables)"), {"tables": list(ALL_TABLES)})).all())
        policies = (await connection.execute(text(
            "SELECT tablename, cmd, roles FROM pg_policies WHERE schemaname = 'public'"
        ))).all()

    assert flags == dict.fromkeys(ALL_TABLES, True)
    assert sorted((table, command) for table, command, _ in policies) == sorted(
        (table, command) for table in ALL_TABLES
        for command in ("SELECT", "INSERT", "UPDATE", "DELETE"))
    assert {tuple(roles) for _, _, roles in policies} == {("authenticated",)}


async def test_a_user_sees_only_their_own_rows_without_any_filter(postgres_url: str) -> None:
    async with acting_as(postgres_url, claims_of(ADA)) as ada:
        seen = {table: await owners(ada, table) for table in ALL_TABLES}
        role, uid, jwt = (await ada.execute(
            text("SELECT current_user, auth.uid(), auth.jwt()"))).one()

    assert seen == {
        "user_profiles": [str(ADA)],
        "projects": [str(ADA)],
        "asset_vault": [str(ADA)],
        "export_jobs": [str(ADA)],
        "actor_dna": [None, str(ADA)],  # and the stock avatar
        "effect_library": [None, str(ADA)],  # and the stock effect
    }
    assert (role, uid, jwt) == ("authenticated", ADA, claims_of(ADA))


@pytest.mark.parametrize("table", ALL_TABLES)
async def test_a_row_owned_by_someone_else_cannot_be_inserted(
    postgres_url: str, table: str
) -> None:
    row = ({"id": uuid.uuid4(), "email": "mallory@example.com"} if table == "user_profiles"
           else new_row(table, BOB))

    with pytest.raises(DBAPIError, match=REFUSED):
        async with acting_as(postgres_url, claims_of(ADA)) as ada:
            await insert(ada, table, **row)


@pytest.mark.parametrize("table", OWNED_TABLES)
async def test_a_user_may_write_their_own_rows(postgres_url: str, table: str) -> None:
    async with acting_as(postgres_url, claims_of(ADA)) as ada:
        await insert(ada, table, **new_row(table, ADA))
        changed = await ada.execute(text(
            f"UPDATE {table} SET id = id WHERE user_id = :ada"), {"ada": ADA})
        deleted = await ada.execute(text(f"DELETE FROM {table} WHERE user_id = :ada"),
                                    {"ada": ADA})

    assert changed.rowcount == deleted.rowcount == 2


@pytest.mark.parametrize("table", ALL_TABLES)
async def test_someone_elses_rows_cannot_be_updated_or_deleted(
    postgres_url: str, table: str
) -> None:
    column = "id" if table == "user_profiles" else "user_id"
    async with acting_as(postgres_url, claims_of(ADA)) as ada:
        changed = await ada.execute(text(f"UPDATE {table} SET id = id WHERE {column} = :bob"),
                                    {"bob": BOB})
        deleted = await ada.execute(text(f"DELETE FROM {table} WHERE {column} = :bob"),
                                    {"bob": BOB})

    assert changed.rowcount == deleted.rowcount == 0


@pytest.mark.parametrize("table", OWNED_TABLES)
async def test_an_own_row_cannot_be_handed_to_someone_else(
    postgres_url: str, table: str
) -> None:
    with pytest.raises(DBAPIError, match=REFUSED):
        async with acting_as(postgres_url, claims_of(ADA)) as ada:
            await ada.execute(text(f"UPDATE {table} SET user_id = :bob WHERE user_id = :ada"),
                              {"bob": BOB, "ada": ADA})


@pytest.mark.parametrize(("table", "stock"), [
    ("actor_dna", "is_stock"), ("effect_library", "user_id IS NULL")])
async def test_stock_rows_are_read_only(postgres_url: str, table: str, stock: str) -> None:
    async with acting_as(postgres_url, claims_of(ADA)) as ada:
        changed = await ada.execute(text(f"UPDATE {table} SET name = 'Mine' WHERE {stock}"))
        deleted = await ada.execute(text(f"DELETE FROM {table} WHERE {stock}"))
    assert changed.rowcount == deleted.rowcount == 0

    with pytest.raises(DBAPIError, match=REFUSED):
        async with acting_as(postgres_url, claims_of(ADA)) as ada:
            await insert(ada, table, **new_row(table, None))


async def test_an_own_avatar_cannot_be_made_stock(postgres_url: str) -> None:
    with pytest.raises(DBAPIError, match=REFUSED):
        async with acting_as(postgres_url, claims_of(ADA)) as ada:
            await ada.execute(text("UPDATE actor_dna SET is_stock = true WHERE user_id = :ada"),
                              {"ada": ADA})


@pytest.mark.parametrize("claims", [None, {"aud": "authenticated", "role": "authenticated"}],
                         ids=["no claims", "claims without sub"])
async def test_without_a_subject_nothing_is_visible(
    postgres_url: str, claims: dict[str, Any] | None
) -> None:
    async with acting_as(postgres_url, claims) as nobody:
        seen = {table: await owners(nobody, table) for table in ALL_TABLES}

    assert seen == dict.fromkeys(ALL_TABLES, [])


@pytest.mark.parametrize("table", ALL_TABLES)
async def test_the_anon_role_may_not_read_any_table(postgres_url: str, table: str) -> None:
    with pytest.raises(DBAPIError, match="permission denied"):
        async with acting_as(postgres_url, claims_of(ADA), role="anon") as anon:
            await owners(anon, table)


async def test_the_identity_ends_with_the_transaction(postgres_url: str) -> None:
    async with get_engine(postgres_url).connect() as connection:
        async with connection.begin():
            await connection.execute(
                text("SELECT set_config('request.jwt.claims', :claims, true)"),
                {"claims": json.dumps(claims_of(ADA))})
            await connection.execute(text("SET LOCAL ROLE authenticated"))
        after = (await connection.execute(text("SELECT current_user, auth.uid()"))).one()

    assert after[0] != "authenticated" and after[1] is None


async def test_downgrade_removes_the_policies_and_upgrade_restores_them(
    postgres_url: str,
) -> None:
    async def described() -> tuple[int, bool]:
        async with get_engine(postgres_url).connect() as connection:
            policies = await connection.scalar(text("SELECT count(*) FROM pg_policies"))
            has_auth = await connection.scalar(text(
                "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'auth')"))
        return policies, has_auth

    await downgrade_database(postgres_url, "0001")
    assert await described() == (0, False)

    await upgrade_database(postgres_url)
    assert await described() == (4 * len(ALL_TABLES), True)


@pytest.fixture(params=["sqlite", "postgresql"])
async def at_0001(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database migrated to 0001 only, holding a profile, its project and a job of it."""

    async def fill(url: str) -> None:
        await upgrade_database(url, "0001")
        async with get_engine(url).begin() as owner:
            await insert(owner, "user_profiles", id=ADA, email="ada@example.com")
            project = new_row("projects", ADA)
            await insert(owner, "projects", **project)
            await insert(owner, "export_jobs", **new_row("export_jobs", ADA,
                                                         project_id=project["id"]))

    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'aura.db'}"
        try:
            await fill(url)
            yield url
        finally:
            await dispose_engines(url)
    else:
        async with postgres_database() as url:
            await fill(url)
            yield url


async def test_upgrading_keeps_every_row_and_makes_the_email_optional(at_0001: str) -> None:
    await upgrade_database(at_0001)

    async with get_engine(at_0001).begin() as connection:
        kept = [await connection.scalar(text(f"SELECT count(*) FROM {table}"))
                for table in ("user_profiles", "projects", "export_jobs")]
        linked = await connection.scalar(text("SELECT count(project_id) FROM export_jobs"))
        await insert(connection, "user_profiles", id=BOB, email=None)
        await insert(connection, "user_profiles", id=uuid.uuid4(), email=None)

    assert await current_revision(at_0001) == "0006"
    assert kept == [1, 1, 1] and linked == 1
    with pytest.raises(DBAPIError, match="(?i)unique"):
        async with get_engine(at_0001).begin() as connection:
            await insert(connection, "user_profiles", id=uuid.uuid4(), email="ada@example.com")


async def test_downgrading_gives_profiles_without_an_email_a_placeholder(at_0001: str) -> None:
    await upgrade_database(at_0001)
    async with get_engine(at_0001).begin() as connection:
        await insert(connection, "user_profiles", id=BOB, email=None)

    await downgrade_database(at_0001, "0001")

    async with get_engine(at_0001).connect() as connection:
        emails = sorted(email for (email,) in await connection.execute(
            text("SELECT email FROM user_profiles")))
        projects = await connection.scalar(text("SELECT count(*) FROM projects"))
    assert emails[0] == "ada@example.com" and emails[1].endswith("@unknown.invalid")
    assert projects == 1
    with pytest.raises(DBAPIError, match="(?i)not null|null value"):
        async with get_engine(at_0001).begin() as connection:
            await insert(connection, "user_profiles", id=uuid.uuid4(), email=None)


async def test_the_sqlite_file_stays_sound_after_the_migration(tmp_path: Path) -> None:
    path = tmp_path / "aura.db"
    url = f"sqlite+aiosqlite:///{path}"
    try:
        await upgrade_database(url, "0001")
        await upgrade_database(url)
    finally:
        await dispose_engines(url)

    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        assert connection.execute("PRAGMA writable_schema").fetchone() == (0,)
