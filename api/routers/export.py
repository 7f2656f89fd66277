"""/api/export: render a project to an MP4 as a Prefect deployment run, and follow it.

``POST /api/export`` checks the project (its script's markup, its avatar and voice), makes
a queued export_jobs row and starts the ``script-to-video/render`` deployment
(flows/runs.py: ``run_deployment(..., timeout=0)`` with the job id as idempotency key, so
a retried request never starts a second render of the same job), on the ``on-demand``
work queue. With ``"batch": true`` the job waits instead for the next scheduled
``batch-export`` run (flows/batch_export.py). The flow run then moves the job itself
(running with progress, completed with the video, failed with a readable reason).

What the flow cannot report is settled from Prefect when a job is looked at: a run that
crashed is started again (up to ``AURA_MAX_RESTARTS`` times), one that failed before its
first step or was cancelled in the Prefect UI ends the job. Cancelling
through the API cancels the flow run for real (``Cancelling``: the runner stops the
process; a run that has not started is ``Cancelled`` at once) and marks the job cancelled.

The job row is written as the service role (the flow workers' connection), after the
caller's own session has shown the project is theirs.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, status
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict
from starlette.responses import FileResponse

from api.deps import AUTH_RESPONSES, CurrentUser, UserSession
from api.routers.projects import ready_project
from core.auth import jwt_secret
from core.db import session_scope
from core.errors import InputError, ProviderError, TransientError
from core.links import check_signature, sign_path
from core.settings import get_settings
from core.storage import LocalStorage, get_storage
from flows.runs import (
    ON_DEMAND_QUEUE,
    RenderRequest,
    cancel_flow_run,
    read_flow_run,
    reread,
    settle,
    start_render,
    state_name,
)
from models import jobs
from models.domain import JobStatus
from models.jobs import FINAL_STATUSES
from models.owned import MAX_PAGE_SIZE
from models.tables import ExportJob
from tasks.publish.notify import report_cancelled, report_failed

router = APIRouter(prefix="/api/export", tags=["export"], responses=AUTH_RESPONSES)

VIDEO_URL_EXPIRY_S = 3600
"""Lifetime of a presigned video URL (S3 storage)."""


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: uuid.UUID
    batch: bool = False
    """Wait for the next scheduled batch export instead of starting now."""


class ExportJobOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID | None
    status: JobStatus
    progress: float
    step: str | None
    steps: dict[str, Any]
    error: str | None
    batch: bool
    restarts: int
    """Times the render was started again after its flow run crashed."""
    video_url: str | None
    """Where to download the MP4 once the job is completed."""
    flow_run_id: uuid.UUID | None
    flow_run_state: str | None
    """The Prefect flow run's state (SCHEDULED, RUNNING, COMPLETED, ...), when known."""
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, job: ExportJob, flow_run_state: str | None = None) -> ExportJobOut:
        return cls(id=job.id, project_id=job.project_id, status=job.status,
                   progress=job.progress, step=job.step, steps=job.steps or {},
                   error=job.error, batch=job.batch, restarts=job.restarts,
                   video_url=video_url(job),
                   flow_run_id=job.flow_run_id, flow_run_state=flow_run_state,
                   created_at=job.created_at, updated_at=job.updated_at)


class ExportJobPage(BaseModel):
    items: list[ExportJobOut]
    total: int
    limit: int
    offset: int


def video_url(job: ExportJob) -> str | None:
    """Where the finished MP4 opens without a bearer token, for ``VIDEO_URL_EXPIRY_S``:
    a signed link to this API on local storage (core/links.py), a presigned URL on S3."""
    if job.status != JobStatus.completed or not job.video_key:
        return None
    storage = get_storage()
    if isinstance(storage, LocalStorage):
        return sign_path(f"/api/export/{job.id}/video/shared", jwt_secret(get_settings()),
                         expires_s=VIDEO_URL_EXPIRY_S)
    return storage.url(job.video_key, expires_s=VIDEO_URL_EXPIRY_S)


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=ExportJobOut)
async def start_export(body: ExportIn, user: CurrentUser,
                       session: UserSession) -> ExportJobOut:
    """Start rendering the project; the job is queued until a runner picks the run up."""
    project, settings = await ready_project(session, user.id, body.project_id, to="render")
    spec = settings.render_spec().model_copy(update={"fps": get_settings().video.fps})
    request = RenderRequest(script=project.script, spec=spec, voice=settings.voice,
                            effect=settings.effect)
    await session.commit()  # the connection goes back to the pool during the calls below
    async with session_scope() as service:
        job = await jobs.create_job(service, spec=request.model_dump(mode="json"),
                                    user_id=user.id, project_id=project.id, batch=body.batch)
    if body.batch:
        return ExportJobOut.of(job)
    try:
        flow_run = await start_render(job, request, queue=ON_DEMAND_QUEUE)
    except Exception as exc:
        why = exc.reason if isinstance(exc, ProviderError) else str(exc) or type(exc).__name__
        reason = f"the render could not be started: {why}"
        await report_failed(job.id, reason)
        raise TransientError(reason, provider="prefect") from exc
    return ExportJobOut.of(await reread(job.id), state_name(flow_run))


@router.get("", response_model=ExportJobPage)
async def list_exports(user: CurrentUser, session: UserSession,
                       limit: int = Query(20, ge=1, le=MAX_PAGE_SIZE),
                       offset: int = Query(0, ge=0, le=1_000_000)) -> ExportJobPage:
    """The caller's export jobs, newest first (states as the jobs last recorded them)."""
    page, total = await jobs.list_jobs(session, user.id, limit=limit, offset=offset)
    return ExportJobPage(items=[ExportJobOut.of(job) for job in page], total=total,
                         limit=limit, offset=offset)


@router.get("/{job_id}", response_model=ExportJobOut)
async def get_export(job_id: uuid.UUID, user: CurrentUser,
                     session: UserSession) -> ExportJobOut:
    """The job's state, brought in line with its Prefect flow run."""
    job = await jobs.get_job(session, job_id, user.id)
    await session.commit()  # the connection goes back to the pool while Prefect answers
    state = None
    if job.flow_run_id is not None and job.status not in FINAL_STATUSES:
        flow_run = await read_flow_run(job.flow_run_id)
        if flow_run is not None:
            job = await settle(job, flow_run) or job
            if job.flow_run_id != flow_run.id:  # started again after a crash
                flow_run = await read_flow_run(job.flow_run_id)
        state = state_name(flow_run) if flow_run is not None else None
    return ExportJobOut.of(job, state)


@router.post("/{job_id}/cancel", response_model=ExportJobOut)
async def cancel_export(job_id: uuid.UUID, user: CurrentUser,
                        session: UserSession) -> ExportJobOut:
    """Cancel the job's flow run and mark the job cancelled (409 if it has ended)."""
    job = await jobs.get_job(session, job_id, user.id)
    if job.status in FINAL_STATUSES:
        raise JobEndedError(f"export job {job.id} is {job.status.value} and cannot be "
                            "cancelled")
    await session.commit()  # the connection goes back to the pool while Prefect answers
    state = None
    if job.flow_run_id is not None:
        state = await cancel_flow_run(job.flow_run_id, "cancelled through the API")
    await report_cancelled(job.id, "cancelled by the user")
    return ExportJobOut.of(await reread(job.id), state)


@router.get("/{job_id}/video", response_class=Response,
            responses={200: {"content": {"video/mp4": {}}}, 307: {}, 409: {}})
async def download_video(job_id: uuid.UUID, user: CurrentUser,
                         session: UserSession) -> Response:
    """The finished MP4 (a redirect to a presigned URL on S3)."""
    return _video(await jobs.get_job(session, job_id, user.id))


@router.get("/{job_id}/video/shared", response_class=Response, include_in_schema=True,
            responses={200: {"content": {"video/mp4": {}}}, 307: {}, 403: {}, 409: {}})
async def shared_video(job_id: uuid.UUID, expires: int | None = Query(None),
                       signature: str | None = Query(None, max_length=128)) -> Response:
    """The finished MP4 through a signed link (a job's ``video_url`` on local storage),
    with no bearer token: for ``<video src>``, downloads and shared links."""
    check_signature(f"/api/export/{job_id}/video/shared", expires, signature,
                    jwt_secret(get_settings()))
    async with session_scope() as service:
        return _video(await jobs.get_job(service, job_id))


def _video(job: ExportJob) -> Response:
    if job.status != JobStatus.completed or not job.video_key:
        raise JobEndedError(f"export job {job.id} is {job.status.value}; the video is there "
                            "once it is completed")
    storage = get_storage()
    if isinstance(storage, LocalStorage):
        with storage.local_path(job.video_key) as path:
            return FileResponse(path, media_type="video/mp4",
                                filename=f"aura-{job.id}.mp4")
    return RedirectResponse(storage.url(job.video_key, expires_s=VIDEO_URL_EXPIRY_S))


class JobEndedError(InputError):
    """The job's status does not allow what was asked (409)."""

    http_status = 409
