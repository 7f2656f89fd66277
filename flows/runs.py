"""Render runs of export jobs: started as Prefect deployment runs, followed, restarted.

Every export job is rendered by a run of the ``script-to-video/render`` deployment (served
by ``aura serve``, or deployed onto a work pool with prefect.yaml). This module is the one
place that starts such runs, for the API (on demand) and the batch-export flow:

- :func:`start_render` starts the run with the job id as idempotency key, so asking twice
  (a retried request, two batch runs racing) never renders a job twice, and records the
  run on the job.
- :func:`settle` brings a job in line with its flow run when the run ended without the
  flow saying so: a run that **crashed** (its process was killed: a worker lost, an
  out-of-memory kill) is started again, up to ``AURA_MAX_RESTARTS`` times, with the
  parameters it had; finished steps are content-addressed artifacts, so the new run
  reuses them (the voice is not synthesized again). A run that failed before its first
  step, or one that was cancelled in the Prefect UI, ends the job.

Prefect does not retry a crashed flow run itself (``retries=`` covers exceptions raised in
the flow), so without :func:`settle` such a job would stay "running" forever. The API
settles a job when it is read; the batch-export flow settles every job it watches and,
on each scheduled run, every job whose run has ended (:func:`settle_stalled_jobs`).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from pydantic import BaseModel

from core.db import session_scope
from core.errors import TransientError
from core.settings import get_settings
from models import jobs
from models.domain import RenderSpec
from models.jobs import FINAL_STATUSES, JobStateError
from models.tables import ExportJob
from tasks.publish.notify import report_cancelled, report_failed

logger = logging.getLogger(__name__)

FLOW_NAME = "script-to-video"
RENDER_DEPLOYMENT = f"{FLOW_NAME}/render"
"""The deployment that renders one job (deployments/serve.py and prefect.yaml)."""
ON_DEMAND_QUEUE = "on-demand"
BATCH_QUEUE = "batch"
"""Work queues of the render deployment on a work pool; on-demand has the higher
priority (prefect.yaml), so a worker with both waiting takes the on-demand run first."""


class RenderRequest(BaseModel):
    """What to render: the flow's parameters apart from the job and its owner. Batch jobs
    keep theirs in ``export_jobs.spec`` until the batch export starts them."""

    script: str
    spec: RenderSpec
    voice: str | None = None
    effect: str | None = None

    def parameters(self, job_id: uuid.UUID, user_id: uuid.UUID | None) -> dict[str, Any]:
        """The ``script-to-video`` flow's parameters for ``job_id``, as JSON."""
        return {**self.model_dump(mode="json"), "job_id": str(job_id),
                "user_id": str(user_id) if user_id else None}


def state_name(flow_run: Any) -> str | None:
    """The run's state type (SCHEDULED, RUNNING, COMPLETED, CRASHED, ...), if any."""
    return flow_run.state.type.value if flow_run.state is not None else None


async def start_render(job: ExportJob, request: RenderRequest, *, queue: str,
                       as_subflow: bool = False) -> Any:
    """Start the render run of ``job`` and record it on the job; returns the flow run.

    ``queue`` is the work queue to use where the deployment is on a work pool (served
    deployments have none). ``as_subflow`` links the run to the calling flow run (the
    batch export), so the Prefect UI shows it as a child and cancelling the parent
    cancels it.
    """
    flow_run = await _run_deployment(request.parameters(job.id, job.user_id),
                                     idempotency_key=str(job.id), queue=queue,
                                     as_subflow=as_subflow,
                                     tags=[f"job:{job.id}", queue])
    async with session_scope() as session:
        await jobs.assign_flow_run(session, job.id, flow_run.id)
    return flow_run


async def read_flow_run(flow_run_id: uuid.UUID) -> Any:
    """The flow run, or None if Prefect cannot be reached (logged)."""
    from prefect.client.orchestration import get_client

    try:
        async with get_client() as client:
            return await client.read_flow_run(flow_run_id)
    except Exception as exc:
        logger.warning("Could not read flow run %s: %s", flow_run_id, exc)
        return None


async def settle(job: ExportJob, flow_run: Any) -> ExportJob | None:
    """Restart or end ``job`` if its flow run ended without the flow saying so.

    Returns:
        The job as it is now, or None when there was nothing to do (the run is going,
        or it ended and the flow recorded it).
    """
    from prefect.client.schemas.objects import StateType

    if job.status in FINAL_STATUSES or flow_run.id != job.flow_run_id:
        return None
    kind = flow_run.state.type if flow_run.state is not None else None
    if kind == StateType.CRASHED and job.restarts < get_settings().max_restarts \
            and flow_run.deployment_id is not None:
        return await _restart(job, flow_run)
    if kind in (StateType.CANCELLED, StateType.CANCELLING):
        ending = report_cancelled(job.id, "cancelled in Prefect")
    elif kind in (StateType.FAILED, StateType.CRASHED):
        reason = (flow_run.state.message or "").strip() or "no reason given"
        if kind == StateType.CRASHED and job.restarts:
            reason += f" (after {job.restarts} restart{'s' * (job.restarts > 1)})"
        ending = report_failed(job.id, f"the render {kind.value.lower()}: {reason}")
    else:
        return None
    try:
        await ending
    except JobStateError:
        pass  # the flow run ended the job itself meanwhile
    return await reread(job.id)


async def settle_stalled_jobs(*, limit: int = 500) -> int:
    """Settle every unfinished job whose flow run has ended; returns how many changed."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async with session_scope() as session:
        unfinished = await jobs.unfinished_with_flow_runs(session, limit=limit)
    if not unfinished:
        return 0
    async with get_client() as client:
        runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[job.flow_run_id for job in unfinished])))
    by_id = {run.id: run for run in runs}
    changed = 0
    for job in unfinished:
        run = by_id.get(job.flow_run_id)
        if run is not None and run.state is not None and run.state.is_final():
            changed += await settle(job, run) is not None
    return changed


async def cancel_flow_run(flow_run_id: uuid.UUID, reason: str) -> str | None:
    """Cancel one flow run for real; returns its state type afterwards (None if unknown).

    A run that has not started is ``Cancelled`` at once; a running (or paused) one is set
    ``Cancelling``, and its runner or worker stops the process. A run that has ended is
    left as it is.
    """
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        flow_run = await client.read_flow_run(flow_run_id)
        return await _cancel(client, flow_run, reason)


async def cancel_children(parent_flow_run_id: uuid.UUID, reason: str) -> int:
    """Cancel the unfinished child runs of a flow run; returns how many were asked.

    Prefect's server would cancel them too, but only after the parent has reached
    Cancelled and its clean-up service comes round (about a minute); a cancelled batch
    export calls this from its ``on_cancellation`` hook to stop its renders at once.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    async with get_client() as client:
        children = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_flow_run_id])))
        asked = 0
        for child in children:
            before = state_name(child)
            asked += await _cancel(client, child, reason) != before
    return asked


async def _cancel(client: Any, flow_run: Any, reason: str) -> str | None:
    from prefect.client.schemas.objects import StateType
    from prefect.states import Cancelled, Cancelling

    kind = flow_run.state.type if flow_run.state is not None else None
    if kind in (StateType.SCHEDULED, StateType.PENDING, None):
        new_state = Cancelled(message=reason)
    elif kind in (StateType.RUNNING, StateType.PAUSED):
        new_state = Cancelling(message=reason)
    else:
        return kind.value
    await client.set_flow_run_state(flow_run.id, new_state, force=True)
    return new_state.type.value


async def reread(job_id: uuid.UUID) -> ExportJob:
    async with session_scope() as service:
        return await jobs.get_job(service, job_id)


async def _restart(job: ExportJob, crashed: Any) -> ExportJob:
    attempt = job.restarts + 1
    logger.warning("Flow run %s of export job %s crashed (%s); starting it again (restart "
                   "%d)", crashed.id, job.id, crashed.state.message, attempt)
    flow_run = await _run_deployment(
        dict(crashed.parameters), idempotency_key=f"{job.id}:restart-{attempt}",
        queue=crashed.work_queue_name, as_subflow=False,
        tags=[*(crashed.tags or ()), f"restart:{attempt}"], deployment_id=crashed.deployment_id)
    async with session_scope() as session:
        try:
            await jobs.record_restart(session, job.id, flow_run.id)
        except JobStateError:
            pass  # it ended meanwhile; the new run finds it ended and stops
    return await reread(job.id)


async def _run_deployment(parameters: dict[str, Any], *, idempotency_key: str,
                          queue: str | None, as_subflow: bool, tags: list[str],
                          deployment_id: uuid.UUID | None = None) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    async with get_client() as client:
        try:
            deployment = await (client.read_deployment(deployment_id) if deployment_id
                                else client.read_deployment_by_name(RENDER_DEPLOYMENT))
        except ObjectNotFound:
            raise TransientError(
                f"the deployment {RENDER_DEPLOYMENT!r} is not on the Prefect server (yet): "
                "run `aura serve`, or `make deploy` and a worker", provider="prefect",
            ) from None
    return await run_deployment(
        deployment.id, parameters=parameters, timeout=0, idempotency_key=idempotency_key,
        as_subflow=as_subflow, tags=tags,
        work_queue_name=queue if deployment.work_pool_name else None)
