"""/api/realtime: a WebSocket that pushes changes of the caller's export jobs and projects.

Messages are JSON objects in text frames. Browsers cannot set headers on a WebSocket, so
the caller's JWT comes in the first message (or, for convenience, as ``?token=``; the
message's wins).

Client to server::

    {"type": "join", "token": "<JWT>", "topics": ["export_jobs", "project:<uuid>"]}
        first, within JOIN_TIMEOUT_S; "topics" may be left out and "token" too when
        the query has one
    {"type": "subscribe", "topics": [...]}     follow more topics
    {"type": "unsubscribe", "topics": [...]}   stop following some
    {"type": "ping"}

Server to client::

    {"type": "joined", "topics": [...], "expires_at": <Unix seconds>}
    {"type": "subscribed", "topics": [...]}    after subscribe and unsubscribe: all
                                               the topics now followed
    {"type": "pong"}
    {"type": "export_job", "topic": "export_jobs", "job_id", "project_id", "status",
     "progress", "step", "error", "url", "updated_at"}
    {"type": "project", "topic": "project:<uuid>", "op": "update",
     "project": {"id", "title", "updated_at"}}     (GET /api/projects/<id> has the rest)
    {"type": "project", "topic": "project:<uuid>", "op": "delete", "project": {"id"}}
    {"type": "error", "detail": "..."}         then the server closes the connection

Topics: ``export_jobs`` (all of the caller's jobs) and ``project:<uuid>`` (one of the
caller's projects). A job event carries the job's whole state; see api/realtime.py for
what is pushed when (in short: every change, with changes faster than the hub folded into
the newest; the last state always arrives, in order). Join first, then start an export,
and every change of it arrives; a client that joins later reads the job once over HTTP.

Close codes (the reason repeats the error's detail, cut to the 123 bytes a close frame
allows):

- 4001: no token, a bad one (garbled, not HS256, wrong signature or audience), or an
  expired one. A subscription lasts until the token's ``exp`` (``expires_at``), by this
  server's clock: then the server sends ``"the token has expired; join again with a
  fresh one"`` and closes with 4001 and that reason.
- 4003: a topic that does not exist, or a project that is not the caller's; another
  user's project gets exactly the answer a project that never existed gets.
- 4400: a malformed message (not JSON, not an object, an unknown type or field, a second
  join).
- 4408: no join message within JOIN_TIMEOUT_S.
- 1013: the client read too slowly (events piled up); 1012: the server is shutting down.
  Both: join again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Annotated, Literal

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from api.realtime import (
    MAX_TOPICS,
    HubClosedError,
    RealtimeHub,
    SubscriberTooSlowError,
    Subscription,
    SubscriptionEndedError,
)
from core.auth import verify_bearer
from core.errors import AuthError, InputError
from core.settings import get_settings

JOIN_TIMEOUT_S = 10.0
"""How long a new connection has to send its join message."""
MAX_CLOSE_REASON_BYTES = 123
"""RFC 6455: a close frame's reason is at most 123 bytes of UTF-8."""

BAD_TOKEN = 4001
NOT_ALLOWED = 4003
MALFORMED = 4400
JOIN_TIMED_OUT = 4408
TOO_SLOW = 1013
SHUTTING_DOWN = 1012

EXPIRED = "the token has expired; join again with a fresh one"

router = APIRouter(tags=["realtime"])
logger = logging.getLogger(__name__)


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JoinMessage(_Message):
    type: Literal["join"]
    token: str | None = None
    topics: list[str] = Field(default_factory=list, max_length=MAX_TOPICS)


class TopicsMessage(_Message):
    type: Literal["subscribe", "unsubscribe"]
    topics: list[str] = Field(min_length=1, max_length=MAX_TOPICS)


class PingMessage(_Message):
    type: Literal["ping"]


ClientMessage = Annotated[JoinMessage | TopicsMessage | PingMessage, Field(discriminator="type")]
_MESSAGE_TYPES = ("join", "subscribe", "unsubscribe", "ping")
_client_message: TypeAdapter[JoinMessage | TopicsMessage | PingMessage] = TypeAdapter(
    ClientMessage)


class _Close(Exception):  # noqa: N818 (a way out, not an error of ours)
    """End the conversation: send ``detail`` as an error, then close with ``code``."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


async def _receive(websocket: WebSocket) -> JoinMessage | TopicsMessage | PingMessage | None:
    """The next message from the client; ``None`` when it has gone.

    Raises:
        _Close: 4400, the message is malformed.
    """
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        return None
    text = message.get("text")
    if text is None:
        raise _Close(MALFORMED, "messages must be JSON in text frames, not binary frames")
    try:
        data = json.loads(text)
    except ValueError:
        raise _Close(MALFORMED, "the message is not valid JSON") from None
    if not isinstance(data, dict) or data.get("type") not in _MESSAGE_TYPES:
        raise _Close(MALFORMED, "a message must be a JSON object whose 'type' is one of "
                     + ", ".join(repr(kind) for kind in _MESSAGE_TYPES))
    try:
        return _client_message.validate_python(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"][1:])  # [0] is the type's tag
        raise _Close(MALFORMED, f"malformed {data['type']} message: "
                     f"{where + ': ' if where else ''}{error['msg']}") from None


async def _join(websocket: WebSocket, query_token: str | None,
                hub: RealtimeHub) -> tuple[Subscription, int]:
    """Read the join message, check its token and topics; returns the subscription (its
    topics followed, ``joined`` sent) and the token's expiry in Unix seconds.

    Raises:
        _Close: the join was refused (the code says why); WebSocketDisconnect: the client
            left first.
    """
    try:
        join = await asyncio.wait_for(_receive(websocket), JOIN_TIMEOUT_S)
    except TimeoutError:
        raise _Close(JOIN_TIMED_OUT, f"no join message within {JOIN_TIMEOUT_S:g} s") from None
    if join is None:
        raise WebSocketDisconnect()
    if not isinstance(join, JoinMessage):
        raise _Close(MALFORMED, f"the first message must be a join, not a {join.type}")
    token = join.token or query_token
    if not token:
        raise _Close(BAD_TOKEN, "no token: send it in the join message ('token') or in the "
                     "query (?token=)")
    try:
        claims = await verify_bearer(token, get_settings())
    except AuthError as exc:
        raise _Close(BAD_TOKEN, str(exc)) from None
    # verify_bearer allows some clock difference; a subscription ends at exp all the same.
    if claims.exp <= time.time():
        raise _Close(BAD_TOKEN, EXPIRED)
    try:
        subscription = await hub.join(claims.sub)
    except HubClosedError as exc:
        raise _Close(SHUTTING_DOWN, str(exc)) from None
    try:
        await hub.follow(subscription, join.topics)
    except InputError as exc:
        hub.leave(subscription)
        raise _Close(NOT_ALLOWED, str(exc)) from None
    except BaseException:
        hub.leave(subscription)
        raise
    await websocket.send_json({"type": "joined", "topics": sorted(subscription.topics),
                               "expires_at": claims.exp})
    return subscription, claims.exp


async def _converse(websocket: WebSocket, hub: RealtimeHub, subscription: Subscription,
                    expires_at_s: int) -> None:
    """Push events and answer messages until the client leaves or the token expires.

    Raises:
        _Close: the conversation must end (expired token, bad message, refused topic, ...).
    """
    sending = asyncio.Lock()  # events and answers come from two tasks; frames must not mix

    async def send(message: dict[str, object]) -> None:
        async with sending:
            await websocket.send_json(message)

    async def push_events() -> None:
        while True:
            try:
                event = await subscription.next_event()
            except SubscriberTooSlowError as exc:
                raise _Close(TOO_SLOW, str(exc)) from None
            except SubscriptionEndedError as exc:
                raise _Close(SHUTTING_DOWN, str(exc)) from None
            await send(event)

    async def answer_messages() -> None:
        while (message := await _receive(websocket)) is not None:
            if isinstance(message, PingMessage):
                await send({"type": "pong"})
            elif isinstance(message, JoinMessage):
                raise _Close(MALFORMED, "this connection has joined already; to join as "
                             "someone else or with a fresh token, open a new one")
            elif message.type == "subscribe":
                try:
                    await hub.follow(subscription, message.topics)
                except InputError as exc:
                    raise _Close(NOT_ALLOWED, str(exc)) from None
                await send({"type": "subscribed", "topics": sorted(subscription.topics)})
            else:
                hub.unfollow(subscription, message.topics)
                await send({"type": "subscribed", "topics": sorted(subscription.topics)})

    tasks = {asyncio.create_task(push_events()), asyncio.create_task(answer_messages())}
    try:
        done, _ = await asyncio.wait(tasks, timeout=max(0.0, expires_at_s - time.time()),
                                     return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if not done:
        raise _Close(BAD_TOKEN, EXPIRED)
    for task in done:
        if (error := task.exception()) is not None:
            raise error


def _close_reason(detail: str) -> str:
    return detail.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")


@router.websocket("/api/realtime")
async def realtime(websocket: WebSocket, token: str | None = None) -> None:
    """Changes of the caller's export jobs and projects; the protocol is in the module
    docstring."""
    hub: RealtimeHub = websocket.app.state.realtime
    await websocket.accept()
    subscription: Subscription | None = None
    try:
        subscription, expires_at_s = await _join(websocket, token, hub)
        await _converse(websocket, hub, subscription, expires_at_s)
    except WebSocketDisconnect:
        pass
    except _Close as close:
        # The client may have gone meanwhile: then there is nobody to tell.
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await websocket.send_json({"type": "error", "detail": close.detail})
            await websocket.close(close.code, _close_reason(close.detail))
    finally:
        if subscription is not None:
            hub.leave(subscription)
