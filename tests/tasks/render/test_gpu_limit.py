"""render_video holds a slot of the ``gpu`` concurrency limit while it renders: with the
only slot taken, a render waits, and it goes on once the slot is free."""

from __future__ import annotations

import asyncio
import time

import pytest
from prefect.client.orchestration import get_client
from prefect.concurrency.asyncio import concurrency

from core.db import session_scope
from flows.script_to_video import create_export_job, script_to_video
from models import jobs
from models.domain import JobStatus, RenderSpec
from models.schema import upgrade_database
from tasks.render import GPU_LIMIT

pytestmark = pytest.mark.usefixtures("prefect_api")

WAIT_S = 120.0
HELD_S = 3.0
"""How long the test keeps the slot after the render is ready to start; renders of
this script take about a second."""


async def job_step(job_id) -> str | None:  # noqa: ANN001
    async with session_scope() as session:
        return (await jobs.get_job(session, job_id)).step


async def until_step(job_id, step: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + WAIT_S
    while await job_step(job_id) != step:
        assert time.monotonic() < deadline, f"the job never reached {step}"
        await asyncio.sleep(0.1)




async def test_a_render_waits_while_every_gpu_slot_is_taken(configure, one_gpu_slot):
    configure()
    await upgrade_database()
    spec = RenderSpec(aspect="1:1", quality="draft")
    job_id = await create_export_job(spec)

    async with concurrency(GPU_LIMIT, occupy=1, lease_duration=60):
        rendering = asyncio.create_task(script_to_video("Hello there.", spec, job_id=job_id))
        await until_step(job_id, "align_lipsync")  # the step before the render is done
        await asyncio.sleep(HELD_S)
        waited = await job_step(job_id)
        async with get_client() as client:
            taken = (await client.read_global_concurrency_limit_by_name(GPU_LIMIT)).active_slots
    result = await asyncio.wait_for(rendering, WAIT_S)

    assert waited == "align_lipsync" and taken == 1
    async with session_scope() as session:
        job = await jobs.get_job(session, job_id)
    assert job.status == JobStatus.completed and result.video.key == job.video_key
    async with get_client() as client:
        assert (await client.read_global_concurrency_limit_by_name(GPU_LIMIT)).active_slots == 0
