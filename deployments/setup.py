"""What AuraStudio needs on a Prefect server before its flows run there.

    python -m deployments.setup [--gpu-slots N] [--work-pool]

- the global concurrency limit ``gpu`` (``AURA_GPU_SLOTS`` slots, default 2), which every
  render holds while it draws and encodes frames (tasks/render): across all workers no
  more renders run at once than there are GPUs (or render machines) to run them;
- the automation :data:`LOST_RUN_AUTOMATION`: a flow run whose process stops sending
  heartbeats (its machine lost, the worker and the run killed together) without ending
  is set to Crashed after ``AURA_LOST_RUN_AFTER_S``, so its job is started again
  (flows/runs.py) instead of staying "running" for ever. Prefect's open-source server
  does not do this by itself; flow runs send a heartbeat every
  ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` seconds (180 by default);
- with ``--work-pool``: the process work pool ``aurastudio`` and its work queues
  ``on-demand`` (priority 1) and ``batch`` (priority 2), which prefect.yaml's deployments
  use; a worker with runs waiting in both takes the on-demand ones first.

Safe to run again: what exists is brought to the settings (a changed slot count
included), nothing is removed. ``aura serve`` makes the limit at start; ``make deploy``
runs this with ``--work-pool`` before ``prefect deploy --all``.
"""

from __future__ import annotations

import argparse
import asyncio

from core.settings import get_settings
from flows.runs import BATCH_QUEUE, ON_DEMAND_QUEUE
from tasks.render import GPU_LIMIT

WORK_POOL = "aurastudio"
QUEUE_PRIORITIES = {ON_DEMAND_QUEUE: 1, BATCH_QUEUE: 2}
"""Work queues of the pool; a lower number is served first."""
LOST_RUN_AUTOMATION = "aurastudio: crash flow runs whose heartbeats stopped"
LOST_RUN_MESSAGE = "its heartbeats stopped: the machine running it was lost"


async def ensure_gpu_limit(slots: int | None = None) -> int:
    """Make the ``gpu`` limit, or set its slots; returns the slots it has."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import (
        GlobalConcurrencyLimitCreate,
        GlobalConcurrencyLimitUpdate,
    )
    from prefect.exceptions import ObjectNotFound

    slots = slots or get_settings().gpu_slots
    async with get_client() as client:
        try:
            limit = await client.read_global_concurrency_limit_by_name(GPU_LIMIT)
        except ObjectNotFound:
            await client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=GPU_LIMIT, limit=slots, active=True))
            return slots
        if limit.limit != slots or not limit.active:
            await client.update_global_concurrency_limit(
                GPU_LIMIT, GlobalConcurrencyLimitUpdate(limit=slots, active=True))
    return slots


async def ensure_lost_run_automation(after_s: float | None = None) -> None:
    """Make (or bring to ``after_s``) the automation that crashes runs gone silent."""
    from datetime import timedelta

    from prefect.automations import Automation
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    after_s = after_s or get_settings().lost_run_after_s
    ends = {f"prefect.flow-run.{state}" for state in ("Completed", "Failed", "Cancelled",
                                                      "Crashed")}
    wanted = Automation(
        name=LOST_RUN_AUTOMATION,
        description="A running flow run that sends no heartbeat and does not end within "
                    f"{after_s:g} s is set to Crashed (deployments/setup.py).",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *ends},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1,
            within=timedelta(seconds=after_s)),
        actions=[ChangeFlowRunState(state=StateType.CRASHED, message=LOST_RUN_MESSAGE)])
    async with get_client() as client:
        for old in await client.read_automations_by_name(LOST_RUN_AUTOMATION):
            if old.trigger == wanted.trigger and old.actions == wanted.actions \
                    and old.enabled:
                return
            await client.delete_automation(old.id)
    await wanted.acreate()


async def ensure_work_pool(name: str = WORK_POOL) -> None:
    """Make the process work pool and its prioritised queues where they are missing."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.workers.process import ProcessWorker

    async with get_client() as client:
        try:
            await client.create_work_pool(WorkPoolCreate(
                name=name, type=ProcessWorker.type,
                base_job_template=ProcessWorker.get_default_base_job_template(),
                description="AuraStudio's flows, run by `prefect worker start --pool "
                            f"{name}` on each machine"))
        except ObjectAlreadyExists:
            pass
        for queue, priority in QUEUE_PRIORITIES.items():
            try:
                existing = await client.read_work_queue_by_name(queue, work_pool_name=name)
            except ObjectNotFound:
                await client.create_work_queue(queue, work_pool_name=name, priority=priority)
            else:
                if existing.priority != priority:
                    await client.update_work_queue(existing.id, priority=priority)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu-slots", type=int, help="default: AURA_GPU_SLOTS")
    parser.add_argument("--work-pool", action="store_true",
                        help=f"also make the work pool {WORK_POOL!r} and its queues")
    args = parser.parse_args(argv)
    if args.gpu_slots is not None and args.gpu_slots < 1:
        parser.error("--gpu-slots must be at least 1")

    async def setup() -> None:
        slots = await ensure_gpu_limit(args.gpu_slots)
        print(f"concurrency limit {GPU_LIMIT!r}: {slots} slot(s)")
        await ensure_lost_run_automation()
        print(f"automation {LOST_RUN_AUTOMATION!r}: after "
              f"{get_settings().lost_run_after_s:g} s without a heartbeat")
        if args.work_pool:
            await ensure_work_pool()
            queues = ", ".join(f"{q} (priority {p})" for q, p in QUEUE_PRIORITIES.items())
            print(f"work pool {WORK_POOL!r} (process): queues {queues}")

    asyncio.run(setup())


if __name__ == "__main__":
    main()
