"""End to end against ``aura serve``: a Prefect server, a runner and the API, started as a
person would start them, driven over HTTP and WebSocket, and stopped with one Ctrl-C.

An export started over HTTP is rendered by the runner; its progress arrives on the
WebSocket; the MP4 downloads and plays.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.support.api import BOB
from tests.support.media import probe_mp4
from tests.support.served import Served, aura_serve, port_open

RENDER_TIMEOUT_S = 300.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with aura_serve(tmp_path_factory.mktemp("serve")) as served:
        yield served


async def test_an_export_renders_reports_progress_and_downloads_a_playable_mp4(served,
                                                                               tmp_path):
    token = served.headers()["Authorization"].removeprefix("Bearer ")
    ws_url = f"ws://127.0.0.1:{served.port}/api/realtime"
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as http, \
            connect(ws_url, open_timeout=30) as ws:
        await ws.send(json.dumps({"type": "join", "token": token, "topics": ["export_jobs"]}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "joined"
        made = await http.post("/api/projects", headers=served.headers(), json={
            "title": "Hello", "script": "[joy] Hello from the whole stack! [pause 0.2] Bye.",
            "settings": {"quality": "draft", "aspect": "1:1"}})
        assert made.status_code == 201, made.text
        started = await http.post("/api/export", headers=served.headers(),
                                  json={"project_id": made.json()["id"]})
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        events = []
        deadline = time.monotonic() + RENDER_TIMEOUT_S
        while not events or events[-1]["status"] not in ("completed", "failed", "cancelled"):
            left_s = deadline - time.monotonic()
            assert left_s > 0, events
            event = json.loads(await asyncio.wait_for(ws.recv(), left_s))
            if event.get("job_id") == job_id:
                events.append(event)
        job = (await http.get(f"/api/export/{job_id}", headers=served.headers())).json()
        video = await http.get(job["video_url"])  # a signed link: no bearer token
        own = await http.get(f"/api/export/{job_id}/video", headers=served.headers())
        other = await http.get(f"/api/export/{job_id}/video", headers=served.headers(BOB))
    # The runner's flow run reported its steps; they arrived on the socket, in order
    # (the hub may fold changes that come faster than it reads them into the newest).
    assert events[-1]["status"] == "completed" and events[-1]["progress"] == 1.0
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress)
    assert any(e["status"] == "running" and 0 < e["progress"] < 1 for e in events), events
    assert len(set(progress)) >= 3, events  # several steps' progress, not just the end
    assert job["status"] == "completed"
    assert job["video_url"].startswith(f"/api/export/{job_id}/video/shared?expires=")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert own.content == video.content
    assert other.status_code == 404
    path = tmp_path / "export.mp4"
    path.write_bytes(video.content)
    facts = probe_mp4(path)
    assert (facts.width, facts.height) == (720, 720)
    assert (facts.video_codec, facts.audio_codec) == ("h264", "aac")
    assert facts.video_duration_s > 1.0


def test_one_ctrl_c_stops_the_server_the_runner_and_the_api(served):
    assert port_open(served.port) and port_open(served.prefect_port)
    served.process.send_signal(signal.SIGINT)
    assert served.process.wait(timeout=60) == 0
    assert not port_open(served.port) and not port_open(served.prefect_port)
