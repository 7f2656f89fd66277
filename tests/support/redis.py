"""Redis fixtures (a pytest plugin, registered in tests/conftest.py).

``redis_url`` is the URL of a Redis server that answered a PING:
``redis://127.0.0.1:6379/0`` unless ``AURA_TEST_REDIS_URL`` names another. When it cannot
be reached the test is skipped with a message saying so, except when ``CI`` is set to a
true value: CI must reach it, so there it fails.

``redis_key_prefix`` is a key prefix for one test alone; its keys are deleted afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
import redis

from tests.support.databases import _skip_or_fail

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
CONNECT_TIMEOUT_S = 2.0

_unreachable_reason: str | None = None
"""Set after the first failed connection, so later tests skip without waiting again."""


def _server_url() -> str:
    return os.environ.get("AURA_TEST_REDIS_URL") or DEFAULT_REDIS_URL


@pytest.fixture
def redis_url() -> str:
    """The URL of a reachable Redis server (skips, or fails in CI, when there is none)."""
    global _unreachable_reason
    if _unreachable_reason is not None:
        _skip_or_fail(_unreachable_reason)
    url = _server_url()
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S) as client:
            client.ping()
    except redis.RedisError as exc:
        _unreachable_reason = (f"Redis is not reachable at {url}: start it to run the "
                               f"Redis tests ({type(exc).__name__}: {exc})")
        _skip_or_fail(_unreachable_reason)
    return url


@pytest.fixture
def redis_key_prefix(redis_url: str) -> Iterator[str]:
    """A Redis key prefix used by this test alone; its keys are deleted afterwards."""
    prefix = f"aura-test:{secrets.token_hex(6)}"
    yield prefix
    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
