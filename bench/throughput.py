"""Benchmark: videos per hour on this machine, rendered by 1 and by 2 Prefect workers.

    .venv/bin/python bench/throughput.py [--videos 8] [--workers 1 2] [--script PATH]

For each worker count it starts a fresh Prefect server, makes the work pool and deploys
prefect.yaml (``python -m deployments.setup --work-pool``, ``prefect deploy --all``),
starts that many ``prefect worker start --pool aurastudio --limit 1`` processes, and
then starts ``--videos`` render runs at once through flows/runs.py, as the API does
(SQLite and local storage in a fresh folder; the ``gpu`` limit set to the worker count).
Every video says a different closing line, so no artifact is reused. It prints the
wall time from the first run started to the last one completed, videos per hour, and
the speed-up of 2 workers over 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEFAULT_SCRIPT = ROOT.parent / "shared" / "eval" / "scripts" / "short.txt"
START_TIMEOUT_S = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--script", type=Path, default=DEFAULT_SCRIPT)
    args = parser.parse_args()
    script = args.script.read_text()
    rates = {}
    for workers in args.workers:
        wall_s = measure(script, videos=args.videos, workers=workers)
        rates[workers] = args.videos / wall_s * 3600
        print(f"{workers} worker(s): {args.videos} videos in {wall_s:.1f} s  "
              f"= {rates[workers]:.0f} videos/hour", flush=True)
    if 1 in rates and 2 in rates:
        print(f"2 workers / 1 worker: {rates[2] / rates[1]:.2f}x")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(script: str, *, videos: int, workers: int) -> float:
    home = Path(tempfile.mkdtemp(prefix="aura-bench-throughput-"))
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home / "prefect"),
           "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "AURA_HOME": str(home / "aura"),
           "AURA_CODE_DIR": str(ROOT), "AURA_GPU_SLOTS": str(workers)}
    for name in ("AURA_DATABASE_URL", "AURA_STORAGE", "AURA_STORAGE_DIR"):
        env.pop(name, None)
    # This process starts the runs and watches the jobs: same database and settings.
    os.environ.update({k: v for k, v in env.items() if k.startswith("AURA_")})
    for name in ("AURA_DATABASE_URL", "AURA_STORAGE", "AURA_STORAGE_DIR"):
        os.environ.pop(name, None)
    processes: list[subprocess.Popen] = []

    def start(name: str, command: list[str]) -> None:
        log = (home / f"{name}.log").open("wb")
        processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True))

    try:
        start("server", [str(BIN / "prefect"), "server", "start", "--port", str(port)])
        _wait_for_health(f"{env['PREFECT_API_URL']}/health")
        for step in ([str(BIN / "python"), "-m", "deployments.setup", "--work-pool"],
                     [str(BIN / "prefect"), "--no-prompt", "deploy", "--all"]):
            subprocess.run(step, cwd=ROOT, env=env, check=True, capture_output=True)
        for n in range(workers):
            start(f"worker-{n}", [str(BIN / "prefect"), "worker", "start", "--pool",
                                  "aurastudio", "--limit", "1"])
        return asyncio.run(_render_all(script, videos, env["PREFECT_API_URL"]))
    finally:
        for process in reversed(processes):
            os.killpg(process.pid, signal.SIGINT)
        for process in reversed(processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def _wait_for_health(url: str) -> None:
    import httpx

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"bench: the Prefect server did not answer at {url}")
        time.sleep(0.5)


async def _render_all(script: str, videos: int, api_url: str) -> float:
    sys.path.insert(0, str(ROOT))
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        return await _start_and_wait(script, videos)


async def _start_and_wait(script: str, videos: int) -> float:
    from core.db import session_scope
    from core.settings import get_settings
    from flows.runs import ON_DEMAND_QUEUE, RenderRequest, reread, start_render
    from models import jobs
    from models.domain import RenderSpec
    from models.jobs import FINAL_STATUSES
    from models.schema import upgrade_database

    get_settings.cache_clear()
    await upgrade_database()
    spec = RenderSpec(fps=get_settings().video.fps)
    requests = [RenderRequest(script=f"{script}\nThat was take {n}.", spec=spec)
                for n in range(videos)]
    async with session_scope() as session:
        made = [await jobs.create_job(session, spec=r.model_dump(mode="json"),
                                      user_id=uuid.uuid4()) for r in requests]
    started = time.perf_counter()
    for job, request in zip(made, requests, strict=True):
        await start_render(job, request, queue=ON_DEMAND_QUEUE)
    while True:
        ended = [await reread(job.id) for job in made]
        if all(job.status in FINAL_STATUSES for job in ended):
            break
        await asyncio.sleep(0.5)
    wall_s = time.perf_counter() - started
    failed = [job for job in ended if job.status.value != "completed"]
    if failed:
        sys.exit(f"bench: {len(failed)} render(s) did not complete: {failed[0].error}")
    return wall_s


if __name__ == "__main__":
    main()
