"""FastAPI dependencies: who is calling, and a database session that acts as them.

Handlers take the typed aliases, never build sessions themselves::

    async def handler(user: CurrentUser, session: UserSession) -> ...

``CurrentUser`` is the caller of a valid ``Authorization: Bearer`` token (401 with a plain
``detail`` otherwise). ``UserSession`` is one transaction for the request: on PostgreSQL
it carries the caller's JWT claims and the role ``authenticated``, so the row-level
security policies of migration 0002 decide which rows it sees and may write; on SQLite
there are no policies, and the repositories filter by ``user.id``.

A handler that waits on something slow (Prefect, storage) commits first, which gives
the connection back to the pool meanwhile; every later transaction of the session acts
as the caller again. The transaction is committed when the handler returns, *before* the
response is sent (``Depends(..., scope="function")``). FastAPI's default scope for
dependencies with ``yield`` ends them after the response has gone out: a client could
then read before the write it was told about is committed, and a failed commit would
never reach it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import event, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import verify_bearer
from core.db import get_sessionmaker
from core.errors import AuthError
from core.settings import get_settings
from models.tables import UserProfile

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_401_UNAUTHORIZED: {
        "description": "No bearer token, or one that cannot be trusted; `detail` says why.",
    },
}
"""``responses=`` of routes that take a user, so the OpenAPI schema lists their 401."""

_bearer = HTTPBearer(auto_error=False,
                     description="A Supabase-compatible JWT (`aura token --user NAME` makes one).")

# set_config(..., true) is SET LOCAL: both end with the transaction, so a pooled connection
# never carries one caller's identity into another's request. One round trip for both.
_ACT_AS_CALLER = text("SELECT set_config('request.jwt.claims', :claims, true), "
                      "set_config('role', 'authenticated', true)")


@dataclass(frozen=True)
class User:
    """The caller: ``id`` is the token's ``sub``; ``claims`` all of its verified claims."""

    id: UUID
    claims: dict[str, Any]
    email: str | None = None


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=reason,
                         headers={"WWW-Authenticate": "Bearer"})


async def current_user(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """The caller named by the request's bearer token.

    Raises:
        HTTPException: 401, with ``WWW-Authenticate: Bearer`` and a ``detail`` that says
            what is wrong (no token, garbled, expired, wrong signature or audience, ...).
    """
    if credentials is None:
        raise _unauthorized("no bearer token: send the header 'Authorization: Bearer <token>'")
    try:
        claims = await verify_bearer(credentials.credentials, get_settings())
    except AuthError as exc:
        raise _unauthorized(str(exc)) from None
    return User(id=claims.sub, claims=claims.model_dump(mode="json", exclude_none=True),
                email=claims.email)


CurrentUser = Annotated[User, Depends(current_user)]


async def user_session(user: CurrentUser) -> AsyncIterator[AsyncSession]:
    """A session in one transaction that acts as ``user``; see the module docstring.

    Before the handler runs, the caller's ``user_profiles`` row is made if it is missing
    (their first request). The transaction commits when the handler returns and rolls
    back when it raises (an ``HTTPException`` included).
    """
    async with get_sessionmaker()() as session:
        if session.bind.dialect.name == "postgresql":
            _act_as_caller_in_every_transaction(session, user)
        try:
            await _ensure_profile(session, user)
            yield session
        except Exception:
            await session.rollback()
            raise
        await session.commit()
        for known in session.sync_session.info.pop("aura_profiles_made", ()):
            _remember(known)  # only once the new profile is committed


UserSession = Annotated[AsyncSession, Depends(user_session, scope="function")]


def _act_as_caller_in_every_transaction(session: AsyncSession, user: User) -> None:
    """Run :data:`_ACT_AS_CALLER` at the start of each transaction of ``session``.

    A handler may commit early to give its connection back before a slow call (Prefect,
    storage); a later query then begins a new transaction, on whichever connection the
    pool hands out, and must act as the caller there too.
    """
    claims = json.dumps(user.claims)

    def act_as_caller(_session: Any, _transaction: Any, connection: Any) -> None:
        connection.execute(_ACT_AS_CALLER, {"claims": claims})

    event.listen(session.sync_session, "after_begin", act_as_caller)


async def _ensure_profile(session: AsyncSession, user: User) -> None:
    """Make the caller's profile on first sight; otherwise one primary-key read.

    The read comes first because on SQLite any INSERT, even one that ends up doing
    nothing, takes the database's write lock until the request's transaction ends.
    """
    known = (str(session.bind.url), user.id)
    if known in _known_profiles:
        return
    if await session.scalar(select(UserProfile.id).where(UserProfile.id == user.id)) is not None:
        _remember(known)
        return
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    # DO NOTHING: a concurrent first request of the same user may have made it meanwhile.
    add = dialect.insert(UserProfile).on_conflict_do_nothing()
    added = await session.execute(add.values(id=user.id, email=user.email))
    if added.rowcount == 0 and user.email is not None:
        # Another profile holds this email (a deleted account's, say): keep it off this one.
        await session.execute(add.values(id=user.id, email=None))
    session.sync_session.info.setdefault("aura_profiles_made", []).append(known)


KNOWN_PROFILES_MAX = 100_000
"""Profiles known to exist, per database URL, so a user's later requests skip the read."""
_known_profiles: set[tuple[str, UUID]] = set()


def _remember(known: tuple[str, UUID]) -> None:
    if len(_known_profiles) >= KNOWN_PROFILES_MAX:
        _known_profiles.clear()
    _known_profiles.add(known)
