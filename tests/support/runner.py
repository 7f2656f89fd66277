"""A Prefect runner in a process of its own that serves the render deployment (and,
when asked, the batch export), as ``aura serve`` or a worker does, against the test's
Prefect API and settings.

    async with render_runner(tmp_path / "runner.log") as runner:
        ...   # runs of script-to-video/render are picked up and executed
        runner.pid, runner.deployment_id

Flow runs are executed in subprocesses of the runner with the test's environment
(AURA_* from ``configure``), so they use the test's database and storage. Runs of the
deployment left scheduled by earlier tests (which had no runner) are cancelled first,
so the runner only executes the test's own.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0

_SERVE = """
from prefect import serve
from flows.batch_export import batch_export
from flows.script_to_video import script_to_video
served = [script_to_video.to_deployment(name="render", tags=["aurastudio"])]
if {with_batch}:  # no schedule here: the test starts its runs itself
    served.append(batch_export.to_deployment(name="batch-export", tags=["aurastudio"]))
serve(*served, limit={limit})
"""


@dataclass(frozen=True)
class Runner:
    pid: int
    deployment_id: uuid.UUID
    """The render deployment's id."""


@asynccontextmanager
async def render_runner(log_path: Path, *, limit: int = 4,
                        with_batch: bool = False) -> AsyncIterator[Runner]:
    """Serve ``script-to-video/render``, and ``batch-export/batch-export`` if
    ``with_batch``, running at most ``limit`` flow runs at once."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    from flows.runs import RENDER_DEPLOYMENT

    await _cancel_leftover_runs(RENDER_DEPLOYMENT)
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()),
           "PYTHONPATH": str(ROOT)}
    with log_path.open("wb") as log:
        code = _SERVE.format(limit=limit, with_batch=with_batch)
        process = subprocess.Popen([sys.executable, "-c", code],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while b"being served" not in log_path.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the render runner did not start:\n"
                                   + log_path.read_text(errors="replace")[-3000:])
            await asyncio.sleep(0.2)
        async with get_client() as client:
            deployment = await client.read_deployment_by_name(RENDER_DEPLOYMENT)
        yield Runner(pid=process.pid, deployment_id=deployment.id)
    finally:
        process.send_signal(signal.SIGINT)  # the runner stops cleanly on Ctrl-C only
        try:
            await asyncio.to_thread(process.wait, STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def _cancel_leftover_runs(deployment_name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Cancelled

    async with get_client() as client:
        leftovers = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(
                any_=[deployment_name.split("/")[1]])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(
                any_=[StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING]))))
        for run in leftovers:
            await client.set_flow_run_state(run.id, Cancelled(message="left by another test"),
                                            force=True)
