"""Rate limits: each caller may make ``rate_limit_per_minute`` requests in any 60 seconds.

:class:`RateLimitMiddleware` is plain ASGI, so it covers every HTTP route of the app it
wraps, routes added later included. It asks ``identify(scope)`` who is calling (the app
verifies the JWT and answers ``user:<uuid>``); a caller it cannot name is counted by
address, ``ip:<client host>``. Paths in ``exempt_paths`` (health checks, the API docs)
are never counted. Opening a WebSocket counts as one request (its messages do not);
lifespan events pass untouched.

Counting uses the moving window of the ``limits`` library, so the 101st request within any
60 s is refused, not only within a calendar minute. :func:`limiter_from_settings` keeps
the counters in Redis when ``AURA_REDIS_URL`` is set, so all API processes share one
budget per caller (keys under ``aura:ratelimit:``), and in process memory otherwise (one
budget per process).

Every counted response carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (epoch seconds when one more request will be allowed). A refused
request gets 429, ``Retry-After`` in whole seconds and a JSON ``detail`` in plain words;
a refused WebSocket handshake gets the same 429 as its HTTP answer where the server can
send one (uvicorn can), and is closed with 1008 (policy violation) before it opens
otherwise.

When Redis cannot be reached the limiter fails open: requests pass without X-RateLimit
headers, a warning is logged once per outage, and Redis is not asked again for
:data:`STORAGE_RETRY_S`, so a dead Redis costs a request at most one
:data:`REDIS_TIMEOUT_S`. Refusing every request while a counter is down would turn a
Redis outage into an API outage; going unlimited for a while costs less.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from starlette.responses import JSONResponse
from starlette.status import WS_1008_POLICY_VIOLATION
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from core.errors import ConfigError
from core.settings import Settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "aura:ratelimit"
"""Prefix of every rate-limit key in Redis."""

EXEMPT_PATHS = frozenset({"/health", "/docs", "/openapi.json"})
"""Paths never counted: health probes and the API's own documentation."""

REDIS_TIMEOUT_S = 0.5
"""Longest wait for Redis to connect or answer before the request passes unlimited."""

STORAGE_RETRY_S = 5.0
"""After Redis failed, requests pass unlimited this long before Redis is asked again."""

Identify = Callable[[Scope], str | None]
"""Names the caller of an HTTP request (``"user:<uuid>"``), or None when it cannot; it
should not raise (an invalid token is None: the request is then counted by address)."""


@dataclass(frozen=True)
class Budget:
    """Where a caller stands after one request was counted.

    ``reset_epoch_s``: when one more request will be allowed (epoch seconds).
    """

    allowed: bool
    limit: int
    remaining: int
    reset_epoch_s: float

    def retry_after_s(self) -> int:
        """Whole seconds to wait before trying again (at least 1)."""
        return max(1, math.ceil(self.reset_epoch_s - time.time()))

    def headers(self) -> dict[str, str]:
        """The X-RateLimit-* headers of a counted response."""
        return {"X-RateLimit-Limit": str(self.limit),
                "X-RateLimit-Remaining": str(self.remaining),
                "X-RateLimit-Reset": str(math.ceil(self.reset_epoch_s))}


class RateLimiter:
    """Counts requests per caller in a moving 60 s window kept in ``storage``.

    ``storage`` is an async ``limits`` storage (``async+memory://``,
    ``async+redis://…``); create it with ``wrap_exceptions=True`` so that an unreachable
    Redis is recognised and the limiter fails open. ``redis_pool``, when given, holds the
    storage's Redis connections; :meth:`aclose` closes them.
    """

    def __init__(self, storage: Storage, *, per_minute: int,
                 redis_pool: ConnectionPool | None = None):
        if per_minute < 1:
            raise ValueError(f"per_minute must be at least 1, not {per_minute}")
        self.per_minute = per_minute
        self._redis_pool = redis_pool
        self._item = RateLimitItemPerMinute(per_minute)
        self._strategy = MovingWindowRateLimiter(storage)
        # time.monotonic() of the storage's last failure; None while it answers.
        self._storage_failed_at: float | None = None

    async def hit(self, caller: str) -> Budget | None:
        """Count one request of ``caller``; None when the storage cannot be reached."""
        failed_at = self._storage_failed_at
        if failed_at is not None and time.monotonic() - failed_at < STORAGE_RETRY_S:
            return None
        try:
            allowed = await self._strategy.hit(self._item, caller)
            window = await self._strategy.get_window_stats(self._item, caller)
        except StorageError as exc:
            if self._storage_failed_at is None:
                logger.warning("rate limits are off: their storage cannot be reached (%s); "
                               "requests pass unlimited until it answers", exc.storage_error)
            self._storage_failed_at = time.monotonic()
            return None
        if self._storage_failed_at is not None:
            logger.warning("rate limits are on again: their storage answers")
            self._storage_failed_at = None
        return Budget(allowed=allowed, limit=self.per_minute,
                      remaining=max(0, window.remaining),
                      reset_epoch_s=max(window.reset_time, time.time()))

    async def aclose(self) -> None:
        """Close the Redis connections, if any (at application shutdown)."""
        if self._redis_pool is not None:
            await self._redis_pool.aclose()


def limiter_from_settings(settings: Settings, *, key_prefix: str = KEY_PREFIX) -> RateLimiter:
    """A limiter on Redis when ``settings.redis_url`` is set, in process memory otherwise.

    Args:
        settings: ``rate_limit_per_minute`` and ``redis_url`` (``redis://host:port/db``
            or ``rediss://…``) are read.
        key_prefix: prefix of the Redis keys; processes sharing a budget use the same one.

    Call the limiter's :meth:`~RateLimiter.aclose` at shutdown.

    Raises:
        ConfigError: ``redis_url`` is not a redis:// or rediss:// URL.
    """
    per_minute = settings.rate_limit_per_minute
    url = settings.redis_url
    if not url:
        return RateLimiter(storage_from_string("async+memory://"), per_minute=per_minute)
    if not url.startswith(("redis://", "rediss://")):
        raise ConfigError(f"AURA_REDIS_URL must start with redis:// or rediss://, "
                          f"not {url.split('://')[0]!r}")
    # One immediate retry (for a pooled connection the server has closed), then fail open.
    pool = ConnectionPool.from_url(url, socket_connect_timeout=REDIS_TIMEOUT_S,
                                   socket_timeout=REDIS_TIMEOUT_S,
                                   retry=Retry(NoBackoff(), retries=1))
    storage = storage_from_string(f"async+{url}", implementation="redispy",
                                  key_prefix=key_prefix, wrap_exceptions=True,
                                  connection_pool=pool)
    return RateLimiter(storage, per_minute=per_minute, redis_pool=pool)


class RateLimitMiddleware:
    """ASGI middleware that counts each HTTP request and WebSocket handshake against its
    caller's budget.

    Add it with ``app.add_middleware(RateLimitMiddleware, limiter=…, identify=…)``.
    """

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, identify: Identify,
                 exempt_paths: Collection[str] = EXEMPT_PATHS, counted_prefix: str = "/"):
        self.app = app
        self.limiter = limiter
        self.identify = identify
        self.exempt_paths = frozenset(exempt_paths)
        self.counted_prefix = counted_prefix
        """Only paths under it count (the app counts ``/api/``: the studio's static files
        are free)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in _COUNTED or scope["path"] in self.exempt_paths \
                or not scope["path"].startswith(self.counted_prefix):
            await self.app(scope, receive, send)
            return
        budget = await self.limiter.hit(self.identify(scope) or _client_address(scope))
        if budget is None:
            await self.app(scope, receive, send)
            return
        headers = budget.headers()
        if not budget.allowed:
            retry_after_s = budget.retry_after_s()
            detail = (f"too many requests: the limit is {budget.limit} per minute; "
                      f"try again in {retry_after_s} s")
            refusal = JSONResponse({"detail": detail}, status_code=429,
                                   headers={**headers, "Retry-After": str(retry_after_s)})
            if scope["type"] == "websocket":
                await _refuse_handshake(WebSocket(scope, receive, send), refusal, detail)
            else:
                await refusal(scope, receive, send)
            return
        raw_headers = [(name.lower().encode("latin-1"), value.encode("latin-1"))
                       for name, value in headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] in _RESPONSE_STARTS:
                message = {**message, "headers": [*message.get("headers", ()), *raw_headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


_COUNTED = frozenset({"http", "websocket"})
_RESPONSE_STARTS = frozenset({"http.response.start", "websocket.accept"})


async def _refuse_handshake(websocket: WebSocket, refusal: JSONResponse, detail: str) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(refusal)
    else:
        await websocket.close(WS_1008_POLICY_VIOLATION, reason=detail[:_MAX_CLOSE_REASON_BYTES])


_MAX_CLOSE_REASON_BYTES = 123
"""A close frame's reason is at most 123 bytes (RFC 6455)."""


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return f"ip:{client[0] if client else 'unknown'}"
