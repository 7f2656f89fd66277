"""Steps 5 and 6: upload_video (storage key -> published key + URL) and notify (job row +
realtime event). Storage is chosen by ``AURA_STORAGE`` (local folder or S3)."""

from __future__ import annotations

import asyncio
from uuid import UUID

from prefect import get_run_logger, task

from core.storage import get_storage
from models.domain import PublishedVideo, VideoArtifact
from tasks.policy import task_options
from tasks.publish.notify import report_completed
from tasks.publish.upload import publish_video


@task(name="upload_video", task_run_name="upload_video[job {job_id}]", **task_options())
async def upload_video(video: VideoArtifact, job_id: UUID) -> PublishedVideo:
    """Publish the rendered video under the job's key; returns the key and a URL."""
    storage = get_storage()
    published = await asyncio.to_thread(publish_video, storage, video.key, job_id)
    get_run_logger().info("Published %s (%d bytes) on %s storage", published.key,
                          published.size_bytes, storage.name)
    return published


@task(name="notify", task_run_name="notify[job {job_id}]", **task_options())
async def notify(job_id: UUID, video: PublishedVideo) -> None:
    """Mark the job completed and tell its owner's devices."""
    await report_completed(job_id, video)
    get_run_logger().info("Job %s completed: %s", job_id, video.url)
