"""sync_lips: the rendered video + its voice -> the same video lip-synced by Sync Labs.

This is how the ``synclabs`` provider of step 3 (lip sync) works: Sync Labs takes a
*video* and an *audio* URL, fetches both itself and returns a video whose mouth speaks
the audio. So with ``AURA_LIPSYNC=synclabs`` align_lipsync still computes the local mouth
shapes (the rendered video already speaks), and this pass runs after step 4
(render_video), before the upload. The HTTP client is tasks/lipsync/synclabs.py.

Sync Labs must be able to download the inputs, so they are handed over as presigned
storage URLs, valid for :data:`INPUT_URL_EXPIRY_S`. Only S3 storage gives such URLs;
local storage gives ``file://`` links and is refused with a
:class:`~core.errors.ConfigError` (by :func:`check_ready` before the flow's first step,
and again by the task itself).

A job is paid for, so none is paid for twice:

- the finished video is stored under a content key (video, voice, model, sync mode), so
  a rerun with the same inputs reuses it without asking Sync Labs;
- the id of a submitted job is recorded next to that key before the wait begins, so a
  Prefect retry after a transient failure (job past the deadline, a download cut off or
  truncated) resumes that job instead of submitting a new one. A job refused for good
  (FAILED, REJECTED, CANCELED, unknown, output expired or unplayable) drops the record,
  so a later run starts afresh.

The returned file is checked before it is stored: a file that starts as an MP4 but ends
before its boxes do was cut short in transit, a :class:`~core.errors.TransientError`
(the retry downloads the same job's output again, at no cost); anything else that is
not a playable video with sound is a :class:`~core.errors.PermanentError`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from pathlib import Path

import av
from prefect import get_run_logger, task

from core.errors import ConfigError, PermanentError, TransientError
from core.settings import Settings, get_settings
from core.storage import Storage, content_key, get_storage
from models.domain import VideoArtifact, VoiceTrack
from tasks.artifacts import load_finished, save_finished
from tasks.lipsync.synclabs import (
    DEFAULT_DEADLINE_S,
    DEFAULT_MODEL,
    DEFAULT_SYNC_MODE,
    PROVIDER,
    SyncLabsClient,
)
from tasks.policy import task_options

RESYNC_ENGINE_VERSION = 1
"""Changes with what this step does to a video, so earlier results are redone."""

INPUT_URL_EXPIRY_S = 3600
"""Lifetime of the presigned input URLs, in seconds. Sync Labs fetches them when the job
starts, which on a busy plan can be a while after submission; an hour covers that and
the whole :data:`~tasks.lipsync.synclabs.DEFAULT_DEADLINE_S` wait."""

_FETCHABLE_SCHEMES = ("https://", "http://")
_URL_CHECK_KEY = "synclabs/url-check"
"""Any key does for :func:`check_ready`: signing a URL is local and reads no object."""
_MP4_BOX_HEADER_BYTES = 8

RunLogger = logging.Logger | logging.LoggerAdapter[logging.Logger]


def fetchable_url(storage: Storage, key: str) -> str:
    """A URL of ``key`` that Sync Labs can download, valid for :data:`INPUT_URL_EXPIRY_S`.

    Raises:
        ConfigError: the storage gives no http(s) URLs (local storage).
    """
    url = storage.url(key, expires_s=INPUT_URL_EXPIRY_S)
    if not url.startswith(_FETCHABLE_SCHEMES):
        raise ConfigError("AURA_LIPSYNC=synclabs needs storage that Sync Labs can download "
                          f"the video and voice from, but {storage.name} storage only gives "
                          "links to files on this machine: set AURA_STORAGE=s3 (with "
                          "AURA_S3__BUCKET), or use AURA_LIPSYNC=phonemes")
    return url


def check_ready(settings: Settings) -> None:
    """Fail now, in plain words, if :func:`sync_lips` could not run under ``settings``.

    The script-to-video flow calls this before its first step, so that a missing key or
    the wrong storage is reported before minutes of voice and render work.

    Raises:
        ConfigError: no Sync Labs API key, or storage whose URLs Sync Labs cannot fetch.
    """
    SyncLabsClient.from_settings(settings).close()
    fetchable_url(get_storage(settings), _URL_CHECK_KEY)


@task(name="sync_lips", task_run_name="sync_lips[{video.duration_s:.1f} s video]",
      **task_options())
async def sync_lips(video: VideoArtifact, voice: VoiceTrack) -> VideoArtifact:
    """Have Sync Labs redo the mouth of the rendered ``video`` to ``voice``.

    Args:
        video: the rendered video (step 4), already speaking with local mouth shapes.
        voice: the voice track that ``video`` speaks.

    Returns:
        The lip-synced video under its own content key, with the width, height, fps,
        frame count and duration read from the file Sync Labs returned.

    Raises:
        ConfigError: no Sync Labs API key, or storage whose URLs Sync Labs cannot fetch.
        PermanentError: Sync Labs refused the job, or returned no playable video.
        TransientError: worth a retry (rate limit, server error, network, a job past
            its deadline, a download cut short).
    """
    logger = get_run_logger()
    settings = get_settings()
    storage = get_storage(settings)
    key = content_key("synclabs", RESYNC_ENGINE_VERSION, video.key, voice.audio_key,
                      DEFAULT_MODEL, DEFAULT_SYNC_MODE)
    if (finished := load_finished(storage, key, VideoArtifact, logger)) is not None:
        return finished
    video_url = fetchable_url(storage, video.key)
    audio_url = fetchable_url(storage, voice.audio_key)
    with tempfile.TemporaryDirectory(prefix="aura-synclabs-") as tmp:
        out_path = Path(tmp) / "lipsynced.mp4"
        synced = await asyncio.to_thread(_run_job, settings, storage, key, video_url,
                                         audio_url, out_path, logger)
        await asyncio.to_thread(storage.put_file, synced.key, out_path, "video/mp4")
    save_finished(storage, key, synced)
    storage.delete(_job_record_key(key))  # only after the result is marked finished
    logger.info("Lip-synced by Sync Labs: %d frames (%dx%d, %.2f s)", synced.n_frames,
                synced.width, synced.height, synced.duration_s)
    return synced


def _job_record_key(key: str) -> str:
    return f"{key}.job.json"


def _run_job(settings: Settings, storage: Storage, key: str, video_url: str,
             audio_url: str, out_path: Path, logger: RunLogger) -> VideoArtifact:
    """Submit the job for ``key`` (or resume the recorded one), wait for it, download its
    video to ``out_path`` and describe it as the artifact to store at ``key + '.mp4'``."""
    record_key = _job_record_key(key)
    with SyncLabsClient.from_settings(settings) as client:
        if storage.exists(record_key):
            job_id = json.loads(storage.get_bytes(record_key))["job_id"]
            logger.info("Resuming Sync Labs job %s from an earlier attempt", job_id)
        else:
            job_id = client.submit(video_url, audio_url, model=DEFAULT_MODEL,
                                   sync_mode=DEFAULT_SYNC_MODE)
            storage.put_bytes(record_key, json.dumps({"job_id": job_id}).encode(),
                              "application/json")
            logger.info("Submitted Sync Labs job %s (%s)", job_id, DEFAULT_MODEL)
        try:
            job = client.wait(job_id, deadline_s=DEFAULT_DEADLINE_S)
            if not job.output_url:
                raise TransientError(f"lip-sync job {job_id!r} is COMPLETED but has no "
                                     "output URL", provider=PROVIDER)
            client.download(job.output_url, out_path)
            synced = read_video(out_path, job_id, f"{key}.mp4")
        except PermanentError:
            storage.delete(record_key)
            raise
    logger.info("Sync Labs job %s finished", job_id)
    return synced


def read_video(path: Path, job_id: str, key: str) -> VideoArtifact:
    """Check the file Sync Labs returned and describe it as the artifact stored at ``key``.

    The frames are counted from the demuxed packets, and the first one is decoded, so
    the whole file is read but only one frame decoded.

    Raises:
        TransientError: an MP4 that ends before its boxes do (cut short in transit).
        PermanentError: not an MP4, no video or no sound, or frames that do not decode.
    """
    size_bytes = path.stat().st_size
    boxes_end = _mp4_boxes_end(path)
    if boxes_end is None:
        raise PermanentError(f"lip-sync job {job_id!r} returned something that is not an "
                             f"MP4 video ({size_bytes} bytes)", provider=PROVIDER)
    if boxes_end > size_bytes:
        raise TransientError(f"the video of lip-sync job {job_id!r} arrived cut short "
                             f"({size_bytes} of {boxes_end} bytes)", provider=PROVIDER)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video or not container.streams.audio:
                missing = "picture" if not container.streams.video else "sound"
                raise _unplayable(job_id, f"it has no {missing}")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            fps = float(stream.average_rate or 0)
            n_frames, decoded = 0, False
            for packet in container.demux(stream):
                if packet.size:  # the last packet is empty: decoding it flushes
                    n_frames += 1
                decoded = decoded or bool(packet.decode())
    except av.error.FFmpegError as exc:
        raise _unplayable(job_id, f"{type(exc).__name__}: {exc}") from None
    if n_frames == 0:
        raise _unplayable(job_id, "it holds no frames")
    if fps <= 0:
        raise _unplayable(job_id, "it has no frame rate")
    if not decoded:
        raise _unplayable(job_id, "its frames do not decode")
    return VideoArtifact(key=key, width=width, height=height, fps=round(fps),
                         n_frames=n_frames, duration_s=n_frames / fps)


def _unplayable(job_id: str, reason: str) -> PermanentError:
    return PermanentError(f"the video of lip-sync job {job_id!r} cannot be played: {reason}",
                          provider=PROVIDER)


def _mp4_boxes_end(path: Path) -> int | None:
    """Where the file's top-level MP4 boxes say it ends, in bytes; None if it does not
    begin with an ``ftyp`` box (so is no MP4 at all)."""
    end = 0
    with path.open("rb") as f:
        while len(header := f.read(_MP4_BOX_HEADER_BYTES)) == _MP4_BOX_HEADER_BYTES:
            size = int.from_bytes(header[:4], "big")
            if end == 0 and header[4:8] != b"ftyp":
                return None
            header_bytes = _MP4_BOX_HEADER_BYTES
            if size == 1:  # a 64-bit size follows the name
                size = int.from_bytes(f.read(8), "big")
                header_bytes += 8
            if size == 0:  # the box runs to the end of the file
                return max(end + header_bytes, path.stat().st_size)
            if size < header_bytes:
                return None
            end += size
            f.seek(end)
        if header:  # a box header cut in the middle
            return end + _MP4_BOX_HEADER_BYTES
    return end or None
