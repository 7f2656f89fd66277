"""The voice catalogue: named voices (a TTS voice, optionally bent by a trickster preset),
and people's own recordings.

Stock voices and trickster presets are written to ``effect_library`` from this module
(:func:`stock_library`), where people's own voices and presets join them
(models/effects.py). A render names its voice with ``--voice NAME`` (CLI) or ``voice``
(API); ``recording:KEY`` names a recording already in storage.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InputError
from core.settings import Settings, get_settings
from models.domain import Phone, Segment, VoiceChoice, Word
from models.effects import get_effect, sync_stock_library
from tasks.voice.speech import Utterance
from tasks.voice.trickster import PRESETS, TricksterParams, apply_effect, make_params

RECORDING_PREFIX = "recording:"

STOCK_VOICES: dict[str, dict[str, Any]] = {
    "joe": {"tts": "piper", "effect": None,
            "description": "the bundled Piper voice (US English, male); runs offline"},
    "joe-deep": {"tts": "piper", "effect": "deep",
                 "description": "the bundled voice, lower and darker (trickster 'deep')"},
    "joe-bright": {"tts": "piper", "effect": "bright",
                   "description": "the bundled voice, higher and brighter ('bright')"},
    "elevenlabs": {"tts": "elevenlabs", "effect": None,
                   "description": "the ElevenLabs voice AURA_ELEVENLABS__VOICE_ID "
                                  "(needs AURA_ELEVENLABS__API_KEY)"},
}
"""Stock voices: name -> ``{"tts", "effect" (a trickster preset name or None),
"description"}``."""


def stock_library() -> dict[str, dict[str, dict[str, Any]]]:
    """The stock rows of ``effect_library``, by kind and name."""
    return {"trickster": {name: params.model_dump(mode="json", exclude_defaults=True)
                          for name, params in PRESETS.items()},
            "voice": STOCK_VOICES}


def default_voice(settings: Settings | None = None) -> VoiceChoice:
    """The voice used when none is named: ``AURA_VOICE``, else AURA_TTS's own voice."""
    settings = settings or get_settings()
    name = settings.voice or ("elevenlabs" if settings.tts == "elevenlabs" else "joe")
    entry = STOCK_VOICES.get(name)
    if entry is None:  # a person's own voice needs the database: choose_voice does it
        return VoiceChoice(name=name, tts=settings.tts)
    effects = [PRESETS[entry["effect"]].model_dump(mode="json", exclude_defaults=True)
               ] if entry["effect"] else []
    return VoiceChoice(name=name, tts=entry["tts"], effects=effects)


async def choose_voice(session: AsyncSession, voice: str | None = None,
                       effect: str | None = None, user_id: uuid.UUID | None = None,
                       ) -> VoiceChoice:
    """The voice called ``voice`` (or the default) with the preset ``effect`` on top.

    ``voice`` may be ``"recording:KEY"`` for a stored recording.

    Raises:
        UnknownEffectError: no such voice or preset (the message lists the choices).
    """
    await sync_stock_library(session, stock_library())
    extra = [await _preset_params(session, effect, user_id)] if effect else []
    if voice and voice.startswith(RECORDING_PREFIX):
        key = voice.removeprefix(RECORDING_PREFIX)
        if not key:
            raise InputError("a recording voice needs a storage key: recording:KEY")
        if user_id is not None and not await _owns_recording(session, user_id, key):
            raise InputError(f"there is no recording {key!r} among your audio uploads")
        return VoiceChoice(name="recording", tts="recording", recording_key=key,
                           effects=extra)
    if not voice:
        chosen = default_voice()
        if chosen.name in STOCK_VOICES:
            return chosen.model_copy(update={"effects": [*chosen.effects, *extra]})
        voice = chosen.name
    row = await get_effect(session, "voice", voice, user_id)
    own = [await _preset_params(session, row.params["effect"], user_id)
           ] if row.params.get("effect") else []
    return VoiceChoice(name=row.name, tts=row.params["tts"], effects=[*own, *extra])


async def _owns_recording(session: AsyncSession, user_id: uuid.UUID, key: str) -> bool:
    """Whether ``key`` is one of the user's audio assets: a person may speak with their
    own recordings only (a storage key is hard to guess, not a secret)."""
    from sqlalchemy import select

    from models.tables import Asset

    found = await session.scalar(select(Asset.id).where(
        Asset.user_id == user_id, Asset.kind == "audio", Asset.storage_key == key).limit(1))
    return found is not None


async def _preset_params(session: AsyncSession, name: str,
                         user_id: uuid.UUID | None) -> dict[str, Any]:
    row = await get_effect(session, "trickster", name, user_id)
    return make_params(**row.params).model_dump(mode="json", exclude_defaults=True)


class TricksterVoice:
    """A voice provider whose every sentence passes through trickster effects.

    Pitch and formants leave timings alone; a tempo change scales the phone and word
    times with the audio.
    """

    def __init__(self, provider: Any, effects: list[TricksterParams]):
        self.provider = provider
        self.effects = effects
        self.name = provider.name

    @property
    def voice_id(self) -> str:
        return self.provider.voice_id

    @property
    def sample_rate_hz(self) -> int:
        return self.provider.sample_rate_hz

    def speak(self, segment: Segment) -> Utterance:
        spoken = self.provider.speak(segment)
        samples = spoken.samples
        for params in self.effects:
            samples = apply_effect(samples, spoken.sample_rate_hz, params)
        scale = samples.size / spoken.samples.size if spoken.samples.size else 1.0
        if scale == 1.0:
            return Utterance(samples=samples, sample_rate_hz=spoken.sample_rate_hz,
                             phones=spoken.phones, words=spoken.words,
                             gap_after_s=spoken.gap_after_s)
        return Utterance(
            samples=samples, sample_rate_hz=spoken.sample_rate_hz,
            phones=[Phone(symbol=p.symbol, start_s=round(p.start_s * scale, 5),
                          end_s=round(p.end_s * scale, 5)) for p in spoken.phones],
            words=[Word(text=w.text, start_s=round(w.start_s * scale, 5),
                        end_s=round(w.end_s * scale, 5)) for w in spoken.words],
            gap_after_s=spoken.gap_after_s)
