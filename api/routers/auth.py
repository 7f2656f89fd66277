"""/api/auth: studio accounts (email and password), their sessions and sign-out.

These routes take no bearer token: they hand them out. The access token is the same
Supabase-compatible JWT every other ``/api`` route takes (core/auth.py), valid for
``AURA_ACCESS_TOKEN_TTL_S``; the refresh token is opaque, good for one refresh, and
valid for ``AURA_REFRESH_TOKEN_TTL_S`` (models/accounts.py). The account tables are
read and written through the owner's connection, which is not subject to the row-level
security that keeps callers' own connections away from them (migration 0006).

With ``AURA_SUPABASE_URL`` and ``AURA_SUPABASE_ANON_KEY`` set, sign-up, sign-in, refresh
and sign-out go through Supabase Auth instead (core/supabase_auth.py), and the tokens
handed out are the project's own. The one-time link of local mode stays local.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import jwt_secret, mint_token
from core.db import session_scope
from core.errors import AuthError
from core.settings import get_settings
from core.signin_link import redeem_code
from core.supabase_auth import supabase_auth
from models import accounts
from models.tables import Account

router = APIRouter(prefix="/api/auth", tags=["auth"])
_bearer = HTTPBearer(auto_error=False)

_REFUSED: dict[int | str, dict[str, Any]] = {
    status.HTTP_401_UNAUTHORIZED: {"description": "Refused; `detail` says why, in plain words."},
}


async def owner_session() -> AsyncIterator[AsyncSession]:
    """One transaction on the owner's connection, committed when the handler returns
    (before the response is sent) and rolled back when it raises."""
    async with session_scope() as session:
        yield session


OwnerSession = Annotated[AsyncSession, Depends(owner_session, scope="function")]


class Credentials(BaseModel):
    """An email and a password (the rules for new ones are checked when signing up)."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(examples=["ada@example.com"])
    password: str = Field(examples=["correct horse battery staple"])


class RefreshToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str


class SignInLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=200)
    """The code in the link ``aura serve`` printed (``/#/link/<code>``)."""


class AccountOut(BaseModel):
    id: uuid.UUID
    """The user's id: the ``sub`` of the access token."""
    email: str


class Tokens(BaseModel):
    """What a sign-up, sign-in or refresh hands out (OAuth 2.0's token response)."""

    access_token: str
    """A bearer token for every other ``/api`` route."""
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    """Seconds the access token is valid for."""
    refresh_token: str
    """Good for one ``POST /api/auth/refresh``; that answer carries the next one."""
    user: AccountOut


async def _signed_in(session: AsyncSession, account: Account) -> Tokens:
    """A new sign-in (session family) of ``account``, and its tokens."""
    refresh_token, _ = await accounts.start_session(session, account)
    return _tokens(account, refresh_token)


def _supabase_tokens(session: dict[str, Any]) -> Tokens:
    """Supabase's session, handed on as it is (its access token is the project's JWT)."""
    user = session.get("user") or {}
    return Tokens(access_token=session["access_token"],
                  expires_in=int(session.get("expires_in", 3600)),
                  refresh_token=session["refresh_token"],
                  user=AccountOut(id=user["id"], email=user.get("email") or ""))


def _tokens(account: Account, refresh_token: str) -> Tokens:
    settings = get_settings()
    access_token = mint_token(account.id, jwt_secret(settings),
                              ttl_s=settings.access_token_ttl_s, email=account.email)
    return Tokens(access_token=access_token, expires_in=settings.access_token_ttl_s,
                  refresh_token=refresh_token,
                  user=AccountOut(id=account.id, email=account.email))


@router.post("/signup", status_code=status.HTTP_201_CREATED, response_model=Tokens,
             responses={status.HTTP_409_CONFLICT: {
                 "description": "An account with this email exists."}})
async def sign_up(body: Credentials, session: OwnerSession) -> Tokens:
    """Make an account and sign it in. The email must look like one; the password must
    be 8 to 1024 characters long (422 otherwise, saying which)."""
    if (supabase := supabase_auth(get_settings())) is not None:
        return _supabase_tokens(await supabase.sign_up(body.email, body.password))
    return await _signed_in(session, await accounts.create_account(session, body.email,
                                                                    body.password))


@router.post("/link", response_model=Tokens, responses=_REFUSED)
async def sign_in_by_link(body: SignInLink, session: OwnerSession) -> Tokens:
    """Local single-user mode: the one-time link ``aura serve`` printed signs its reader
    in as the local account, once (core/signin_link.py)."""
    redeem_code(get_settings(), body.code)
    return await _signed_in(session, await accounts.local_account(session))


@router.post("/signin", response_model=Tokens, responses=_REFUSED)
async def sign_in(body: Credentials, session: OwnerSession) -> Tokens:
    """Sign in with an email and password; a wrong one of the two is not told apart."""
    if (supabase := supabase_auth(get_settings())) is not None:
        return _supabase_tokens(await supabase.sign_in(body.email, body.password))
    return await _signed_in(session, await accounts.authenticate(session, body.email,
                                                                  body.password))


@router.post("/refresh", response_model=Tokens, responses=_REFUSED)
async def refresh(body: RefreshToken, session: OwnerSession) -> Tokens:
    """A new access token and a new refresh token; the refresh token sent is spent.

    Sending a spent refresh token again signs out every session descended from the same
    sign-in, its newest one included: a token was copied, and nobody can tell by whom.
    """
    if (supabase := supabase_auth(get_settings())) is not None:
        return _supabase_tokens(await supabase.refresh(body.refresh_token))
    try:
        account, refresh_token = await accounts.rotate(session, body.refresh_token)
    except AuthError:
        await session.commit()  # keep the revocation of a reused token's family
        raise
    return _tokens(account, refresh_token)


@router.post("/signout", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out(body: RefreshToken, session: OwnerSession,
                   credentials: Annotated[HTTPAuthorizationCredentials | None,
                                          Depends(_bearer)]) -> Response:
    """End the session of this refresh token (every token of its sign-in); access tokens
    already handed out stay valid until they expire. An unknown token is no error.
    With Supabase Auth, the session of the bearer token is ended there."""
    if (supabase := supabase_auth(get_settings())) is not None:
        if credentials is not None:
            try:
                await supabase.sign_out(credentials.credentials)
            except AuthError:
                pass  # signed out already
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    await accounts.end_session(session, body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
