"""The FastAPI application: a thin layer that validates, stores, starts flow runs and
reports their state.

Every route under ``/api`` takes a Supabase-compatible JWT (api/deps.py; ``/api/auth``
makes them for studio accounts) and is rate limited per user (api/ratelimit.py); errors
are ``{"detail": ...}`` with the status of their class (api/errors.py, api/uploads.py).
OpenAPI at ``/docs``. The web studio (web/) is served at ``/``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from api.errors import register_error_handlers
from api.ratelimit import RateLimitMiddleware, limiter_from_settings
from api.realtime import RealtimeHub
from api.routers import (
    assets,
    audio,
    auth,
    avatars,
    export,
    health,
    me,
    preview,
    projects,
    realtime,
    scripts,
    voices,
)
from api.uploads import register_upload_errors
from core.auth import peek_bearer
from core.db import session_scope
from core.settings import get_settings

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
"""The studio (web/): static files served at ``/``, no build step."""


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
    claims = peek_bearer(token, get_settings())
    return f"user:{claims.sub}" if claims is not None else None


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
    app.add_middleware(RateLimitMiddleware, limiter=limiter, identify=caller_key,
                       counted_prefix="/api/")
    for module in (health, auth, me, projects, scripts, export, assets, avatars, audio,
                   realtime, preview, voices):
        app.include_router(module.router)
    add_studio(app)
    return app


def add_studio(app: FastAPI) -> None:
    """Serve the studio's files: ``/`` (index.html), ``/styles.css``, ``/js/...`` and the
    vendored ``/node_modules/...``. Only these paths, so routes added later still match
    and an unknown path is a plain 404."""
    index, styles = WEB_DIR / "index.html", WEB_DIR / "styles.css"

    @app.get("/", include_in_schema=False)
    async def studio() -> FileResponse:
        return FileResponse(index, media_type="text/html")

    @app.get("/styles.css", include_in_schema=False)
    async def studio_styles() -> FileResponse:
        return FileResponse(styles, media_type="text/css")

    app.mount("/js", StaticFiles(directory=WEB_DIR / "js"), name="studio-js")
    app.mount("/node_modules", StaticFiles(directory=WEB_DIR / "node_modules",
                                           check_dir=False), name="studio-vendor")
