"""The FastAPI application: a thin layer that validates, stores, starts flow runs and
reports their state.

Every route under ``/api`` takes a Supabase-compatible JWT (api/deps.py) and is rate
limited per user (api/ratelimit.py); errors are ``{"detail": ...}`` with the status of
their class (api/errors.py, api/uploads.py). OpenAPI at ``/docs``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs

from fastapi import FastAPI
from starlette.types import Scope

from api.errors import register_error_handlers
from api.ratelimit import RateLimitMiddleware, limiter_from_settings
from api.realtime import RealtimeHub
from api.routers import assets, audio, avatars, export, health, me, projects, realtime, scripts
from api.uploads import register_upload_errors
from core.auth import decode_token, jwt_secret
from core.db import session_scope
from core.errors import AuthError
from core.settings import get_settings

logger = logging.getLogger(__name__)


async def prepare_database() -> None:
    """Write the stock rows (avatars, voices, effect presets) as the database's owner.

    Requests act as their caller, whom row-level security does not let write stock rows,
    so the API makes sure they are there before it serves (``aura serve`` and the app's
    startup call this; it writes nothing when they are up to date).
    """
    from models.effects import sync_stock_library
    from tasks.avatar.actors import sync_stock_actors
    from tasks.voice.catalogue import stock_library

    async with session_scope() as session:
        await sync_stock_actors(session)
        await sync_stock_library(session, stock_library())


def caller_key(scope: Scope) -> str | None:
    """``user:<id>`` of a request with a valid bearer token, for the rate limit.

    The token is read from ``Authorization: Bearer``, or for a WebSocket from its
    ``?token=`` (browsers cannot set headers on one; a token sent in the join message
    comes too late, and such a handshake counts by address).
    """
    token = _bearer_token(scope)
    if token is None and scope["type"] == "websocket":
        token = next(iter(parse_qs(scope.get("query_string", b"").decode("latin-1"))
                          .get("token", ())), None)
    if not token:
        return None
    try:
        return f"user:{decode_token(token, jwt_secret(get_settings())).sub}"
    except AuthError:
        return None


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def create_app() -> FastAPI:
    settings = get_settings()
    limiter = limiter_from_settings(settings)
    hub = RealtimeHub()  # started by its first subscriber (api/routers/realtime.py)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await prepare_database()
        yield
        await hub.close()
        await limiter.aclose()

    app = FastAPI(title="AuraStudio", version="0.1.0", lifespan=lifespan,
                  description="Scripts become talking-avatar videos. Every /api route takes "
                              "a bearer JWT (`aura token --user NAME` makes one).")
    app.state.realtime = hub
    register_error_handlers(app)
    register_upload_errors(app)
    app.add_middleware(RateLimitMiddleware, limiter=limiter, identify=caller_key)
    for module in (health, me, projects, scripts, export, assets, avatars, audio, realtime):
        app.include_router(module.router)
    return app
