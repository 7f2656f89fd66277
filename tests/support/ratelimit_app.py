"""A tiny app behind the rate limiter: built in-process by tests, or served by uvicorn.

``create_app(limiter)`` has ``/health`` (exempt) and ``/work`` (counted); the caller is
named by the ``x-test-user`` header. For separate processes, uvicorn serves
``tests.support.ratelimit_app:app_from_env`` with ``--factory``: settings come from the
environment (``AURA_REDIS_URL``, ``AURA_RATE_LIMIT_PER_MINUTE``) and
``AURA_TEST_RATELIMIT_PREFIX`` names the Redis key prefix, so each test has its own budgets.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import Scope

from api.ratelimit import RateLimiter, RateLimitMiddleware, limiter_from_settings
from core.settings import Settings

USER_HEADER = "x-test-user"


def identify_by_header(scope: Scope) -> str | None:
    """``user:<x-test-user header>``, or None when the request has no such header."""
    for name, value in scope["headers"]:
        if name == USER_HEADER.encode("latin-1"):
            return f"user:{value.decode('latin-1')}"
    return None


def create_app(limiter: RateLimiter) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await limiter.aclose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/work")
    async def work() -> dict[str, str]:
        return {"done": "yes"}

    app.add_middleware(RateLimitMiddleware, limiter=limiter, identify=identify_by_header)
    return app


def app_from_env() -> FastAPI:
    prefix = os.environ["AURA_TEST_RATELIMIT_PREFIX"]
    return create_app(limiter_from_settings(Settings(), key_prefix=prefix))
