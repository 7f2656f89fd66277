"""The accounts repository: studio accounts (email and password) and their sessions.

An account's id is the user's id everywhere: the ``sub`` of its access tokens and the id
of its ``user_profiles`` row, made together with the account. Passwords are kept only as
argon2id hashes (argon2-cffi's defaults, RFC 9106's low-memory profile); hashing takes a
few hundred milliseconds of CPU and 64 MiB, so it runs in a worker thread, off the event
loop.

A sign-in starts a session *family*. Its refresh tokens are opaque random strings, stored
only as their SHA-256, and each is good for one refresh: :func:`rotate` revokes the token
it is given and makes the next one of the family. A revoked token presented again means
that two parties hold the family (a stolen token, most likely): the whole family is
revoked, and whoever holds it must sign in again.

These tables are for the owner's connection (``core.db.session_scope()``) only; on
PostgreSQL a caller's own connection cannot read them (migration 0006). Functions flush;
committing is the caller's business.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import AuthError, InputError
from core.settings import get_settings
from models.tables import Account, AuthSession, UserProfile, utc_now

MAX_EMAIL_CHARS = 320
"""RFC 5321's limits: 64 for the local part, 255 for the domain, and the @."""
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
REFRESH_TOKEN_BYTES = 32
"""Random bytes in a refresh token (43 URL-safe characters)."""

WRONG_CREDENTIALS = "the email or password is wrong"
SIGNED_OUT = "this session was signed out; sign in again"
EXPIRED = "the session has expired; sign in again"
UNKNOWN_SESSION = "the refresh token is not valid; sign in again"

_hasher = PasswordHasher()
_dummy_hash: str | None = None
"""The hash an unknown email's password is checked against (made on first use)."""


class InvalidEmailError(InputError):
    """The text given as an email address does not look like one."""


class InvalidPasswordError(InputError):
    """A new password is too short or too long."""


class EmailTakenError(InputError):
    """Another account already has this email (emails are compared case-insensitively)."""

    http_status = 409

    def __init__(self, email: str) -> None:
        self.email = email
        super().__init__(f"there is already an account with the email {email!r}; "
                         "sign in instead")


def normalize_email(email: str) -> str:
    """``email`` as accounts store it: stripped and lower-cased.

    Raises:
        InvalidEmailError: it is not one ``local@domain.tld`` (exactly one ``@``, something
            before it, a dot inside the domain), is longer than :data:`MAX_EMAIL_CHARS`, or
            holds spaces or control characters.
    """
    address = email.strip().lower()
    local, _, domain = address.partition("@")
    labels = domain.split(".")
    if (len(address) > MAX_EMAIL_CHARS or address.count("@") != 1 or not local
            or len(labels) < 2 or "" in labels
            or any(char.isspace() or not char.isprintable() for char in address)):
        shown = email if len(email) <= 100 else email[:100] + "..."
        raise InvalidEmailError(f"that is not an email address: {shown!r}")
    return address


def check_password(password: str) -> None:
    """Refuse a new password outside :data:`MIN_PASSWORD_CHARS`..:data:`MAX_PASSWORD_CHARS`.

    Raises:
        InvalidPasswordError: it is too short or too long; the message says which.
    """
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidPasswordError(
            f"the password must be at least {MIN_PASSWORD_CHARS} characters long")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidPasswordError(
            f"the password must be at most {MAX_PASSWORD_CHARS} characters long")


def token_hash(refresh_token: str) -> str:
    """What ``auth_sessions.token_hash`` holds for ``refresh_token``: its SHA-256, in hex."""
    return hashlib.sha256(refresh_token.encode("utf-8", "surrogatepass")).hexdigest()


async def create_account(session: AsyncSession, email: str, password: str) -> Account:
    """A new account, and its ``user_profiles`` row (same id, same email).

    If another profile already holds the email (a Supabase user's, say), the new profile
    is made without one, as :mod:`api.deps` does for tokens.

    Raises:
        InvalidEmailError, InvalidPasswordError: see :func:`normalize_email` and
            :func:`check_password`.
        EmailTakenError: an account with this email exists.
    """
    address = normalize_email(email)
    check_password(password)
    if address == LOCAL_EMAIL or await session.scalar(
            select(Account.id).where(Account.email == address)) is not None:
        raise EmailTakenError(address)
    account = Account(id=uuid.uuid4(), email=address,
                      password_hash=await _hash_password(password))
    session.add(account)
    try:
        await session.flush()
    except IntegrityError:
        # Someone signed up with the same email between the check and this insert; the
        # transaction is spoilt, and the caller rolls it back.
        raise EmailTakenError(address) from None
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    add = dialect.insert(UserProfile).on_conflict_do_nothing()
    added = await session.execute(add.values(id=account.id, email=address))
    if added.rowcount == 0:
        await session.execute(add.values(id=account.id, email=None))
    return account


LOCAL_EMAIL = "me@aurastudio.localhost"
"""The account of local single-user mode (``aura serve``'s one-time sign-in link)."""
NO_PASSWORD = "!"
"""A password hash no password matches: the local account signs in only by its link."""


async def local_account(session: AsyncSession) -> Account:
    """The local single-user account, made on first use (with its profile).

    It has no password; :func:`authenticate` never accepts it. Its id is the one
    ``aura token --user me`` uses, so the command line and the studio share projects.
    """
    from core.auth import user_id_for

    account = await session.scalar(select(Account).where(Account.email == LOCAL_EMAIL))
    if account is not None:
        return account
    account = Account(id=user_id_for("me"), email=LOCAL_EMAIL, password_hash=NO_PASSWORD)
    session.add(account)
    await session.flush()
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    await session.execute(dialect.insert(UserProfile).on_conflict_do_nothing()
                          .values(id=account.id, email=LOCAL_EMAIL))
    return account


async def authenticate(session: AsyncSession, email: str, password: str) -> Account:
    """The account with this email and password.

    An unknown email costs as much time as a wrong password (a dummy hash is checked),
    so the answer's timing does not tell whether an account exists. A hash made with
    older parameters than the hasher's is replaced by a new one.

    Raises:
        AuthError: :data:`WRONG_CREDENTIALS`, for an unknown email and for a wrong
            password alike.
    """
    if len(password) > MAX_PASSWORD_CHARS:
        raise AuthError(WRONG_CREDENTIALS)  # no account has one; no need to hash it
    try:
        address: str | None = normalize_email(email)
    except InvalidEmailError:
        address = None
    account = None
    if address is not None:
        account = await session.scalar(select(Account).where(Account.email == address))
    if account is None:
        await _verify_password(await _get_dummy_hash(), password)
        raise AuthError(WRONG_CREDENTIALS)
    if not await _verify_password(account.password_hash, password):
        raise AuthError(WRONG_CREDENTIALS)
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = await _hash_password(password)
        await session.flush()
    return account


async def start_session(session: AsyncSession, account: Account, *,
                        family_id: uuid.UUID | None = None,
                        session_id: uuid.UUID | None = None,
                        ttl_s: int | None = None) -> tuple[str, AuthSession]:
    """A new refresh token for ``account``, and the row that stands for it.

    Args:
        family_id: the family it continues; none starts a new one (a sign-in).
        session_id: the new row's id; none makes one.
        ttl_s: seconds the token is valid for; none means ``AURA_REFRESH_TOKEN_TTL_S``.

    Returns:
        The token (given to the client, never stored) and its ``auth_sessions`` row.
    """
    refresh_token = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
    lifetime_s = get_settings().refresh_token_ttl_s if ttl_s is None else ttl_s
    record = AuthSession(id=session_id or uuid.uuid4(), account_id=account.id,
                         family_id=family_id or uuid.uuid4(),
                         token_hash=token_hash(refresh_token),
                         expires_at=utc_now() + timedelta(seconds=lifetime_s))
    session.add(record)
    await session.flush()
    return refresh_token, record


async def rotate(session: AsyncSession, refresh_token: str) -> tuple[Account, str]:
    """Spend ``refresh_token``: it is revoked, and its successor in the family returned.

    Raises:
        AuthError: :data:`UNKNOWN_SESSION` (never issued), :data:`EXPIRED`, or
            :data:`SIGNED_OUT` (revoked: signed out, or already used). A token already
            used revokes its whole family, and that revocation is flushed before the
            error is raised: the caller must commit even then.
    """
    record = await _find(session, refresh_token)
    if record is None:
        raise AuthError(UNKNOWN_SESSION)
    now = utc_now()
    if record.revoked_at is not None:
        await _revoke_family(session, record.family_id, now)
        raise AuthError(SIGNED_OUT)
    if record.expires_at <= now:
        raise AuthError(EXPIRED)
    successor_id = uuid.uuid4()
    # Conditional, so that of two refreshes racing with one token only one wins.
    spent = await session.execute(
        update(AuthSession)
        .where(AuthSession.id == record.id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now, replaced_by=successor_id)
    )
    if spent.rowcount != 1:
        await _revoke_family(session, record.family_id, now)
        raise AuthError(SIGNED_OUT)
    account = await session.get_one(Account, record.account_id)
    new_token, _ = await start_session(session, account, family_id=record.family_id,
                                       session_id=successor_id)
    return account, new_token


async def end_session(session: AsyncSession, refresh_token: str) -> None:
    """Sign out: revoke the family of ``refresh_token``; an unknown token does nothing."""
    record = await _find(session, refresh_token)
    if record is not None:
        await _revoke_family(session, record.family_id, utc_now())


async def _find(session: AsyncSession, refresh_token: str) -> AuthSession | None:
    return await session.scalar(
        select(AuthSession).where(AuthSession.token_hash == token_hash(refresh_token)))


async def _revoke_family(session: AsyncSession, family_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.family_id == family_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def _hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def _verify_password(password_hash: str, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


async def _get_dummy_hash() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = await _hash_password(secrets.token_urlsafe(16))
    return _dummy_hash
