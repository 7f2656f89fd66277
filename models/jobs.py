"""The export_jobs repository: the only code that writes job rows.

A job moves ``queued -> running -> completed`` or ends ``failed`` or ``cancelled``;
those three are final. While it runs, each pipeline step reports its name, the overall
progress (0..1, never going backwards) and a small dict of facts that is merged into
``steps[step]``.
A failed job keeps everything it had reached (progress, steps, keys) next to its error.

Every function works inside the caller's session and flushes, so a bad value fails at
the call; committing is the caller's business (:func:`core.db.session_scope` does it).
On PostgreSQL the row is locked (``SELECT … FOR UPDATE``) for the rest of the
transaction, so two writers of one job cannot interleave.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import AuraError, NotFoundError
from models.domain import JobStatus
from models.owned import page_owned, parse_id
from models.tables import ExportJob, utc_now

JobId = uuid.UUID | str

ALLOWED_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.queued: frozenset({JobStatus.running, JobStatus.failed, JobStatus.cancelled}),
    # running -> running: a retried flow run marks its job running again.
    JobStatus.running: frozenset({JobStatus.running, JobStatus.completed, JobStatus.failed,
                                  JobStatus.cancelled}),
    JobStatus.completed: frozenset(),
    JobStatus.failed: frozenset(),
    JobStatus.cancelled: frozenset(),
}
"""For each status, the statuses a job may move to next."""

FINAL_STATUSES = frozenset({JobStatus.completed, JobStatus.failed, JobStatus.cancelled})
MAX_STEP_NAME_LENGTH = 64


class JobNotFoundError(NotFoundError):
    """No export job has the given id (for this user)."""

    def __init__(self, job_id: object, reason: str = "") -> None:
        self.job_id = job_id
        detail = f" ({reason})" if reason else ""
        super().__init__(f"there is no export job with id {str(job_id)!r}{detail}")


class JobStateError(AuraError):
    """A job was asked to do something its status does not allow."""

    def __init__(self, job_id: uuid.UUID, status: JobStatus, action: str) -> None:
        self.job_id = job_id
        self.status = status
        hint = (
            "completed, failed and cancelled jobs are final"
            if status in FINAL_STATUSES
            else "mark it running first"
        )
        super().__init__(f"export job {job_id} is {status.value}, so it cannot {action}: {hint}")


def _as_uuid(job_id: JobId) -> uuid.UUID:
    return parse_id(job_id, lambda: JobNotFoundError(job_id, "that is not a valid job id"))


async def _load_for_update(session: AsyncSession, job_id: JobId) -> ExportJob:
    key = _as_uuid(job_id)
    # populate_existing: a job already in this session is read again, under the lock.
    job = await session.get(ExportJob, key, with_for_update=True, populate_existing=True)
    if job is None:
        raise JobNotFoundError(key)
    return job


def _move(job: ExportJob, to: JobStatus, action: str) -> None:
    if to not in ALLOWED_TRANSITIONS[job.status]:
        raise JobStateError(job.id, job.status, action)
    job.status = to


async def create_job(
    session: AsyncSession,
    *,
    spec: dict[str, Any],
    user_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
    flow_run_id: uuid.UUID | None = None,
    batch: bool = False,
) -> ExportJob:
    """Add a queued job for the render request ``spec``.

    Args:
        session: the session to add it in.
        spec: the render request, JSON-serialisable (script, render settings, …).
        user_id: who asked for it; ``None`` for jobs started from the command line.
        project_id: the project it renders, if any.
        flow_run_id: the Prefect flow run doing the work, when already known.
        batch: the job waits for the scheduled batch export (:func:`waiting_for_batch`)
            instead of being started by its caller.

    Returns:
        The new job, flushed: its ``id`` and timestamps are set.
    """
    if not isinstance(spec, dict):
        raise TypeError(f"spec must be a dict (the render request), got {type(spec).__name__}")
    job = ExportJob(
        spec=spec,
        user_id=user_id,
        project_id=project_id,
        flow_run_id=flow_run_id,
        status=JobStatus.queued,
        progress=0.0,
        steps={},
        batch=batch,
    )
    session.add(job)
    await session.flush()
    return job


async def get_job(session: AsyncSession, job_id: JobId,
                  user_id: uuid.UUID | None = None) -> ExportJob:
    """The job with id ``job_id``; with ``user_id``, only if that user owns it.

    Raises:
        JobNotFoundError: no job has that id (for this user), or it is not a valid id.
    """
    key = _as_uuid(job_id)
    job = await session.get(ExportJob, key, populate_existing=True)
    if job is None or (user_id is not None and job.user_id != user_id):
        raise JobNotFoundError(key)
    return job


async def list_jobs(session: AsyncSession, user_id: uuid.UUID, *, limit: int = 20,
                    offset: int = 0) -> tuple[list[ExportJob], int]:
    """One page of the user's jobs, newest first, and how many there are."""
    return await page_owned(session, ExportJob, user_id, newest_first=ExportJob.created_at,
                            limit=limit, offset=offset)


async def mark_running(
    session: AsyncSession, job_id: JobId, flow_run_id: uuid.UUID | None = None
) -> ExportJob:
    """Mark a queued job running and set ``started_at``.

    A job that is already running (a retried flow run) stays running and keeps its
    ``started_at``; ``flow_run_id``, when given, replaces the one recorded.

    A **failed** job whose own flow run starts again (an operator pressed "Retry" on the
    failed run in the Prefect UI) is running again: its error and ``finished_at`` are
    cleared and it keeps the progress it had reached. Another flow run cannot reopen it.

    Raises:
        JobNotFoundError: no job has that id.
        JobStateError: the job is completed or cancelled, or failed in another run.
    """
    job = await _load_for_update(session, job_id)
    if job.status == JobStatus.failed and flow_run_id is not None \
            and flow_run_id == job.flow_run_id:
        job.status = JobStatus.running
        job.error = None
        job.finished_at = None
    _move(job, JobStatus.running, "be marked running")
    if job.started_at is None:
        job.started_at = utc_now()
    if flow_run_id is not None:
        job.flow_run_id = flow_run_id
    await session.flush()
    return job


async def record_step(
    session: AsyncSession,
    job_id: JobId,
    step: str,
    *,
    progress: float,
    info: dict[str, Any] | None = None,
) -> ExportJob:
    """Record that a running job reached ``step``.

    Args:
        session: the session to write in.
        job_id: the job.
        step: the step name, e.g. ``"synthesize_voice"``.
        progress: overall progress, 0 to 1; a value below the current one is ignored
            (progress never goes backwards, e.g. when a retried step reports again).
        info: facts about the step (``{"seconds": 1.2, "reused": True}``), merged into
            ``steps[step]``; JSON-serialisable.

    Raises:
        ValueError: ``step`` is empty or too long, or ``progress`` is outside 0..1.
        JobNotFoundError: no job has that id.
        JobStateError: the job is not running.
    """
    if not step or len(step) > MAX_STEP_NAME_LENGTH:
        raise ValueError(
            f"step name must be 1 to {MAX_STEP_NAME_LENGTH} characters, got {step!r}"
        )
    if not (isinstance(progress, int | float) and math.isfinite(progress)) or not (
        0.0 <= progress <= 1.0
    ):
        raise ValueError(f"progress must be a number from 0 to 1, got {progress!r}")
    job = await _load_for_update(session, job_id)
    if job.status != JobStatus.running:
        raise JobStateError(job.id, job.status, f"record step {step!r}")
    job.step = step
    job.progress = max(job.progress, float(progress))
    # The JSON column does not track changes inside the dict: assign a new one.
    steps = dict(job.steps or {})
    steps[step] = {**steps.get(step, {}), **(info or {})}
    job.steps = steps
    await session.flush()
    return job


async def mark_completed(
    session: AsyncSession, job_id: JobId, *, video_key: str, url: str
) -> ExportJob:
    """Mark a running job completed: progress 1, the published video, ``finished_at``.

    Args:
        session: the session to write in.
        job_id: the job.
        video_key: storage key of the published video.
        url: where the user can fetch it.

    Raises:
        ValueError: ``video_key`` or ``url`` is empty.
        JobNotFoundError: no job has that id.
        JobStateError: the job is not running.
    """
    if not video_key:
        raise ValueError(f"video_key must name the published video, got {video_key!r}")
    if not url:
        raise ValueError(f"url must say where the video is, got {url!r}")
    job = await _load_for_update(session, job_id)
    _move(job, JobStatus.completed, "be marked completed")
    job.progress = 1.0
    job.video_key = video_key
    job.url = url
    job.error = None
    job.finished_at = utc_now()
    await session.flush()
    return job


async def mark_failed(session: AsyncSession, job_id: JobId, error: str) -> ExportJob:
    """Mark a queued or running job failed with ``error``, keeping all it had reached.

    Progress, step, steps, keys and URL stay as they were, so the user sees how far the
    job got; ``finished_at`` is set.

    Raises:
        JobNotFoundError: no job has that id.
        JobStateError: the job is already completed or failed.
    """
    job = await _load_for_update(session, job_id)
    _move(job, JobStatus.failed, "be marked failed")
    job.error = error or "the export failed for an unknown reason"
    job.finished_at = utc_now()
    await session.flush()
    return job


async def mark_cancelled(session: AsyncSession, job_id: JobId,
                         reason: str = "cancelled") -> ExportJob:
    """Mark a queued or running job cancelled, keeping all it had reached.

    Raises:
        JobNotFoundError: no job has that id.
        JobStateError: the job is already completed, failed or cancelled.
    """
    job = await _load_for_update(session, job_id)
    _move(job, JobStatus.cancelled, "be cancelled")
    job.error = reason
    job.finished_at = utc_now()
    await session.flush()
    return job


async def waiting_for_batch(session: AsyncSession, *, limit: int) -> list[ExportJob]:
    """Up to ``limit`` batch jobs that no flow run has taken yet, oldest first."""
    rows = await session.scalars(
        select(ExportJob)
        .where(ExportJob.batch.is_(True), ExportJob.status == JobStatus.queued,
               ExportJob.flow_run_id.is_(None))
        .order_by(ExportJob.created_at, ExportJob.id).limit(limit))
    return list(rows.all())


async def unfinished_with_flow_runs(session: AsyncSession, *, limit: int) -> list[ExportJob]:
    """Up to ``limit`` queued or running jobs that have a flow run, oldest first."""
    rows = await session.scalars(
        select(ExportJob)
        .where(ExportJob.status.in_([JobStatus.queued, JobStatus.running]),
               ExportJob.flow_run_id.is_not(None))
        .order_by(ExportJob.created_at, ExportJob.id).limit(limit))
    return list(rows.all())


async def assign_flow_run(session: AsyncSession, job_id: JobId,
                          flow_run_id: uuid.UUID) -> ExportJob:
    """Record the flow run that renders a job which has none yet.

    Raises:
        JobNotFoundError: no job has that id.
        JobStateError: the job has ended.
        JobTakenError: another flow run was recorded first.
    """
    job = await _load_for_update(session, job_id)
    if job.status in FINAL_STATUSES:
        raise JobStateError(job.id, job.status, "be given a flow run")
    if job.flow_run_id is not None and job.flow_run_id != flow_run_id:
        raise JobTakenError(job.id, job.flow_run_id)
    job.flow_run_id = flow_run_id
    await session.flush()
    return job


async def record_restart(session: AsyncSession, job_id: JobId,
                         flow_run_id: uuid.UUID) -> ExportJob:
    """Record that the job was started again, in flow run ``flow_run_id``, after its
    previous flow run crashed; it keeps its progress and steps.

    Raises:
        JobNotFoundError: no job has that id.
        JobStateError: the job has ended.
    """
    job = await _load_for_update(session, job_id)
    if job.status in FINAL_STATUSES:
        raise JobStateError(job.id, job.status, "be restarted")
    job.restarts += 1
    job.flow_run_id = flow_run_id
    await session.flush()
    return job


class JobTakenError(AuraError):
    """Another flow run already renders this job."""

    def __init__(self, job_id: uuid.UUID, flow_run_id: uuid.UUID) -> None:
        self.job_id = job_id
        self.flow_run_id = flow_run_id
        super().__init__(f"export job {job_id} is already rendered by flow run {flow_run_id}")
