"""Telling people about a job: its export_jobs row and a realtime event, together.

Every change of a job goes through here, so the row and the event never disagree.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from core.db import session_scope
from core.realtime import bus, export_jobs_topic, publish
from models import jobs
from models.domain import PublishedVideo


def _event(job: Any, kind: str) -> dict[str, Any]:
    return {"type": kind, "job_id": str(job.id), "user_id": job.user_id,
            "status": job.status, "progress": job.progress, "step": job.step,
            "error": job.error, "url": job.url}


async def report_running(job_id: UUID, flow_run_id: UUID | None = None) -> None:
    async with session_scope() as session:
        job = await jobs.mark_running(session, job_id, flow_run_id=flow_run_id)
        await publish(export_jobs_topic(job.user_id), _event(job, "export_job.running"), session)


async def report_step(job_id: UUID, step: str, *, progress: float,
                      info: dict[str, Any] | None = None) -> None:
    async with session_scope() as session:
        job = await jobs.record_step(session, job_id, step, progress=progress, info=info)
        await publish(export_jobs_topic(job.user_id), _event(job, "export_job.step"), session)


async def report_completed(job_id: UUID, video: PublishedVideo) -> None:
    async with session_scope() as session:
        job = await jobs.mark_completed(session, job_id, video_key=video.key, url=video.url)
        await publish(export_jobs_topic(job.user_id), _event(job, "export_job.completed"),
                      session)


async def report_failed(job_id: UUID, error: str) -> None:
    async with session_scope() as session:
        job = await jobs.mark_failed(session, job_id, error)
        await publish(export_jobs_topic(job.user_id), _event(job, "export_job.failed"), session)


async def report_cancelled(job_id: UUID, reason: str) -> None:
    async with session_scope() as session:
        job = await jobs.mark_cancelled(session, job_id, reason)
        await publish(export_jobs_topic(job.user_id), _event(job, "export_job.cancelled"),
                      session)


def report_frames(job_id: UUID | None, user_id: UUID | None, done: int, total: int) -> None:
    """In-process progress inside the render step (no database write per frame)."""
    if job_id is None:
        return
    bus.publish(export_jobs_topic(user_id), {"type": "export_job.frames", "job_id": str(job_id),
                                             "done": done, "total": total})
