"""/api/realtime over a real WebSocket, on SQLite and PostgreSQL.

The app runs on uvicorn in a thread with its own event loop, as in production, so its
realtime hub, its database engines and (on PostgreSQL) its listener connection live in
that loop. Jobs change from the test's own loop and sessions through ``models.jobs`` and
``tasks.publish.notify``, as a flow worker in another process changes them; projects
change through the HTTP API. Waiting is bounded by RECEIVE_TIMEOUT_S; nothing is timed.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import jwt
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from api.routers import realtime as realtime_router
from core.auth import mint_token
from core.db import dispose_engines, session_scope
from models import jobs
from models.domain import PublishedVideo
from models.schema import upgrade_database
from tasks.publish.notify import report_completed, report_running, report_step
from tests.support.api import ADA, BOB, SECRET, Api
from tests.support.databases import postgres_database

RECEIVE_TIMEOUT_S = 10.0
SERVER_START_TIMEOUT_S = 30.0
EXPIRED = "the token has expired; join again with a fresh one"


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """``app`` on uvicorn in a thread of its own (its lifespan included); yields host:port."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{listening.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))

    async def run() -> None:
        try:
            await server.serve(sockets=[listening])
        finally:
            await dispose_engines()  # the engines of the server's loop, which ends here

    thread = threading.Thread(target=asyncio.run, args=(run(),), name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail(f"uvicorn did not start on {address}")
        await asyncio.sleep(0.01)
    try:
        yield address
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, SERVER_START_TIMEOUT_S)
        listening.close()


@pytest.fixture
async def server(api: Api) -> AsyncIterator[str]:
    async with serving(api.app()) as address:
        yield address


@pytest.fixture
async def postgres_server(configure) -> AsyncIterator[tuple[str, str]]:
    """The API on a fresh PostgreSQL database alone; yields (host:port, database URL)."""
    from api.app import prepare_database

    async with postgres_database() as url:
        await upgrade_database(url)
        configure(DATABASE_URL=url, JWT_SECRET=SECRET)
        await prepare_database()
        async with serving(Api(url).app()) as address:
            yield address, url


def websocket(address: str, query: str = "") -> connect:
    return connect(f"ws://{address}/api/realtime{query}", open_timeout=RECEIVE_TIMEOUT_S)


async def receive(ws: ClientConnection) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_S))


async def send(ws: ClientConnection, message: dict) -> None:
    await ws.send(json.dumps(message))


async def join(ws: ClientConnection, topics: list[str], user: uuid.UUID = ADA,
               token: str | None = None) -> dict:
    await send(ws, {"type": "join", "token": token or mint_token(user, SECRET),
                    "topics": topics})
    joined = await receive(ws)
    assert joined["type"] == "joined", joined
    return joined


async def refusal(ws: ClientConnection) -> tuple[str, int | None, str | None]:
    """The error's detail, then the close code and reason that follow it."""
    error = await receive(ws)
    assert error["type"] == "error", error
    await asyncio.wait_for(ws.wait_closed(), RECEIVE_TIMEOUT_S)
    return error["detail"], ws.close_code, ws.close_reason


async def new_job(user: uuid.UUID = ADA) -> uuid.UUID:
    async with session_scope() as session:
        return (await jobs.create_job(session, spec={"script": "Hello."}, user_id=user)).id


async def new_project(address: str, user: uuid.UUID = ADA) -> str:
    async with httpx.AsyncClient(base_url=f"http://{address}") as http:
        made = await http.post("/api/projects", json={"title": "Bridge"},
                               headers=Api.bearer(user))
    assert made.status_code == 201, made.text
    return made.json()["id"]


VIDEO = PublishedVideo(key="videos/abc.mp4", url="http://aura/videos/abc.mp4", size_bytes=10)


async def test_joining_answers_with_the_topics_and_the_tokens_expiry(server):
    async with websocket(server) as ws:
        joined = await join(ws, ["export_jobs"])
        await send(ws, {"type": "ping"})
        pong = await receive(ws)
    assert joined["topics"] == ["export_jobs"]
    assert 3590 < joined["expires_at"] - time.time() <= 3600
    assert pong == {"type": "pong"}


async def test_the_token_may_come_in_the_query_instead(server):
    async with websocket(server, f"?token={mint_token(ADA, SECRET)}") as ws:
        await send(ws, {"type": "join", "topics": ["export_jobs"]})
        joined = await receive(ws)
    assert joined["type"] == "joined"


async def test_a_jobs_every_state_arrives_in_order_with_its_progress(server):
    async with websocket(server) as ws:
        await join(ws, ["export_jobs"])
        job_id = await new_job()
        seen = [await receive(ws)]
        # As a flow reports them, each after the last has been handled.
        for change in (lambda: report_running(job_id),
                       lambda: report_step(job_id, "tag_emotions", progress=0.1),
                       lambda: report_step(job_id, "render_video", progress=0.6,
                                           info={"frames": 90}),
                       lambda: report_completed(job_id, VIDEO)):
            await change()
            seen.append(await receive(ws))
    assert [(e["status"], e["step"], e["progress"]) for e in seen] == [
        ("queued", None, 0.0), ("running", None, 0.0), ("running", "tag_emotions", 0.1),
        ("running", "render_video", 0.6), ("completed", "render_video", 1.0)]
    assert all(e["type"] == "export_job" and e["topic"] == "export_jobs"
               and e["job_id"] == str(job_id) and e["project_id"] is None for e in seen)
    assert seen[-1]["url"] == VIDEO.url and seen[-1]["error"] is None


async def test_a_burst_of_changes_ends_in_the_last_state_and_never_goes_back(server):
    async with websocket(server) as ws:
        await join(ws, ["export_jobs"])
        job_id = await new_job()
        await report_running(job_id)
        for step in range(1, 10):
            await report_step(job_id, f"step{step}", progress=step / 10)
        await report_completed(job_id, VIDEO)
        seen = [await receive(ws)]
        while seen[-1]["status"] != "completed":
            seen.append(await receive(ws))
    order = ["queued", "running", "completed"]
    assert [order.index(e["status"]) for e in seen] == sorted(order.index(e["status"])
                                                              for e in seen)
    assert [e["progress"] for e in seen] == sorted(e["progress"] for e in seen)
    assert len({json.dumps(e, sort_keys=True) for e in seen}) == len(seen)
    assert seen[-1]["progress"] == 1.0 and seen[-1]["url"] == VIDEO.url


async def test_a_project_changed_and_deleted_over_http_arrives_on_its_topic(server):
    project_id = await new_project(server)
    async with websocket(server) as ws, httpx.AsyncClient(base_url=f"http://{server}") as http:
        joined = await join(ws, [f"project:{project_id.upper()}"])
        changed = await http.patch(f"/api/projects/{project_id}", json={"title": "Tunnel"},
                                   headers=Api.bearer(ADA))
        updated = await receive(ws)
        deleted = await http.delete(f"/api/projects/{project_id}", headers=Api.bearer(ADA))
        gone = await receive(ws)
    topic = f"project:{project_id}"
    assert joined["topics"] == [topic]
    assert changed.status_code == 200 and deleted.status_code == 204
    assert updated == {"type": "project", "topic": topic, "op": "update",
                       "project": {"id": project_id, "title": "Tunnel",
                                   "updated_at": updated["project"]["updated_at"]}}
    assert updated["project"]["updated_at"] == changed.json()["updated_at"].replace("Z",
                                                                                   "+00:00")
    assert gone == {"type": "project", "topic": topic, "op": "delete",
                    "project": {"id": project_id}}


async def test_another_users_project_is_refused_exactly_like_a_missing_one(server):
    adas = await new_project(server, ADA)
    nobodys = str(uuid.uuid4())
    answers = []
    for project_id in (adas, nobodys):
        async with websocket(server) as ws:
            await send(ws, {"type": "join", "token": mint_token(BOB, SECRET),
                            "topics": ["export_jobs", f"project:{project_id}"]})
            detail, code, reason = await refusal(ws)
            answers.append((detail.replace(project_id, "<id>"), code,
                            reason.replace(project_id, "<id>")))
    assert answers[0] == answers[1]
    assert answers[0] == ("there is no project with id '<id>'", 4003,
                          "there is no project with id '<id>'")


@pytest.mark.parametrize(("topic", "detail"), [
    ("jobs", "there is no topic 'jobs'; topics are 'export_jobs' and 'project:<project id>'"),
    ("export_jobs:abc", "there is no topic 'export_jobs:abc'"),
    ("project:bridge", "there is no project with id 'bridge'"),
])
async def test_a_topic_that_does_not_exist_is_refused(server, topic, detail):
    async with websocket(server) as ws:
        await send(ws, {"type": "join", "token": mint_token(ADA, SECRET), "topics": [topic]})
        refused = await refusal(ws)
    assert refused[0].startswith(detail) and refused[1] == 4003


async def test_a_user_never_hears_of_another_users_jobs(server):
    async with websocket(server) as ada, websocket(server) as bob:
        await join(ada, ["export_jobs"], ADA)
        await join(bob, ["export_jobs"], BOB)
        adas_job = await new_job(ADA)
        await report_running(adas_job)
        await report_completed(adas_job, VIDEO)
        while (await receive(ada))["status"] != "completed":
            pass
        # Ada's changes have all been handled: had Bob been told of them, they would
        # come before the news of his own job.
        bobs_job = await new_job(BOB)
        first = await receive(bob)
    assert first["job_id"] == str(bobs_job)


@pytest.mark.parametrize(("make_token", "detail"), [
    (lambda: "garbled", "the token is not a valid JWT"),
    (lambda: jwt.encode({"sub": str(ADA), "aud": "authenticated",
                         "exp": int(time.time()) + 60}, None, algorithm="none"),
     "tokens signed with 'none' are refused"),
    (lambda: jwt.encode({"sub": str(ADA), "aud": "authenticated",
                         "exp": int(time.time()) + 60}, "x" * len(SECRET), algorithm="HS256"),
     "the token's signature does not match"),
    (lambda: jwt.encode({"sub": str(ADA), "aud": "authenticated",
                         "exp": int(time.time()) - 3600}, SECRET, algorithm="HS256"),
     "the token has expired"),
    # Within the clock leeway the HTTP API allows, but past its exp all the same.
    (lambda: jwt.encode({"sub": str(ADA), "aud": "authenticated",
                         "exp": int(time.time()) - 5}, SECRET, algorithm="HS256"),
     EXPIRED),
    (lambda: "", "no token: send it in the join message ('token') or in the query (?token=)"),
], ids=["garbled", "alg none", "wrong secret", "expired", "just expired", "none"])
async def test_a_join_without_a_trustworthy_token_is_closed_with_4001(server, make_token,
                                                                      detail):
    async with websocket(server) as ws:
        await send(ws, {"type": "join", "token": make_token(), "topics": ["export_jobs"]})
        refused = await refusal(ws)
    assert refused == (detail, 4001, detail)


async def test_a_token_that_expires_while_connected_ends_the_subscription(server):
    async with websocket(server) as ws:
        joined = await join(ws, ["export_jobs"], token=mint_token(ADA, SECRET, ttl_s=2))
        refused = await refusal(ws)
    assert joined["expires_at"] - time.time() <= 2
    assert refused == (EXPIRED, 4001, EXPIRED)


@pytest.mark.parametrize(("frames", "detail"), [
    (["{not json"], "the message is not valid JSON"),
    (["[1, 2]"], "a message must be a JSON object whose 'type' is one of 'join', "
                 "'subscribe', 'unsubscribe', 'ping'"),
    (['{"type": "dance"}'], "a message must be a JSON object whose 'type' is one of"),
    ([b'{"type": "ping"}'], "messages must be JSON in text frames, not binary frames"),
    (['{"type": "ping"}'], "the first message must be a join, not a ping"),
    (['{"type": "join", "token": "t", "topic": ["export_jobs"]}'],
     "malformed join message: topic: Extra inputs are not permitted"),
    (["JOIN", '{"type": "subscribe", "topics": []}'],
     "malformed subscribe message: topics: List should have at least 1 item"),
    (["JOIN", "JOIN"], "this connection has joined already"),
], ids=["not json", "not an object", "unknown type", "binary", "no join first",
        "unknown field", "no topics", "second join"])
async def test_a_malformed_message_is_closed_with_4400(server, frames, detail):
    join_frame = json.dumps({"type": "join", "token": mint_token(ADA, SECRET), "topics": []})
    async with websocket(server) as ws:
        for index, frame in enumerate(frames):
            await ws.send(join_frame if frame == "JOIN" else frame)
            if frame == "JOIN" and index < len(frames) - 1:
                assert (await receive(ws))["type"] == "joined"
        refused = await refusal(ws)
    assert refused[0].startswith(detail) and refused[1] == 4400


async def test_a_connection_that_does_not_join_in_time_is_closed_with_4408(server,
                                                                           monkeypatch):
    monkeypatch.setattr(realtime_router, "JOIN_TIMEOUT_S", 0.2)
    async with websocket(server) as ws:
        refused = await refusal(ws)
    assert refused == ("no join message within 0.2 s", 4408, "no join message within 0.2 s")


async def test_topics_can_be_followed_and_left_after_joining(server):
    project_id = await new_project(server)
    topic = f"project:{project_id}"
    async with websocket(server) as ws, httpx.AsyncClient(base_url=f"http://{server}") as http:
        assert (await join(ws, []))["topics"] == []
        await send(ws, {"type": "subscribe", "topics": [topic]})
        followed = await receive(ws)
        await http.patch(f"/api/projects/{project_id}", json={"title": "One"},
                         headers=Api.bearer(ADA))
        first = await receive(ws)
        await send(ws, {"type": "unsubscribe", "topics": [topic, "nonsense"]})
        left = await receive(ws)
        await http.patch(f"/api/projects/{project_id}", json={"title": "Two"},
                         headers=Api.bearer(ADA))
        await send(ws, {"type": "subscribe", "topics": ["export_jobs"]})
        jobs_too = await receive(ws)
        job_id = await new_job()
        after = await receive(ws)
        await send(ws, {"type": "subscribe", "topics": [f"project:{uuid.uuid4()}"]})
        refused = await refusal(ws)
    assert followed == {"type": "subscribed", "topics": [topic]}
    assert first["op"] == "update" and first["project"]["title"] == "One"
    assert left == {"type": "subscribed", "topics": []}
    assert jobs_too == {"type": "subscribed", "topics": ["export_jobs"]}
    # Not the second title: the project was no longer followed when it changed.
    assert after["type"] == "export_job" and after["job_id"] == str(job_id)
    assert refused[1] == 4003


async def test_postgresql_triggers_notify_ids_only(postgres_server):
    address, url = postgres_server
    heard: asyncio.Queue[dict] = asyncio.Queue()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    listener = await asyncpg.connect(dsn)
    try:
        await listener.add_listener("aura_changes",
                                    lambda *args: heard.put_nowait(json.loads(args[-1])))
        project_id = await new_project(address)
        job_id = await new_job()
        project = await asyncio.wait_for(heard.get(), RECEIVE_TIMEOUT_S)
        job = await asyncio.wait_for(heard.get(), RECEIVE_TIMEOUT_S)
    finally:
        await listener.close()
    assert project == {"table": "projects", "op": "insert", "id": project_id,
                       "user_id": str(ADA)}
    assert job == {"table": "export_jobs", "op": "insert", "id": str(job_id),
                   "user_id": str(ADA), "project_id": None}


async def test_the_postgresql_listener_comes_back_after_losing_its_connection(
        postgres_server):
    address, url = postgres_server
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    async with websocket(address) as ws:
        await join(ws, ["export_jobs"])
        admin = await asyncpg.connect(dsn)
        try:
            ended = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query = 'LISTEN \"aura_changes\"'")
        finally:
            await admin.close()
        job_id = await new_job()
        event = await receive(ws)
    assert ended == 1
    assert event["job_id"] == str(job_id) and event["status"] == "queued"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_opening_a_socket_counts_against_the_callers_rate_limit(api, configure):
    configure(RATE_LIMIT_PER_MINUTE="2")
    ada, bob = mint_token(ADA, SECRET), mint_token(BOB, SECRET)
    async with serving(api.app()) as address:
        for _ in range(2):
            async with websocket(address, f"?token={ada}") as ws:
                await join(ws, ["export_jobs"], token=ada)
        with pytest.raises(InvalidStatus) as refused:
            async with websocket(address, f"?token={ada}"):
                pass
        async with websocket(address, f"?token={bob}") as ws:  # a budget of his own
            await join(ws, ["export_jobs"], user=BOB, token=bob)

    response = refused.value.response
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert json.loads(response.body)["detail"].startswith(
        "too many requests: the limit is 2 per minute")
