"""deployments/setup.py against a real Prefect API: the gpu limit, the work pool and its
prioritised queues, made once and brought to the settings when run again."""

from __future__ import annotations

import pytest
from prefect.client.orchestration import get_client

from deployments.setup import QUEUE_PRIORITIES, WORK_POOL, ensure_gpu_limit, ensure_work_pool
from tasks.render import GPU_LIMIT

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture
async def no_gpu_limit():
    yield
    async with get_client() as client:
        await client.delete_global_concurrency_limit_by_name(GPU_LIMIT)


async def test_the_gpu_limit_is_made_with_the_configured_slots_and_follows_them(
        configure, no_gpu_limit):
    configure(GPU_SLOTS="3")
    assert await ensure_gpu_limit() == 3
    async with get_client() as client:
        made = await client.read_global_concurrency_limit_by_name(GPU_LIMIT)
    assert (made.limit, made.active) == (3, True)

    assert await ensure_gpu_limit(1) == 1
    async with get_client() as client:
        changed = await client.read_global_concurrency_limit_by_name(GPU_LIMIT)
    assert (changed.id, changed.limit) == (made.id, 1)


async def test_the_work_pool_is_a_process_pool_whose_on_demand_queue_goes_first():
    await ensure_work_pool()
    await ensure_work_pool()  # again: nothing to change, nothing fails
    async with get_client() as client:
        pool = await client.read_work_pool(WORK_POOL)
        queues = {queue.name: queue.priority
                  for queue in await client.read_work_queues(work_pool_name=WORK_POOL)}
    assert pool.type == "process"
    assert pool.base_job_template["job_configuration"]["command"]
    assert {name: queues[name] for name in QUEUE_PRIORITIES} == QUEUE_PRIORITIES


async def test_runs_that_go_silent_are_crashed_by_an_automation_made_once(configure):
    from deployments.setup import LOST_RUN_AUTOMATION, ensure_lost_run_automation

    configure(LOST_RUN_AFTER_S="300")
    await ensure_lost_run_automation()
    async with get_client() as client:
        [first] = await client.read_automations_by_name(LOST_RUN_AUTOMATION)
    await ensure_lost_run_automation()  # again: nothing to change
    async with get_client() as client:
        [made] = await client.read_automations_by_name(LOST_RUN_AUTOMATION)
    assert made.id == first.id
    assert made.enabled and made.trigger.within.total_seconds() == 300
    assert made.trigger.after == {"prefect.flow-run.heartbeat"}
    assert "prefect.flow-run.Completed" in made.trigger.expect
    assert [action.state.value for action in made.actions] == ["CRASHED"]

    await ensure_lost_run_automation(after_s=900)  # changed: replaced, not added
    async with get_client() as client:
        [changed] = await client.read_automations_by_name(LOST_RUN_AUTOMATION)
    assert changed.trigger.within.total_seconds() == 900
    async with get_client() as client:
        await client.delete_automation(changed.id)
