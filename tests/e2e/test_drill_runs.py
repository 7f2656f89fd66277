"""Fault drills of operations, with real processes: a Prefect runner executes the render
deployment in subprocesses (as a worker does), the API starts exports over HTTP.

1. A render whose process is killed with SIGKILL mid-way ends completed after a restart;
   the voice is not synthesized again, and no partial MP4 is ever visible in storage.
3. Fifty exports requested at once over HTTP all complete, each by exactly one flow
   run, and every export_jobs row agrees with its Prefect flow run.
4. A batch-export run drains twenty queued batch jobs.

And cancelling: a running export stops its process and gives back its GPU slot; a
cancelled batch export cancels the renders it started.

(Drill 2, a flaky cloud, is tests/e2e/test_drill_flaky_cloud.py.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
from prefect.artifacts import Artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.states import AwaitingRetry, Cancelling

from core.db import session_scope
from core.settings import get_settings
from models import jobs
from models.domain import JobStatus
from tasks.publish.report import progress_key
from tasks.render import GPU_LIMIT
from tests.support.api import ADA, Api
from tests.support.media import probe_mp4
from tests.support.openai import answering, api_error
from tests.support.runner import Runner, render_runner

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.drill,
              pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

WAIT_S = 420.0
FIFTY_WAIT_S = 1000.0
"""Fifty renders, each in a fresh process, on this 2-core machine: about 5 minutes."""
LONG_SCRIPT = " ".join(
    f"[joy] This is sentence number {n} of a take that runs long enough to be killed mid-way."
    for n in range(1, 7))


async def export(http, script: str, **body: object) -> dict:  # noqa: ANN001
    made = await http.post("/api/projects", headers=Api.bearer(ADA), json={
        "title": "Drill", "script": script,
        "settings": {"aspect": "1:1", "quality": "draft"}})
    assert made.status_code == 201, made.text
    started = await http.post("/api/export", headers=Api.bearer(ADA),
                              json={"project_id": made.json()["id"], **body})
    assert started.status_code == 202, started.text
    return started.json()


async def until(what: str, check, timeout_s: float = WAIT_S, every_s: float = 0.25):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout_s
    while not (answer := await check()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(every_s)
    return answer


def flow_run_processes(runner: Runner) -> list[int]:
    """Pids of the runner's child processes (each runs one flow run)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == runner.pid:
                children.append(int(entry.name))
    return children


def visible_mp4s() -> list[Path]:
    """Every MP4 under a key of the local storage (temporaries are hidden ``.tmp`` files)."""
    return sorted(get_settings().storage_dir.rglob("*.mp4"))


async def test_drill_1_a_render_killed_mid_way_completes_after_a_restart(api, tmp_path: Path):
    async with render_runner(tmp_path / "runner.log", limit=1) as runner, \
            api.client() as http:
        job = await export(http, LONG_SCRIPT)

        async def rendering() -> bool:
            try:
                progress = await Artifact.aget(progress_key(uuid.UUID(job["id"])))
            except Exception:
                return False
            return progress is not None and "frames" in (progress.description or "")

        await until("the render to be under way", rendering)
        mp4s_while_rendering = visible_mp4s()
        [process] = flow_run_processes(runner)
        os.kill(process, signal.SIGKILL)

        async def ended() -> dict | None:
            seen = (await http.get(f"/api/export/{job['id']}", headers=Api.bearer(ADA))).json()
            return seen if seen["status"] in ("completed", "failed", "cancelled") else None

        final = await until("the restarted render to end", ended, every_s=1.0)

    assert final["status"] == "completed", final
    assert final["restarts"] == 1 and final["flow_run_id"] != job["flow_run_id"]
    assert final["steps"]["synthesize_voice"]["reused"] is True  # the voice was kept
    assert final["steps"]["render_video"]["reused"] is False  # the render was not
    async with get_client() as client:
        killed = await client.read_flow_run(uuid.UUID(job["flow_run_id"]))
    assert killed.state.type.value == "CRASHED"
    assert mp4s_while_rendering == []  # nothing half-written under a key
    assert visible_mp4s()  # the render and the published video
    for path in visible_mp4s():
        assert probe_mp4(path).video_duration_s > 10


@pytest.mark.timeout(FIFTY_WAIT_S + 200)
async def test_drill_3_fifty_exports_at_once_each_complete_by_exactly_one_run(
        api, tmp_path: Path):
    count = 50
    async with render_runner(tmp_path / "runner.log", limit=4) as runner, \
            api.client() as http:
        started = await asyncio.gather(*(export(http, f"Take number {n}.")
                                         for n in range(count)))
        ids = [job["id"] for job in started]

        async def all_ended() -> list | None:
            async with session_scope() as session:
                rows = [await jobs.get_job(session, job_id) for job_id in ids]
            return rows if all(row.status in jobs.FINAL_STATUSES for row in rows) else None

        rows = await until("fifty exports to end", all_ended, FIFTY_WAIT_S, every_s=2.0)
        async with get_client() as client:
            runs = await _runs_of_jobs(client, ids)

    assert [row.status for row in rows] == [JobStatus.completed] * count
    assert len({job["flow_run_id"] for job in started}) == count
    by_job = {}
    for run in runs:
        by_job.setdefault(run.idempotency_key, []).append(run)
    assert sorted(by_job) == sorted(ids)  # one run per job, no duplicates
    assert all(len(found) == 1 for found in by_job.values())
    for row in rows:
        [run] = by_job[str(row.id)]
        assert run.id == row.flow_run_id and run.deployment_id == runner.deployment_id
        assert run.state.type.value == "COMPLETED"
        assert run.parameters["job_id"] == str(row.id)
        assert row.video_key and row.progress == 1.0


async def test_drill_4_a_batch_export_run_drains_twenty_queued_jobs(api, configure,
                                                                     tmp_path: Path):
    configure(BATCH_CONCURRENCY="2")
    count = 20
    async with api.client() as http:
        queued = [await export(http, f"Batch take {n}.", batch=True) for n in range(count)]
    assert all(job["status"] == "queued" and job["flow_run_id"] is None for job in queued)

    async with render_runner(tmp_path / "runner.log", limit=4, with_batch=True):
        async with get_client() as client:
            deployment = await client.read_deployment_by_name("batch-export/batch-export")
            batch_run = await client.create_flow_run_from_deployment(deployment.id)

        async def batch_ended():  # noqa: ANN202
            async with get_client() as client:
                run = await client.read_flow_run(batch_run.id)
            return run if run.state is not None and run.state.is_final() else None

        finished = await until("the batch export to end", batch_ended, every_s=1.0)

    assert finished.state.type.value == "COMPLETED", finished.state
    async with session_scope() as session:
        rows = [await jobs.get_job(session, job["id"]) for job in queued]
    assert [row.status for row in rows] == [JobStatus.completed] * count
    async with get_client() as client:
        children = await _runs_of_jobs(client, [job["id"] for job in queued])
    assert len(children) == count and {run.state.type.value for run in children} == {"COMPLETED"}
    assert sorted(run.id for run in children) == sorted(row.flow_run_id for row in rows)
    async with get_client() as client:
        parents = {(await client.read_task_run(run.parent_task_run_id)).flow_run_id
                   for run in children}
    assert parents == {batch_run.id}  # every render is a child of the batch run


async def gpu_slots_taken() -> int:
    async with get_client() as client:
        return (await client.read_global_concurrency_limit_by_name(GPU_LIMIT)).active_slots


async def flow_run_state(flow_run_id: uuid.UUID | str) -> str:
    async with get_client() as client:
        run = await client.read_flow_run(uuid.UUID(str(flow_run_id)))
    return run.state.type.value


async def test_a_failed_render_retried_from_the_prefect_ui_completes_its_job(
        api, configure, openai_loopback, tmp_path: Path):
    configure(EMOTION="openai", OPENAI__API_KEY="sk-test-retry-0123456789",
              OPENAI__BASE_URL=f"http://127.0.0.1:{openai_loopback.server_port}/v1")
    openai_loopback.reply = lambda request: api_error(
        401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
    async with render_runner(tmp_path / "runner.log", limit=1), api.client() as http:
        job = await export(http, "A take that fails first.")  # untagged: OpenAI tags it

        async def read() -> dict:
            return (await http.get(f"/api/export/{job['id']}", headers=Api.bearer(ADA))).json()

        async def failed() -> dict | None:
            return seen if (seen := await read())["status"] == "failed" else None

        first = await until("the render to fail", failed, timeout_s=180, every_s=1.0)
        openai_loopback.reply = answering()  # the operator fixed the key
        async with get_client() as client:  # what the UI's "Retry" button sends
            retry = await client.set_flow_run_state(uuid.UUID(job["flow_run_id"]),
                                                    AwaitingRetry(message="Retry from the UI"))
        assert retry.status.value == "ACCEPT", retry.details
        ended = await until("the retried run to end",
                            lambda: _ended_after(job["flow_run_id"], retry.state.timestamp))
        final = await read()
        video = await http.get(f"/api/export/{job['id']}/video", headers=Api.bearer(ADA))

    assert "rejected the API key" in first["error"]
    assert ended == "COMPLETED"
    assert final["status"] == "completed" and final["error"] is None, final
    assert final["flow_run_id"] == job["flow_run_id"] and final["restarts"] == 0
    assert video.status_code == 200
    (tmp_path / "retried.mp4").write_bytes(video.content)
    assert probe_mp4(tmp_path / "retried.mp4").video_duration_s > 1
    assert len(openai_loopback.requests) == 2  # once refused, once answered


async def _ended_after(flow_run_id: str, moment) -> str | None:  # noqa: ANN001
    """The run's final state type, if it reached one after ``moment``."""
    async with get_client() as client:
        run = await client.read_flow_run(uuid.UUID(flow_run_id))
    return run.state.type.value if run.state.is_final() and run.state.timestamp > moment \
        else None


async def test_cancelling_a_running_export_stops_it_and_gives_back_its_gpu_slot(
        api, one_gpu_slot, tmp_path: Path):
    async with render_runner(tmp_path / "runner.log", limit=1) as runner, \
            api.client() as http:
        job = await export(http, LONG_SCRIPT)
        await until("the render to hold the slot", lambda: _equals(gpu_slots_taken, 1))
        cancelled = await http.post(f"/api/export/{job['id']}/cancel",
                                    headers=Api.bearer(ADA))
        await until("the run to be cancelled",
                    lambda: _equals(lambda: flow_run_state(job["flow_run_id"]), "CANCELLED"))
        await until("the slot to be free", lambda: _equals(gpu_slots_taken, 0))
        left = flow_run_processes(runner)

    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["flow_run_state"] == "CANCELLING"
    assert left == []  # the render's process is gone


async def test_cancelling_a_batch_export_cancels_the_renders_it_started(api, configure,
                                                                        tmp_path: Path):
    configure(BATCH_CONCURRENCY="2")
    async with api.client() as http:
        queued = [await export(http, LONG_SCRIPT + f" Take {n}.", batch=True)
                  for n in range(3)]
    async with render_runner(tmp_path / "runner.log", limit=4, with_batch=True), \
            api.client() as http:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name("batch-export/batch-export")
            batch_run = await client.create_flow_run_from_deployment(deployment.id)

        async def two_rendering() -> list | None:
            async with session_scope() as session:
                rows = [await jobs.get_job(session, job["id"]) for job in queued]
            going = [row for row in rows if row.status == JobStatus.running]
            return going if len(going) == 2 else None

        going = await until("two renders to run", two_rendering)
        async with get_client() as client:
            await client.set_flow_run_state(batch_run.id, Cancelling(message="drill"),
                                            force=True)
        for row in going:
            await until("the render to be cancelled", lambda row=row: _equals(
                lambda: flow_run_state(row.flow_run_id), "CANCELLED"), timeout_s=120)
        seen = [(await http.get(f"/api/export/{job['id']}", headers=Api.bearer(ADA))).json()
                for job in queued]

    started = {str(row.id) for row in going}
    assert [job["status"] for job in seen if job["id"] in started] == ["cancelled"] * 2
    [waiting] = [job for job in seen if job["id"] not in started]
    assert waiting["status"] == "queued" and waiting["flow_run_id"] is None  # next batch
    assert await flow_run_state(batch_run.id) == "CANCELLED"


async def _equals(read, expected) -> bool:  # noqa: ANN001
    return await read() == expected


async def _runs_of_jobs(client, job_ids: list[str]) -> list:  # noqa: ANN001
    runs = []
    for job_id in job_ids:
        runs += await client.read_flow_runs(flow_run_filter=FlowRunFilter(
            tags=FlowRunFilterTags(all_=[f"job:{job_id}"])))
    return runs

