"""Studio accounts and their refresh-token sessions (models/accounts.py, migration 0006),
on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from pydantic import ValidationError
from sqlalchemy import func, inspect, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import status_for
from core.db import get_engine, session_scope
from core.errors import AuthError, InputError
from core.settings import Settings
from models import accounts
from models.accounts import (
    EXPIRED,
    SIGNED_OUT,
    UNKNOWN_SESSION,
    WRONG_CREDENTIALS,
    EmailTakenError,
    InvalidEmailError,
    InvalidPasswordError,
)
from models.schema import upgrade_database
from models.tables import Account, AuthSession, UserProfile
from tests.support.databases import postgres_database

PASSWORD = "correct horse battery staple"


async def sessions_of(session: AsyncSession, account: Account) -> list[AuthSession]:
    rows = await session.scalars(select(AuthSession).where(AuthSession.account_id == account.id)
                                 .order_by(AuthSession.created_at))
    return list(rows)


async def test_an_account_is_stored_with_a_clean_email_and_an_argon2id_hash(
    session: AsyncSession,
) -> None:
    account = await accounts.create_account(session, "  Ada@Example.COM ", PASSWORD)
    await session.commit()

    row = (await session.execute(text("SELECT * FROM accounts"))).mappings().one()
    assert row["email"] == "ada@example.com"
    assert row["password_hash"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PasswordHasher().verify(row["password_hash"], PASSWORD)
    assert all(PASSWORD not in str(value) for value in row.values())
    assert str(row["id"]).replace("-", "") == account.id.hex


async def test_an_account_comes_with_its_profile(session: AsyncSession) -> None:
    account = await accounts.create_account(session, "ada@example.com", PASSWORD)
    await session.commit()

    profile = await session.get_one(UserProfile, account.id)
    assert profile.email == "ada@example.com"


async def test_an_email_another_profile_holds_is_kept_off_the_new_profile(
    session: AsyncSession,
) -> None:
    session.add(UserProfile(id=uuid.uuid4(), email="ada@example.com"))
    await session.flush()

    account = await accounts.create_account(session, "ada@example.com", PASSWORD)

    assert (await session.get_one(UserProfile, account.id)).email is None
    assert account.email == "ada@example.com"


async def test_an_email_has_one_account_whatever_its_case(session: AsyncSession) -> None:
    await accounts.create_account(session, "ada@example.com", PASSWORD)
    await session.commit()

    with pytest.raises(EmailTakenError) as taken:
        await accounts.create_account(session, " ADA@example.com", "another password")
    assert str(taken.value) == ("there is already an account with the email "
                                "'ada@example.com'; sign in instead")
    assert isinstance(taken.value, InputError) and status_for(taken.value) == 409


@pytest.mark.parametrize("email", [
    "ada", "ada@", "@example.com", "ada@example", "ada@@example.com", "ada@exa@mple.com",
    "ada@example.", "ada@.example.com", "ada@example..com", "a da@example.com",
    "ada\x00@example.com", "", "a" * 310 + "@example.com",
])
async def test_something_that_is_not_an_email_is_refused(session: AsyncSession,
                                                         email: str) -> None:
    with pytest.raises(InvalidEmailError) as refused:
        await accounts.create_account(session, email, PASSWORD)
    assert str(refused.value).startswith("that is not an email address: ")
    assert await session.scalar(select(func.count()).select_from(Account)) == 0


def test_the_refusal_names_the_email_but_not_all_of_a_long_one() -> None:
    with pytest.raises(InvalidEmailError, match=r"^that is not an email address: 'ada'$"):
        accounts.normalize_email("ada")
    with pytest.raises(InvalidEmailError) as refused:
        accounts.normalize_email("x" * 5000)
    assert len(str(refused.value)) < 200


@pytest.mark.parametrize(("password", "message"), [
    ("", "the password must be at least 8 characters long"),
    ("1234567", "the password must be at least 8 characters long"),
    ("x" * 1025, "the password must be at most 1024 characters long"),
])
async def test_a_password_too_short_or_too_long_is_refused(
    session: AsyncSession, password: str, message: str,
) -> None:
    with pytest.raises(InvalidPasswordError, match=f"^{message}$"):
        await accounts.create_account(session, "ada@example.com", password)
    assert await session.scalar(select(func.count()).select_from(Account)) == 0


async def test_a_password_of_8_or_1024_characters_is_accepted(session: AsyncSession) -> None:
    await accounts.create_account(session, "ada@example.com", "12345678")
    await accounts.create_account(session, "bob@example.com", "é" * 1024)

    assert await session.scalar(select(func.count()).select_from(Account)) == 2


async def test_the_right_email_and_password_find_the_account(session: AsyncSession) -> None:
    made = await accounts.create_account(session, "ada@example.com", PASSWORD)

    found = await accounts.authenticate(session, " ADA@example.com ", PASSWORD)

    assert found.id == made.id


@pytest.mark.parametrize(("email", "password"), [
    ("ada@example.com", "wrong password"),
    ("ada@example.com", PASSWORD.upper()),
    ("bob@example.com", PASSWORD),
    ("not an email", PASSWORD),
    ("ada@example.com", "x" * 5000),
])
async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(
    session: AsyncSession, email: str, password: str,
) -> None:
    await accounts.create_account(session, "ada@example.com", PASSWORD)

    with pytest.raises(AuthError) as refused:
        await accounts.authenticate(session, email, password)
    assert str(refused.value) == WRONG_CREDENTIALS == "the email or password is wrong"


async def test_an_unknown_email_costs_a_password_check_too(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch,
) -> None:
    await accounts.create_account(session, "ada@example.com", PASSWORD)
    checked: list[str] = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002
            checked.append(str(hash))
            return super().verify(hash, password)

    monkeypatch.setattr(accounts, "_hasher", CountingHasher())

    for email in ("bob@example.com", "ada@example.com"):
        with pytest.raises(AuthError):
            await accounts.authenticate(session, email, "wrong password")

    assert len(checked) == 2
    assert all(h.startswith("$argon2id$v=19$m=65536,t=3,p=4$") for h in checked)


async def test_a_hash_made_with_weaker_parameters_is_replaced_at_sign_in(
    session: AsyncSession,
) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    account = Account(email="ada@example.com", password_hash=weak.hash(PASSWORD))
    session.add(account)
    await session.flush()

    await accounts.authenticate(session, "ada@example.com", PASSWORD)
    await session.commit()

    stored = await session.scalar(select(Account.password_hash))
    assert stored is not None and stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert not PasswordHasher().check_needs_rehash(stored)
    assert (await accounts.authenticate(session, "ada@example.com", PASSWORD)).id == account.id


async def test_a_refresh_token_is_stored_only_as_its_sha256(session: AsyncSession) -> None:
    account = await accounts.create_account(session, "ada@example.com", PASSWORD)

    token, record = await accounts.start_session(session, account, ttl_s=60)
    await session.commit()

    row = (await session.execute(text("SELECT * FROM auth_sessions"))).mappings().one()
    assert len(token) >= 43
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert all(token not in str(value) for value in row.values())
    assert row["revoked_at"] is None and row["replaced_by"] is None
    expected = datetime.now(UTC) + timedelta(seconds=60)
    assert abs(record.expires_at - expected) < timedelta(seconds=5)


async def test_every_sign_in_starts_its_own_family(session: AsyncSession) -> None:
    account = await accounts.create_account(session, "ada@example.com", PASSWORD)

    first, one = await accounts.start_session(session, account)
    second, other = await accounts.start_session(session, account)

    assert first != second and one.family_id != other.family_id


async def test_a_refresh_spends_the_token_and_hands_out_its_successor(
    session: AsyncSession,
) -> None:
    account = await accounts.create_account(session, "ada@example.com", PASSWORD)
    first, _ = await accounts.start_session(session, account)

    refreshed, second = await accounts.rotate(session, first)

    assert refreshed.id == account.id and second != first
    old, new = await sessions_of(session, account)
    assert old.revoked_at is not None and old.replaced_by == new.id
    assert new.revoked_at is None and new.family_id == old.family_id
    with pytest.raises(AuthError, match=f"^{SIGNED_OUT}$"):
        await accounts.rotate(session, first)


async def test_a_spent_token_used_again_signs_out_its_whole_family(
    session: AsyncSession,
) -> None:
    account = await accounts.create_account(session, "ada@example.com", PASSWORD)
    first, _ = await accounts.start_session(session, account)
    elsewhere, _ = await accounts.start_session(session, account)  # another sign-in
    _, second = await accounts.rotate(session, first)

    with pytest.raises(AuthError, match="^this session was signed out; sign in again$"):
        await accounts.rotate(session, first)

    with pytest.raises(AuthError, match=f"^{SIGNED_OUT}$"):
        await accounts.rotate(session, second)
    _, still = await accounts.rotate(session, elsewhere)
    assert still


async def test_the_family_is_signed_out_even_when_the_refusal_is_committed_alone(
    database_url: str,
) -> None:
    async with session_scope(database_url) as session:
        account = await accounts.create_account(session, "ada@example.com", PASSWORD)
        first, _ = await accounts.start_session(session, account)
        _, second = await accounts.rotate(session, first)

    async with session_scope(database_url) as session:
        with pytest.raises(AuthError):
            await accounts.rotate(session, first)
        await session.commit()

    async with session_scope(database_url) as session:
        revoked = await session.scalars(select(AuthSession.revoked_at))
        assert all(when is not None for when in revoked)
        with pytest.raises(AuthError, match=f"^{SIGNED_OUT}$"):
            await accounts.rotate(session, second)


async def test_an_expired_token_is_refused(session: AsyncSession) -> None:
    account = await accounts.create_account(session, "ada@example.com", PASSWORD)
    token, record = await accounts.start_session(session, account)
    await session.execute(update(AuthSession).where(AuthSession.id == record.id)
                          .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))

    with pytest.raises(AuthError, match="^the session has expired; sign in again$") as refused:
        await accounts.rotate(session, token)
    assert str(refused.value) == EXPIRED


async def test_a_token_that_was_never_issued_is_refused(session: AsyncSession) -> None:
    with pytest.raises(AuthError, match=f"^{UNKNOWN_SESSION}$"):
        await accounts.rotate(session, "made-up-token")


async def test_signing_out_ends_every_token_of_the_sign_in(session: AsyncSession) -> None:
    account = await accounts.create_account(session, "ada@example.com", PASSWORD)
    first, _ = await accounts.start_session(session, account)
    elsewhere, _ = await accounts.start_session(session, account)
    _, second = await accounts.rotate(session, first)

    await accounts.end_session(session, second)

    for token in (first, second):
        with pytest.raises(AuthError, match=f"^{SIGNED_OUT}$"):
            await accounts.rotate(session, token)
    _, still = await accounts.rotate(session, elsewhere)
    assert still


async def test_signing_out_with_an_unknown_token_changes_nothing(session: AsyncSession) -> None:
    account = await accounts.create_account(session, "ada@example.com", PASSWORD)
    token, _ = await accounts.start_session(session, account)

    await accounts.end_session(session, "made-up-token")

    assert (await accounts.rotate(session, token))[0].id == account.id


async def test_deleting_an_account_deletes_its_sessions(database_url: str) -> None:
    async with session_scope(database_url) as session:
        account = await accounts.create_account(session, "ada@example.com", PASSWORD)
        await accounts.start_session(session, account)
    async with session_scope(database_url) as session:
        await session.delete(await session.get_one(Account, account.id))
    async with session_scope(database_url) as session:
        assert await session.scalar(select(func.count()).select_from(AuthSession)) == 0


async def test_the_account_tables_have_their_conventional_names(database_url: str) -> None:
    def described(connection):  # noqa: ANN001, ANN202
        inspector = inspect(connection)
        return (
            {uq["name"] for t in ("accounts", "auth_sessions")
             for uq in inspector.get_unique_constraints(t)},
            {ix["name"] for ix in inspector.get_indexes("auth_sessions")
             if not ix.get("duplicates_constraint")},  # PostgreSQL's index of a UNIQUE
            {(fk["name"], fk["options"].get("ondelete"))
             for fk in inspector.get_foreign_keys("auth_sessions")},
        )

    async with get_engine(database_url).connect() as connection:
        uniques, indexes, foreign_keys = await connection.run_sync(described)

    assert uniques == {"uq_accounts_email", "uq_auth_sessions_token_hash"}
    assert indexes == {"ix_auth_sessions_family_id", "ix_auth_sessions_account_id"}
    assert foreign_keys == {("fk_auth_sessions_account_id_accounts", "CASCADE")}


@pytest.mark.parametrize("field", ["access_token_ttl_s", "refresh_token_ttl_s"])
@pytest.mark.parametrize("seconds", [0, -1])
def test_token_lifetimes_must_be_positive(field: str, seconds: int) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(**{field: seconds})


def test_token_lifetimes_default_to_15_minutes_and_30_days() -> None:
    settings = Settings()
    assert settings.access_token_ttl_s == 15 * 60
    assert settings.refresh_token_ttl_s == 30 * 24 * 3600


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A migrated PostgreSQL database with one account, signed in once."""
    async with postgres_database() as url:
        await upgrade_database(url)
        async with session_scope(url) as session:
            account = await accounts.create_account(session, "ada@example.com", PASSWORD)
            await accounts.start_session(session, account)
        yield url


@pytest.mark.parametrize("table", ["accounts", "auth_sessions"])
@pytest.mark.parametrize("role", ["authenticated", "anon"])
async def test_a_callers_own_connection_cannot_read_the_account_tables(
    postgres_url: str, table: str, role: str,
) -> None:
    async with get_engine(postgres_url).connect() as owner:
        account_id = await owner.scalar(text("SELECT id FROM accounts"))
    claims = {"sub": str(account_id), "aud": "authenticated", "role": "authenticated",
              "exp": 4_102_444_800}
    async with get_engine(postgres_url).connect() as connection:
        with pytest.raises(DBAPIError, match=f"permission denied for table {table}"):
            async with connection.begin():
                await connection.execute(
                    text("SELECT set_config('request.jwt.claims', :claims, true)"),
                    {"claims": json.dumps(claims)})
                await connection.execute(text(f"SET LOCAL ROLE {role}"))
                await connection.execute(text(f"SELECT * FROM {table}"))


@pytest.mark.parametrize("table", ["accounts", "auth_sessions"])
async def test_the_account_tables_have_row_level_security_with_no_policy(
    postgres_url: str, table: str,
) -> None:
    async with get_engine(postgres_url).connect() as connection:
        enabled, forced = (await connection.execute(text(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = :table"),
            {"table": table})).one()
        policies = await connection.scalar(text(
            "SELECT count(*) FROM pg_policies WHERE tablename = :table"), {"table": table})
        grants = await connection.scalar(text(
            "SELECT count(*) FROM information_schema.role_table_grants "
            "WHERE table_name = :table AND grantee IN ('authenticated', 'anon', 'PUBLIC')"),
            {"table": table})
        # Not forced: the owner's connection reads them (here a superuser, as in the tests
        # of migration 0002).
        rows = await connection.scalar(text(f"SELECT count(*) FROM {table}"))

    assert (enabled, forced, policies, grants, rows) == (True, False, 0, 0, 1)
