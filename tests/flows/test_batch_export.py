"""The batch-export flow, run for real: it starts the queued batch jobs as child runs of
the render deployment, which a runner in another process executes, a bounded number at
a time, and ends when every job has ended."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

from core.db import session_scope
from flows.batch_export import batch_export
from flows.runs import RenderRequest
from models import jobs
from models.domain import JobStatus, RenderSpec
from models.schema import upgrade_database
from tests.support.runner import render_runner

pytestmark = pytest.mark.usefixtures("prefect_api")

SCRIPT = "Hello there."


async def queue_batch_jobs(count: int, **request: object) -> list[uuid.UUID]:
    spec = RenderSpec(aspect="1:1", resolution="720p", quality="draft")
    body = RenderRequest(script=SCRIPT, spec=spec, **request).model_dump(mode="json")
    async with session_scope() as session:
        return [(await jobs.create_job(session, spec=body, user_id=uuid.uuid4(),
                                       batch=True)).id for _ in range(count)]


async def runs_of(deployment_id: uuid.UUID, job_ids: list[uuid.UUID]) -> list:
    """Every run of the deployment for these jobs (their tags name them)."""
    async with get_client() as client:
        runs = await client.read_flow_runs(deployment_filter=DeploymentFilter(
            id=DeploymentFilterId(any_=[deployment_id])))
    tags = {f"job:{job_id}" for job_id in job_ids}
    return [run for run in runs if tags.intersection(run.tags)]


def most_at_once(runs: list) -> int:
    """The most runs that were running at the same moment."""
    edges = sorted([(run.start_time, 1) for run in runs] + [(run.end_time, -1) for run in runs])
    going = peak = 0
    for _, change in edges:
        going += change
        peak = max(peak, going)
    return peak


async def test_a_batch_renders_every_queued_job_as_a_child_run_a_bounded_number_at_once(
        configure, tmp_path: Path):
    configure(BATCH_CONCURRENCY="2")
    await upgrade_database()
    queued = await queue_batch_jobs(3)
    async with session_scope() as session:
        on_demand = (await jobs.create_job(session, spec={"script": SCRIPT})).id

    async with render_runner(tmp_path / "runner.log") as runner:
        result = await batch_export(poll_s=0.2)

    assert result.started == 3 and result.ended == {"completed": 3}
    async with session_scope() as session:
        done = [await jobs.get_job(session, job_id) for job_id in queued]
        untouched = await jobs.get_job(session, on_demand)
    assert [job.status for job in done] == [JobStatus.completed] * 3
    assert all(job.video_key for job in done)
    assert untouched.status == JobStatus.queued and untouched.flow_run_id is None
    runs = await runs_of(runner.deployment_id, queued)
    assert sorted(run.id for run in runs) == sorted(job.flow_run_id for job in done)
    assert {run.idempotency_key for run in runs} == {str(job_id) for job_id in queued}
    assert all(run.parent_task_run_id is not None for run in runs)  # children of the batch
    assert all(run.work_queue_name is None or run.work_queue_name == "batch" for run in runs)
    assert most_at_once(runs) <= 2


async def test_a_batch_with_nothing_queued_ends_at_once(configure):
    configure()
    await upgrade_database()
    result = await batch_export(poll_s=0.2)
    assert result.started == 0 and result.ended == {} and result.settled == 0


async def test_a_queued_request_that_is_not_valid_fails_its_job_and_not_the_batch(configure):
    configure()
    await upgrade_database()
    async with session_scope() as session:
        job = await jobs.create_job(session, spec={"script": SCRIPT, "spec": {"fps": 0}},
                                    batch=True)
    result = await batch_export(poll_s=0.2)
    async with session_scope() as session:
        failed = await jobs.get_job(session, job.id)
    assert result.started == 0
    assert failed.status == JobStatus.failed
    assert failed.error.startswith("the queued render request is not valid")
