"""Step 4, render_video: avatar + VisemeTrack + segments + RenderSpec -> video key.

Providers: ``local`` (default: CPU rig + raster + PyAV encoder, tasks/render/rig.py,
raster.py, encode.py); ``modal`` (the same render on a Modal machine:
tasks/render/modal.py, deployed from deployments/modal_app.py). Avatars:
``stock:aura`` (drawn, tasks/render/raster.py) or an ``actor_dna`` id: a photo avatar
(tasks/avatar/actors.py), animated by warping the photo (tasks/render/photo.py).

Every render holds a slot of the Prefect global concurrency limit ``gpu`` while it draws
and encodes (locally or on Modal), so no more renders run at once, across all workers,
than the limit has slots (``AURA_GPU_SLOTS``; deployments/setup.py makes it). Where the
limit does not exist (a command-line render on a throwaway Prefect server) there is no
limit. The slot is leased: a worker killed mid-render frees it when the lease runs out.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

import numpy as np
from prefect import get_run_logger, task
from prefect.concurrency.asyncio import concurrency

from core.db import session_scope
from core.errors import InputError
from core.settings import get_settings
from core.storage import Storage, content_key, get_storage
from models.domain import (
    RenderSpec,
    Segment,
    VideoArtifact,
    VisemeTrack,
    VoiceTrack,
    Word,
)
from tasks.artifacts import load_finished, save_finished
from tasks.avatar.actors import STOCK_LOOKS, ActorFace, get_actor, load_face
from tasks.avatar.photo import load_photo
from tasks.emotion.expression import face_table
from tasks.lipsync import load_weights
from tasks.policy import task_options
from tasks.publish.notify import report_frames
from tasks.publish.report import current_progress
from tasks.render.background import backdrop, background_image_key
from tasks.render.captions import caption_words
from tasks.render.encode import EncodeResult, encode_mp4
from tasks.render.modal import render_on_modal

RENDER_ENGINE_VERSION = 1
PHOTO_RENDER_VERSION = "photo-warp-2"
"""Changes with the photo renderer's drawing, so cached photo renders are redone."""
STOCK_AVATARS = tuple(f"stock:{look}" for look in STOCK_LOOKS)

GPU_LIMIT = "gpu"
"""The Prefect global concurrency limit every render holds a slot of."""
GPU_LEASE_S = 60.0
"""Lease of a render's slot, renewed while it renders; a killed render's slot is free
again at most this long after it died."""

EmotionSpan = tuple[float, float, str, float]


def emotion_spans(segments: list[Segment], voice: VoiceTrack) -> list[EmotionSpan]:
    """(start_s, end_s, emotion, intensity) for every spoken segment of the track."""
    spans = []
    for span in voice.spans:
        segment = segments[span.index]
        if segment.kind == "speech":
            spans.append((span.start_s, span.end_s, segment.emotion or "neutral",
                          segment.intensity))
    return spans


QUALITY_X264: dict[str, tuple[str, int]] = {"draft": ("ultrafast", 26), "high": ("medium", 18)}
"""``--quality`` -> (x264 preset, CRF); ``standard`` uses AURA_VIDEO__PRESET and __CRF."""


def encoder_settings(quality: str, preset: str, crf: int) -> tuple[str, int]:
    """The x264 preset and CRF for a render quality."""
    return QUALITY_X264.get(quality, (preset, crf))


def render_local(weights: np.ndarray, spans: list[EmotionSpan], spec: RenderSpec,
                 audio_path: Path, out_path: Path,
                 on_progress: Callable[[int, int], None] | None = None,
                 face: ActorFace | None = None, look: str = "aura",
                 words: list[Word] | None = None,
                 background_rgb: np.ndarray | None = None) -> EncodeResult:
    """Draw and encode the video on this machine's CPU.

    Args:
        weights: viseme weights, float32 of shape (n_frames, n_visemes).
        spans: (start_s, end_s, emotion, intensity) of every spoken segment.
        spec: size, fps and avatar of the video.
        audio_path: the voice track (WAV).
        out_path: where the MP4 goes (written atomically).
        on_progress: called with (frames done, n_frames) as frames are encoded.
        face: a photo avatar to animate; None draws the stock avatar ``look``.
        look: which drawn stock avatar (``tasks.render.raster.LOOKS``).
        words: the voice's timed words, for captions when ``spec.captions`` is set.
        background_rgb: the picture of an ``image:KEY`` background (``spec.background``);
            a colour background needs none.
    """
    from tasks.render.rig import build_pose_track

    video = get_settings().video
    preset, crf = encoder_settings(spec.quality, video.preset, video.crf)
    width, height = spec.size_px
    pose = build_pose_track(weights, spans, spec.fps)
    backdrop_rgb = backdrop(spec.background, width, height, background_rgb)
    if face is None:
        from tasks.render.raster import LOOKS, StockFace

        drawer = StockFace(width, height, LOOKS[look], backdrop_rgb)
    else:
        from tasks.render.photo import PhotoFace

        drawer = PhotoFace(face.image_rgb, face.landmarks, width, height, backdrop_rgb)
    frames = drawer.frames(pose)
    if spec.captions and words:
        from tasks.render.captions import group_words, with_captions

        frames = with_captions(frames, group_words(words), spec.fps)
    return encode_mp4(frames, n_frames=len(weights), fps=spec.fps,
                      audio_path=audio_path, out_path=out_path, preset=preset, crf=crf,
                      audio_sample_rate_hz=video.audio_sample_rate_hz,
                      audio_bitrate_bps=video.audio_bitrate_bps, on_progress=on_progress)


def load_background(storage: Storage, background: str | None) -> np.ndarray | None:
    """The picture of an ``image:KEY`` background, upright RGB; None for a colour or none.

    Raises:
        InputError: the picture is not stored, or is not a readable photo.
    """
    key = background_image_key(background)
    if key is None:
        return None
    if not storage.exists(key):
        raise InputError(f"the background picture {key!r} does not exist; upload it first")
    return load_photo(storage.get_bytes(key), name=key, what="background picture").rgb


@task(name="render_video", task_run_name="render_video[{spec.avatar}, {spec.resolution} "
      "{spec.aspect}, {visemes.n_frames} frames]", **task_options())
async def render_video(segments: list[Segment], voice: VoiceTrack, visemes: VisemeTrack,
                       spec: RenderSpec, job_id: UUID | None = None,
                       user_id: UUID | None = None) -> VideoArtifact:
    """Animate the avatar to the visemes and emotions and encode it with the voice.

    ``job_id`` and ``user_id`` only address progress events; they are not part of the
    artifact, so the same inputs reuse the same video whoever asks.
    """
    logger = get_run_logger()
    settings = get_settings()
    storage = get_storage()
    face, look = None, "aura"
    if spec.avatar.startswith("stock:"):
        if spec.avatar not in STOCK_AVATARS:
            raise InputError(f"avatar {spec.avatar!r} does not exist; "
                             f"stock avatars: {', '.join(STOCK_AVATARS)}")
        look = spec.avatar.removeprefix("stock:")
        avatar_keys: tuple[str, ...] = (spec.avatar,)
    else:
        async with session_scope() as session:
            row = await get_actor(session, spec.avatar, user_id)
        if row.rig.get("kind") == "drawn":
            look = row.rig["look"]
            avatar_keys = (f"stock:{look}",)
        else:
            face = await asyncio.to_thread(load_face, storage, row)
            avatar_keys = (face.texture_key, face.landmarks_key, PHOTO_RENDER_VERSION)
    if visemes.fps != spec.fps:
        raise InputError(f"the mouth shapes are at {visemes.fps} fps, the video at {spec.fps}")
    spans = emotion_spans(segments, voice)
    video_settings = settings.video.model_dump(exclude={"fps"})  # the spec carries fps
    key = content_key("render", RENDER_ENGINE_VERSION, visemes.key, voice.audio_key, spans,
                      spec.model_dump(exclude={"avatar"}), avatar_keys, video_settings,
                      face_table())
    if (finished := load_finished(storage, key, VideoArtifact, logger)) is not None:
        return finished
    weights = load_weights(storage.get_bytes(visemes.key))
    background_rgb = await asyncio.to_thread(load_background, storage, spec.background)
    artifact = current_progress()

    def progress(done: int, total: int) -> None:
        if artifact is not None:  # it sends at most one update a second itself
            artifact.part_way(done, total)
        if done == total or done % max(1, spec.fps) == 0:
            report_frames(job_id, user_id, done, total)

    with (storage.local_path(voice.audio_key) as audio_path,
          tempfile.TemporaryDirectory(prefix="aura-render-") as tmp):
        out_path = Path(tmp) / "video.mp4"
        render = render_on_modal if settings.render == "modal" else render_local
        logger.info("Waiting for a slot of the %r concurrency limit", GPU_LIMIT)
        async with concurrency(GPU_LIMIT, occupy=1, lease_duration=GPU_LEASE_S):
            result = await asyncio.to_thread(render, weights, spans, spec, audio_path,
                                             out_path, progress, face, look,
                                             caption_words(segments, voice), background_rgb)
        video_key = f"{key}.mp4"
        await asyncio.to_thread(storage.put_file, video_key, out_path, "video/mp4")
    logger.info("Rendered %d frames (%dx%d, %.2f s, %d bytes)", result.n_frames,
                result.width, result.height, result.duration_s, result.size_bytes)
    video = VideoArtifact(key=video_key, width=result.width, height=result.height,
                          fps=spec.fps, n_frames=result.n_frames, duration_s=result.duration_s)
    return save_finished(storage, key, video)
