"""Rate limits over HTTP: 100 requests per minute per caller, shared through Redis.

The apps are small FastAPI apps behind :class:`RateLimitMiddleware` whose caller is named
by the ``x-test-user`` header (tests/support/ratelimit_app.py); the JWT wiring is the
API's own. Redis tests use ``redis_url`` and a key prefix of their own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from limits.aio.storage import MemoryStorage
from limits.errors import StorageError

from api import ratelimit
from api.ratelimit import RateLimiter, RateLimitMiddleware, limiter_from_settings
from core.errors import ConfigError
from core.settings import Settings
from tests.support.ratelimit_app import USER_HEADER, create_app, identify_by_header

REPO_ROOT = Path(__file__).resolve().parents[2]
REFUSAL = re.compile(r"too many requests: the limit is 100 per minute; try again in (\d+) s")
LIMIT_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
SERVER_START_TIMEOUT_S = 30.0


def client_for(app: FastAPI, client_host: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(client_host, 40_000))
    return httpx.AsyncClient(transport=transport, base_url="http://aura")


def memory_app(per_minute: int = 100) -> FastAPI:
    settings = Settings(redis_url=None, rate_limit_per_minute=per_minute)
    return create_app(limiter_from_settings(settings))


def as_user(user: str) -> dict[str, str]:
    return {USER_HEADER: user}


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 429
    match = REFUSAL.fullmatch(response.json()["detail"])
    assert match, response.json()
    retry_after_s = int(response.headers["retry-after"])
    assert retry_after_s == int(match.group(1))
    assert 1 <= retry_after_s <= 60
    assert response.headers["x-ratelimit-limit"] == "100"
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert int(response.headers["x-ratelimit-reset"]) >= int(time.time())


async def test_the_101st_request_in_a_minute_is_refused():
    async with client_for(memory_app()) as client:
        responses = [await client.get("/work", headers=as_user("a")) for _ in range(101)]
    assert [r.status_code for r in responses[:100]] == [200] * 100
    assert [r.headers["x-ratelimit-limit"] for r in responses[:100]] == ["100"] * 100
    remaining = [int(r.headers["x-ratelimit-remaining"]) for r in responses[:100]]
    assert remaining == list(range(99, -1, -1))
    assert all(int(r.headers["x-ratelimit-reset"]) >= int(time.time()) - 60
               for r in responses[:100])
    assert_refused(responses[100])


async def test_each_user_has_a_budget_of_their_own():
    async with client_for(memory_app()) as client:
        for _ in range(100):
            assert (await client.get("/work", headers=as_user("a"))).status_code == 200
        assert_refused(await client.get("/work", headers=as_user("a")))
        other = await client.get("/work", headers=as_user("b"))
        assert other.status_code == 200
        assert other.headers["x-ratelimit-remaining"] == "99"
        assert_refused(await client.get("/work", headers=as_user("a")))


async def test_callers_without_an_identity_are_counted_by_address():
    app = memory_app(per_minute=2)
    async with client_for(app, "10.0.0.1") as first, client_for(app, "10.0.0.2") as second:
        assert [(await first.get("/work")).status_code for _ in range(3)] == [200, 200, 429]
        assert (await second.get("/work")).status_code == 200
        # A named user on the same address has a budget of their own.
        assert (await first.get("/work", headers=as_user("a"))).status_code == 200


@pytest.mark.parametrize("path", ["/health", "/docs", "/openapi.json"])
async def test_exempt_paths_are_not_counted(path):
    async with client_for(memory_app(per_minute=1)) as client:
        responses = [await client.get(path, headers=as_user("a")) for _ in range(3)]
        assert [r.status_code for r in responses] == [200] * 3
        assert not any(name in r.headers for r in responses for name in LIMIT_HEADERS)
        assert (await client.get("/work", headers=as_user("a"))).status_code == 200


async def test_exempt_paths_can_be_chosen():
    app = FastAPI()
    app.get("/open")(lambda: "ok")
    app.get("/work")(lambda: "ok")
    limiter = RateLimiter(MemoryStorage(), per_minute=1)
    app.add_middleware(RateLimitMiddleware, limiter=limiter, identify=identify_by_header,
                       exempt_paths={"/open"})
    async with client_for(app) as client:
        assert [(await client.get("/open")).status_code for _ in range(3)] == [200] * 3
        assert [(await client.get("/work")).status_code for _ in range(2)] == [200, 429]
        assert (await client.get("/health")).status_code == 429


async def test_only_paths_under_the_counted_prefix_are_counted():
    app = FastAPI()
    app.get("/studio.js")(lambda: "static")
    app.get("/api/work")(lambda: "ok")
    limiter = RateLimiter(MemoryStorage(), per_minute=1)
    app.add_middleware(RateLimitMiddleware, limiter=limiter, identify=identify_by_header,
                       counted_prefix="/api/")
    async with client_for(app) as client:
        assert [(await client.get("/studio.js")).status_code for _ in range(3)] == [200] * 3
        assert [(await client.get("/api/work")).status_code for _ in range(2)] == [200, 429]


async def test_routes_added_after_the_middleware_are_counted():
    app = memory_app(per_minute=1)
    app.get("/later")(lambda: "ok")
    async with client_for(app) as client:
        first = await client.get("/later", headers=as_user("a"))
        assert first.status_code == 200 and first.headers["x-ratelimit-remaining"] == "0"
        assert (await client.get("/later", headers=as_user("a"))).status_code == 429


async def test_two_processes_share_one_budget_through_redis(redis_url, redis_key_prefix):
    settings = Settings(redis_url=redis_url)
    limiters = [limiter_from_settings(settings, key_prefix=redis_key_prefix) for _ in range(2)]
    first_app, second_app = (create_app(limiter) for limiter in limiters)
    try:
        async with client_for(first_app) as first, client_for(second_app) as second:
            for client in (first, second):
                for _ in range(50):
                    response = await client.get("/work", headers=as_user("a"))
                    assert response.status_code == 200
            assert response.headers["x-ratelimit-remaining"] == "0"
            assert_refused(await first.get("/work", headers=as_user("a")))
            assert_refused(await second.get("/work", headers=as_user("a")))
            assert (await second.get("/work", headers=as_user("b"))).status_code == 200
    finally:
        for limiter in limiters:
            await limiter.aclose()


async def test_budgets_under_other_key_prefixes_are_separate(redis_url, redis_key_prefix):
    settings = Settings(redis_url=redis_url, rate_limit_per_minute=1)
    limiters = [limiter_from_settings(settings, key_prefix=f"{redis_key_prefix}:{name}")
                for name in ("one", "two")]
    for limiter in limiters:
        budget = await limiter.hit("user:a")
        await limiter.aclose()
        assert budget is not None and budget.allowed


@contextmanager
def uvicorn_server(env: dict[str, str]) -> Iterator[str]:
    """A uvicorn process serving tests/support/ratelimit_app.py; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "tests.support.ratelimit_app:app_from_env",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=REPO_ROOT, env=env, stderr=subprocess.PIPE, text=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"uvicorn exited with {process.returncode}: {process.stderr.read()}")
            try:
                if httpx.get(f"{base_url}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"uvicorn did not answer on {base_url} within "
                                f"{SERVER_START_TIMEOUT_S} s")
                time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()


async def test_two_uvicorn_processes_with_one_redis_allow_100_requests(redis_url,
                                                                       redis_key_prefix):
    env = {**os.environ, "AURA_REDIS_URL": redis_url, "AURA_RATE_LIMIT_PER_MINUTE": "100",
           "AURA_TEST_RATELIMIT_PREFIX": redis_key_prefix}
    with uvicorn_server(env) as first, uvicorn_server(env) as second:
        async with httpx.AsyncClient(headers=as_user("a"), timeout=30.0) as client:
            responses = await asyncio.gather(
                *(client.get(f"{base_url}/work") for base_url in (first, second)
                  for _ in range(60)))
    assert Counter(r.status_code for r in responses) == {200: 100, 429: 20}
    for refused in (r for r in responses if r.status_code == 429):
        assert_refused(refused)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_an_unreachable_redis_lets_requests_pass_and_warns_once(caplog):
    settings = Settings(redis_url=f"redis://127.0.0.1:{closed_port()}/0",
                        rate_limit_per_minute=1)
    limiter = limiter_from_settings(settings)
    with caplog.at_level(logging.WARNING, logger="api.ratelimit"):
        async with client_for(create_app(limiter)) as client:
            responses = [await client.get("/work", headers=as_user("a")) for _ in range(3)]
    await limiter.aclose()
    assert [r.status_code for r in responses] == [200] * 3
    assert not any(name in r.headers for r in responses for name in LIMIT_HEADERS)
    warnings = [r.getMessage() for r in caplog.records if r.name == "api.ratelimit"]
    assert len(warnings) == 1 and warnings[0].startswith("rate limits are off")


class FlakyStorage(MemoryStorage):
    """Process memory that fails like an unreachable Redis while ``down`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.calls = 0

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        self.calls += 1
        if self.down:
            raise StorageError(ConnectionError("connection refused"))
        return await super().acquire_entry(key, limit, expiry, amount)


async def test_limits_come_back_when_the_storage_answers_again(monkeypatch, caplog):
    storage = FlakyStorage()
    limiter = RateLimiter(storage, per_minute=1)
    assert (await limiter.hit("user:a")).allowed
    storage.down = True
    with caplog.at_level(logging.WARNING, logger="api.ratelimit"):
        assert [await limiter.hit("user:a") for _ in range(3)] == [None] * 3
        assert storage.calls == 2  # after a failure, the storage is left alone a while
        storage.down = False
        monkeypatch.setattr(ratelimit, "STORAGE_RETRY_S", 0.0)
        budget = await limiter.hit("user:a")
    assert budget is not None and not budget.allowed
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "rate limits are off", "rate limits are on again"]


def test_a_redis_url_of_another_scheme_is_refused():
    with pytest.raises(ConfigError, match="AURA_REDIS_URL must start with redis://"):
        limiter_from_settings(Settings(redis_url="http://127.0.0.1:6379"))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_real_api_counts_each_users_token_and_refuses_the_101st(api):
    from tests.support.api import ADA, BOB, Api

    async with api.client() as http:
        answers = [await http.get("/api/me", headers=Api.bearer(ADA)) for _ in range(101)]
        bob = await http.get("/api/me", headers=Api.bearer(BOB))
        health = await http.get("/health")
    assert [a.status_code for a in answers[:100]] == [200] * 100
    assert answers[99].headers["x-ratelimit-remaining"] == "0"
    assert_refused(answers[100])
    assert bob.status_code == 200 and bob.headers["x-ratelimit-remaining"] == "99"
    assert health.status_code == 200 and "x-ratelimit-limit" not in health.headers


async def test_a_refused_websocket_is_closed_with_1008_where_no_http_answer_can_be_sent():
    app = memory_app(per_minute=1)
    async with client_for(app) as client:
        assert (await client.get("/work", headers=as_user("a"))).status_code == 200
    scope = {"type": "websocket", "path": "/live", "raw_path": b"/live", "query_string": b"",
             "headers": [(USER_HEADER.encode(), b"a")], "client": ("127.0.0.1", 40_000),
             "server": ("aura", 80), "scheme": "ws", "root_path": "", "subprotocols": [],
             "asgi": {"version": "3.0"}}  # no "websocket.http.response" extension
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "websocket.connect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert [message["type"] for message in sent] == ["websocket.close"]
    assert sent[0]["code"] == 1008
    assert re.fullmatch(r"too many requests: the limit is 1 per minute; try again in \d+ s",
                        sent[0]["reason"])
