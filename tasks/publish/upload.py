"""Publishing a rendered video: a stable key per export job and a URL to fetch it.

The rendered file stays under its content-addressed key (so re-renders are reused); the
published copy lives at ``published/{job_id}.mp4`` and is what users download.
"""

from __future__ import annotations

from uuid import UUID

from core.storage import Storage
from models.domain import PublishedVideo


def published_key(job_id: UUID | str) -> str:
    return f"published/{job_id}.mp4"


def publish_video(storage: Storage, video_key: str, job_id: UUID | str) -> PublishedVideo:
    """Copy the rendered video to its published key and return the key and a URL."""
    key = published_key(job_id)
    storage.copy(video_key, key)
    return PublishedVideo(key=key, url=storage.url(key), size_bytes=storage.size_bytes(key))
