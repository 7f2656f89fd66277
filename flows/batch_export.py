"""The batch-export flow: renders the export jobs queued for it, a few at a time.

Runs on a schedule (the ``batch-export`` deployment of prefect.yaml and
deployments/serve.py, every few minutes, never two at once). Each run:

1. settles the jobs whose flow runs ended without saying so: crashed runs are started
   again, runs cancelled in the Prefect UI end their jobs (flows/runs.py);
2. takes the batch jobs waiting (``POST /api/export`` with ``"batch": true``), oldest
   first, and renders each as a run of the render deployment, a child of this run on
   the ``batch`` work queue, keeping at most ``AURA_BATCH_CONCURRENCY`` of them going.

Batch renders never starve on-demand ones: the batch keeps fewer renders going than
there are GPU slots (``AURA_GPU_SLOTS``, the ``gpu`` concurrency limit around every
render), and on a work pool the ``on-demand`` queue has the higher priority, so a worker
with both kinds waiting takes the on-demand run first.

Cancelling a batch-export run in the Prefect UI cancels its child runs with it (its
``on_cancellation`` hook, at once); the jobs of those children end cancelled when they
are next read or settled, and the jobs it had not started yet wait for the next run.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import FlowRun
from prefect.logging.loggers import flow_run_logger
from pydantic import BaseModel, ValidationError

from core.db import session_scope
from core.settings import get_settings
from flows.runs import (
    BATCH_QUEUE,
    RenderRequest,
    cancel_children,
    read_flow_run,
    reread,
    settle,
    settle_stalled_jobs,
    start_render,
)
from models import jobs
from models.jobs import FINAL_STATUSES, JobStateError, JobTakenError
from models.tables import ExportJob
from tasks.publish.notify import report_failed

POLL_S = 1.0
"""How often the flow looks at the jobs it has started."""


class BatchExportResult(BaseModel):
    started: int
    """Jobs this run started."""
    ended: dict[str, int]
    """How those jobs ended: completed, failed, cancelled."""
    settled: int
    """Other jobs brought in line with their ended flow runs before the batch began."""


async def _cancel_renders(flow: object, flow_run: FlowRun, state: object) -> None:
    """on_cancellation hook (Prefect calls hooks with these keyword arguments)."""
    asked = await cancel_children(flow_run.id, "its batch export was cancelled")
    flow_run_logger(flow_run).info("Cancelled %d render run(s) of this batch export", asked)


@flow(name="batch-export", log_prints=True, on_cancellation=[_cancel_renders])
async def batch_export(max_jobs: int = 100, poll_s: float = POLL_S) -> BatchExportResult:
    """Render up to ``max_jobs`` queued batch jobs, ``AURA_BATCH_CONCURRENCY`` at a time.

    Args:
        max_jobs: the most jobs one run takes; the rest wait for the next run.
        poll_s: seconds between looks at the jobs started.
    """
    logger = get_run_logger()
    bound = get_settings().batch_concurrency
    settled = await settle_stalled_jobs()
    async with session_scope() as session:
        waiting = await jobs.waiting_for_batch(session, limit=max_jobs)
    logger.info("%d batch job(s) waiting; rendering %d at a time", len(waiting), bound)
    ended: Counter[str] = Counter()
    going: set[uuid.UUID] = set()
    started = 0
    while waiting or going:
        while waiting and len(going) < bound:
            job = waiting.pop(0)
            if await _start(job):
                going.add(job.id)
                started += 1
        await asyncio.sleep(poll_s)
        for job_id in sorted(going):
            job = await reread(job_id)
            if job.status not in FINAL_STATUSES and job.flow_run_id is not None:
                flow_run = await read_flow_run(job.flow_run_id)
                if flow_run is not None and flow_run.state is not None \
                        and flow_run.state.is_final():
                    job = await settle(job, flow_run) or job
            if job.status in FINAL_STATUSES:
                going.discard(job_id)
                ended[job.status.value] += 1
    logger.info("Batch export: %d started, %s; %d other job(s) settled", started,
                dict(ended) or "none ended", settled)
    return BatchExportResult(started=started, ended=dict(ended), settled=settled)


async def _start(job: ExportJob) -> bool:
    """Start the job's render; False when it cannot be (it is failed) or is not ours."""
    try:
        request = RenderRequest.model_validate(job.spec)
    except ValidationError as exc:
        await report_failed(job.id, f"the queued render request is not valid: {exc}")
        return False
    try:
        await start_render(job, request, queue=BATCH_QUEUE, as_subflow=True)
    except (JobTakenError, JobStateError):
        return False  # another batch run took it, or it was cancelled meanwhile
    return True
