"""Deploying as an operator does, on this machine: ``prefect server start``, ``python -m
deployments.setup --work-pool``, ``prefect deploy --all`` (prefect.yaml), ``prefect worker
start --pool aurastudio``, and the API alone (``aura serve --no-runner``). An export
started over HTTP is rendered by the worker and its MP4 downloads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.auth import MIN_SECRET_BYTES, mint_token
from tests.support.api import ADA
from tests.support.media import probe_mp4
from tests.support.served import free_port

pytestmark = pytest.mark.drill

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SECRET = "d" * MIN_SECRET_BYTES
STARTUP_TIMEOUT_S = 300.0
RENDER_TIMEOUT_S = 300.0


class Processes:
    """Background processes, each in its own session; stopped with Ctrl-C, then killed."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        with (self.logs / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        self.started.append((name, process))
        return process

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]

    def wait_for(self, name: str, ready) -> None:  # noqa: ANN001
        process = dict(self.started)[name]
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not ready():
            assert process.poll() is None, f"{name} stopped:\n{self.log(name)}"
            assert time.monotonic() < deadline, f"{name} did not start:\n{self.log(name)}"
            time.sleep(0.5)

    def stop(self) -> None:
        for _name, process in reversed(self.started):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
        for _name, process in reversed(self.started):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[str]:
    """Server, set-up, deploy, worker and API up; yields the API's URL."""
    prefect_port, api_port = free_port(), free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"),
           "PREFECT_API_URL": f"http://127.0.0.1:{prefect_port}/api",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "AURA_HOME": str(tmp_path / "aura"),
           "AURA_JWT_SECRET": SECRET, "AURA_CODE_DIR": str(ROOT),
           "AURA_VIDEO__PRESET": "ultrafast"}
    for name in ("AURA_DATABASE_URL", "AURA_STORAGE", "AURA_STORAGE_DIR"):
        env.pop(name, None)
    processes = Processes(tmp_path)
    try:
        processes.start("server", [str(BIN / "prefect"), "server", "start", "--port",
                                   str(prefect_port)], env)
        processes.wait_for("server", lambda: answers(f"{env['PREFECT_API_URL']}/health"))
        for step in ([str(BIN / "python"), "-m", "deployments.setup", "--work-pool"],
                     [str(BIN / "prefect"), "--no-prompt", "deploy", "--all"]):
            done = subprocess.run(step, cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=STARTUP_TIMEOUT_S)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        processes.start("worker", [str(BIN / "prefect"), "worker", "start", "--pool",
                                   "aurastudio", "--limit", "2"], env)
        processes.start("api", [str(BIN / "aura"), "serve", "--no-runner", "--port",
                                str(api_port)], env)
        processes.wait_for("api", lambda: answers(f"http://127.0.0.1:{api_port}/health"))
        yield f"http://127.0.0.1:{api_port}"
    finally:
        processes.stop()


def test_a_deployed_render_runs_on_a_worker_and_its_video_downloads(deployed, tmp_path):
    headers = {"Authorization": f"Bearer {mint_token(ADA, SECRET)}"}
    with httpx.Client(base_url=deployed, headers=headers, timeout=30) as http:
        made = http.post("/api/projects", json={
            "title": "Deployed", "script": "[joy] Rendered by a worker of the pool.",
            "settings": {"quality": "draft", "aspect": "1:1"}})
        assert made.status_code == 201, made.text
        started = http.post("/api/export", json={"project_id": made.json()["id"]})
        assert started.status_code == 202, started.text
        job = started.json()
        deadline = time.monotonic() + RENDER_TIMEOUT_S
        while job["status"] not in ("completed", "failed", "cancelled"):
            assert time.monotonic() < deadline, job
            time.sleep(1.0)
            job = http.get(f"/api/export/{job['id']}").json()
        video = http.get(job["video_url"])

    assert job["status"] == "completed", job
    assert job["flow_run_state"] in (None, "COMPLETED")
    path = tmp_path / "deployed.mp4"
    path.write_bytes(video.content)
    facts = probe_mp4(path)
    assert (facts.video_codec, facts.audio_codec) == ("h264", "aac")
    assert facts.video_duration_s > 1
