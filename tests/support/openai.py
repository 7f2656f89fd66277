"""A stand-in for OpenAI's Chat Completions API: replies as the API does, a loopback
server that serves them on a real socket (fixture ``openai_loopback``), and a flaky cloud
that refuses a seeded share of calls (:class:`Flaky`)."""

from __future__ import annotations

import http.server
import json
import random
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support.loopback import serve

_NUMBERED = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)


def sent(request: httpx.Request) -> dict:
    return json.loads(request.content)


def numbered(request: httpx.Request) -> dict[int, str]:
    """The sentences a request asks to tag, by id."""
    user = sent(request)["messages"][-1]["content"]
    return {int(n): text for n, text in _NUMBERED.findall(user)}


def completion(content: str | None, *, refusal: str | None = None,
               finish_reason: str = "stop") -> httpx.Response:
    """A chat.completion as the API returns it."""
    return httpx.Response(200, json={
        "id": "chatcmpl-AuraTest0001",
        "object": "chat.completion",
        "created": 1_760_000_000,
        "model": "gpt-4o-2024-08-06",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": refusal,
                        "annotations": []},
            "logprobs": None,
            "finish_reason": finish_reason,
        }],
        "usage": {"prompt_tokens": 412, "completion_tokens": 57, "total_tokens": 469,
                  "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                "accepted_prediction_tokens": 0,
                                                "rejected_prediction_tokens": 0}},
        "service_tier": "default",
        "system_fingerprint": "fp_aura_test",
    })


def items_reply(items: list[dict]) -> httpx.Response:
    return completion(json.dumps({"items": items}))


def answering(emotion_of=lambda text: ("neutral", 1.0)):
    """A stand-in that tags every numbered sentence of each request with ``emotion_of``."""
    def reply(request: httpx.Request) -> httpx.Response:
        items = []
        for n, text in numbered(request).items():
            emotion, intensity = emotion_of(text)
            items.append({"id": n, "emotion": emotion, "intensity": intensity})
        return items_reply(items)
    return reply


def api_error(status: int, message: str, type_: str, code: str | None = None) -> httpx.Response:
    return httpx.Response(status, headers={"x-request-id": "req_aura_test"},
                          json={"error": {"message": message, "type": type_, "param": None,
                                          "code": code}})


@pytest.fixture
def openai_loopback() -> Iterator[http.server.ThreadingHTTPServer]:
    """OpenAI's chat endpoint on a loopback socket; tags every sentence neutral until a
    test sets ``openai_loopback.reply``."""
    with serve(answering()) as server:
        yield server


class Flaky:
    """A stand-in that refuses a seeded share of calls with 429 (rate limited) or 503
    (overloaded), as OpenAI does, and answers the others with ``answer``.

    Whether a call is refused is drawn from ``random.Random(f"{seed}/{body}/{n}")``, where
    ``body`` is the request's body and ``n`` counts earlier calls with that body: a retry
    draws afresh, and the same requests meet the same refusals in whatever order
    concurrent jobs send them. ``calls`` and ``refusals`` (the statuses sent) are kept.
    """

    def __init__(self, share: float, *, seed: int,
                 answer: Callable[[httpx.Request], httpx.Response] | None = None):
        if not 0.0 <= share < 1.0:
            raise ValueError(f"share must be in [0, 1), got {share}")
        self.share = share
        self.seed = seed
        self.answer = answer or answering()
        self.calls = 0
        self.refusals: list[int] = []
        self._seen: Counter[bytes] = Counter()
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:  # the loopback server answers each call on its own thread
            n = self._seen[request.content]
            self._seen[request.content] += 1
            self.calls += 1
            draw = random.Random(f"{self.seed}/{request.content.decode()}/{n}")
            refused = draw.random() < self.share
            status = 429 if draw.random() < 0.5 else 503
            if refused:
                self.refusals.append(status)
        if not refused:
            return self.answer(request)
        if status == 429:
            return api_error(429, "Rate limit reached for gpt-4o in organization org-aura on "
                             "requests per min (RPM): Limit 500, Used 500, Requested 1. "
                             "Please try again in 120ms.", "requests", "rate_limit_exceeded")
        return api_error(503, "The server is overloaded or not ready yet.", "server_error")
