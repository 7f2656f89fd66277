"""Flow ``trickster``: a stored recording -> the same voice, bent by a trickster effect.

The recording is decoded, trimmed and loudness-normalised like any voice recording
(tasks/voice/recording.py), then pitch, formants, tempo and colour effects are applied
(tasks/voice/trickster.py). The effect is a preset from ``effect_library`` (stock or the
person's own), optionally with pitch, formant or tempo given explicitly on top. The
result is a 16-bit WAV in storage, keyed by the input and the effect, so that the same
request is answered from storage.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from prefect import flow, get_run_logger, task

from core.db import session_scope
from core.storage import content_key, get_storage
from models.domain import Artifact
from models.effects import get_effect, sync_stock_library
from tasks.artifacts import load_finished, save_finished
from tasks.policy import task_options
from tasks.voice.catalogue import stock_library
from tasks.voice.recording import store_bent_recording
from tasks.voice.trickster import TricksterParams, make_params

TRICKSTER_ENGINE_VERSION = 1


class TricksterAudio(Artifact):
    """A trickster result: a WAV under ``key``."""

    key: str
    duration_s: float
    sample_rate_hz: int
    params: dict[str, Any]


async def effect_params(preset: str | None = None, user_id: UUID | None = None,
                        **explicit: float | None) -> TricksterParams:
    """The preset's parameters (from ``effect_library``) with explicit values on top.

    Raises:
        UnknownEffectError: no preset of that name.
        EffectError: a value out of range.
    """
    values: dict[str, Any] = {}
    if preset:
        async with session_scope() as session:
            await sync_stock_library(session, stock_library())
            values = dict((await get_effect(session, "trickster", preset, user_id)).params)
    values.update({name: value for name, value in explicit.items() if value is not None})
    return make_params(**values)


@task(name="apply_trickster", **task_options())
async def apply_trickster(source_key: str, params: TricksterParams) -> TricksterAudio:
    """Decode the recording at ``source_key``, apply ``params``, store a WAV."""
    logger = get_run_logger()
    storage = get_storage()
    described = params.model_dump(mode="json", exclude_defaults=True)
    key = content_key("trickster", TRICKSTER_ENGINE_VERSION, source_key, described)
    if (finished := load_finished(storage, key, TricksterAudio, logger)) is not None:
        return finished
    audio_key = f"{key}.wav"
    recording, duration_s = await asyncio.to_thread(store_bent_recording, storage,
                                                    source_key, [params], audio_key)
    result = TricksterAudio(key=audio_key, duration_s=duration_s,
                            sample_rate_hz=recording.sample_rate_hz, params=described)
    logger.info("Applied %s to %.2f s of audio", described or "no effect", result.duration_s)
    return save_finished(storage, key, result)


@flow(name="trickster", log_prints=True)
async def trickster(source_key: str, preset: str | None = None,
                    pitch_semitones: float | None = None, formant_ratio: float | None = None,
                    tempo_ratio: float | None = None,
                    user_id: UUID | None = None) -> TricksterAudio:
    """Bend the voice in the stored recording ``source_key``.

    Args:
        source_key: storage key of the recording (any format a phone or browser records).
        preset: a trickster preset from ``effect_library`` (chipmunk, giant, robot, ...).
        pitch_semitones: pitch shift, ±24 semitones (overrides the preset's).
        formant_ratio: formant shift, 0.5-2.0 (overrides the preset's).
        tempo_ratio: speed, 0.5-2.0, above 1 faster (overrides the preset's).
        user_id: whose own presets to look in first.
    """
    params = await effect_params(preset, user_id, pitch_semitones=pitch_semitones,
                                 formant_ratio=formant_ratio, tempo_ratio=tempo_ratio)
    return await apply_trickster(source_key, params)
