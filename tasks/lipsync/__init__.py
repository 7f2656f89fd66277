"""Step 3, align_lipsync: VoiceTrack -> VisemeTrack (per-frame mouth-shape weights).

Providers: ``phonemes`` (local default: the TTS's phone timings, tasks/lipsync/phonemes.py);
``acoustic`` (mouth shapes from the audio itself, tasks/lipsync/acoustic.py), used
whatever ``AURA_LIPSYNC`` says when the voice has no phone timings (a person's
recording); ``synclabs`` (Sync Labs' lipsync-2, a cloud service that redoes the mouth of
a finished video). Sync Labs works on a rendered video, so it cannot stand in for this
step: with ``synclabs`` this step still computes the local shapes (``phonemes``, or
``acoustic`` for a recording), the render speaks with them, and the :func:`sync_lips`
pass (tasks/lipsync/resync.py, client in tasks/lipsync/synclabs.py) then has Sync Labs
redo the mouth after render_video.
"""

from __future__ import annotations

import asyncio
import io

import numpy as np
import soundfile as sf
from prefect import get_run_logger, task

from core.npz import array_from_npz, array_to_npz
from core.settings import get_settings
from core.storage import Storage, content_key, get_storage
from models.domain import VisemeTrack, VoiceTrack
from tasks.artifacts import load_finished, save_finished
from tasks.lipsync.acoustic import acoustic_viseme_weights, openness
from tasks.lipsync.phonemes import scale_by_loudness, viseme_weights
from tasks.lipsync.resync import sync_lips as sync_lips  # the synclabs pass, re-exported
from tasks.lipsync.visemes import VISEMES
from tasks.policy import task_options

LIPSYNC_ENGINE_VERSION = 2


def save_weights(weights: np.ndarray) -> bytes:
    """An ``.npz`` holding ``weights`` (float32, shape (n_frames, n_visemes))."""
    return array_to_npz("weights", weights)


def load_weights(data: bytes) -> np.ndarray:
    """The ``weights`` array of an ``.npz`` written by :func:`save_weights`."""
    return array_from_npz(data, "weights")


@task(name="align_lipsync", task_run_name="align_lipsync[{voice.duration_s:.1f} s at {fps} fps]",
      **task_options())
async def align_lipsync(voice: VoiceTrack, fps: int) -> VisemeTrack:
    """Turn the voice's phone timings into per-frame viseme weights at ``fps``.

    Without phone timings the shapes come from the audio (``acoustic``); with
    ``AURA_LIPSYNC=synclabs`` they are the local ones the render speaks with before
    Sync Labs redoes the mouth (:func:`sync_lips`).
    """
    logger = get_run_logger()
    provider = get_settings().lipsync
    if provider == "synclabs":
        provider = "phonemes"
    if not voice.phones:
        provider = "acoustic"
    storage = get_storage()
    key = content_key("visemes", LIPSYNC_ENGINE_VERSION, provider, voice.audio_key,
                      voice.phones, fps)
    if (finished := load_finished(storage, key, VisemeTrack, logger)) is not None:
        return finished
    if provider == "acoustic":
        weights = await asyncio.to_thread(_acoustic_weights, storage, voice, fps)
    else:
        weights = await asyncio.to_thread(_phoneme_weights, storage, voice, fps)
    data_key = f"{key}.npz"
    storage.put_bytes(data_key, save_weights(weights), "application/octet-stream")
    track = VisemeTrack(key=data_key, fps=fps, n_frames=len(weights), visemes=list(VISEMES))
    logger.info("Aligned %d frames of mouth shapes (%s)", track.n_frames, provider)
    return save_finished(storage, key, track)


def _voice_samples(storage: Storage, voice: VoiceTrack) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(io.BytesIO(storage.get_bytes(voice.audio_key)), dtype="float32",
                            always_2d=True)
    return samples.mean(axis=1), rate


def _acoustic_weights(storage: Storage, voice: VoiceTrack, fps: int) -> np.ndarray:
    return acoustic_viseme_weights(*_voice_samples(storage, voice), fps)


def _phoneme_weights(storage: Storage, voice: VoiceTrack, fps: int) -> np.ndarray:
    """Shapes from the phones, opened as far as the voice is loud."""
    weights = viseme_weights(voice.phones, voice.duration_s, fps)
    return scale_by_loudness(weights, openness(*_voice_samples(storage, voice), fps)[0])
