"""Step 2, synthesize_voice: tagged segments -> VoiceTrack (audio key, phone/word times).

Which voice: a :class:`~models.domain.VoiceChoice` from the catalogue
(tasks/voice/catalogue.py): a TTS provider, ``piper`` (local default,
tasks/voice/piper.py) or ``elevenlabs`` (tasks/voice/elevenlabs.py), bent by trickster
effects (tasks/voice/trickster.py); or a person's recording (tasks/voice/recording.py).
How each emotion sounds is tasks/emotion/expression.py.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any, Protocol

from prefect import get_run_logger, task

from core.errors import ConfigError
from core.settings import Settings, get_settings
from core.storage import content_key, get_storage
from models.domain import Segment, VoiceChoice, VoiceTrack
from tasks.artifacts import load_finished, save_finished
from tasks.emotion.expression import voice_table
from tasks.policy import task_options
from tasks.voice.catalogue import TricksterVoice, default_voice
from tasks.voice.speech import (
    AssembledTrack,
    Utterance,
    assemble_track,
    spans_by_text_length,
)
from tasks.voice.trickster import make_params

VOICE_ENGINE_VERSION = 2


class VoiceProvider(Protocol):
    name: str

    @property
    def voice_id(self) -> str: ...

    @property
    def sample_rate_hz(self) -> int: ...

    def speak(self, segment: Segment) -> Utterance: ...


def get_voice_provider(settings: Settings | None = None,
                       tts: str | None = None) -> VoiceProvider:
    """The TTS provider ``tts`` (default ``AURA_TTS``)."""
    settings = settings or get_settings()
    tts = tts or settings.tts
    if tts == "piper":
        from tasks.voice.piper import PiperTTS

        return PiperTTS()
    if tts == "elevenlabs":
        from tasks.voice.elevenlabs import ElevenLabsTTS

        return ElevenLabsTTS.from_settings(settings)
    raise ConfigError(f"there is no TTS provider called {tts!r}; use piper or elevenlabs")


def synthesize(segments: list[Segment], provider: VoiceProvider,
               out_wav: Path) -> AssembledTrack:
    """Speak every speech segment and assemble the track into ``out_wav``."""
    return assemble_track(segments, provider.speak, provider.sample_rate_hz, out_wav)


def _run_name(parameters: dict[str, Any]) -> str:
    """``synthesize_voice[joe, 4 segments]``: the voice and how much it has to say."""
    voice = parameters.get("voice")
    return (f"synthesize_voice[{voice.name if voice else 'default voice'}, "
            f"{len(parameters['segments'])} segments]")


@task(name="synthesize_voice", task_run_name=_run_name, **task_options())
async def synthesize_voice(segments: list[Segment], voice: VoiceChoice | None = None,
                           ) -> VoiceTrack:
    """Speak the tagged segments with ``voice`` (default: :func:`default_voice`), or lay
    them over a person's recording; reuse the track when the same inputs come again."""
    choice = voice or default_voice()
    if choice.tts == "recording":
        return await _recorded_voice(segments, choice)
    logger = get_run_logger()
    provider = get_voice_provider(tts=choice.tts)
    speaker = provider
    if choice.effects:
        speaker = TricksterVoice(provider, [make_params(**e) for e in choice.effects])
    storage = get_storage()
    key = content_key("voice", VOICE_ENGINE_VERSION, provider.voice_id, segments,
                      voice_table(), choice.effects)
    if (finished := load_finished(storage, key, VoiceTrack, logger)) is not None:
        return finished
    with tempfile.TemporaryDirectory(prefix="aura-voice-") as tmp:
        wav = Path(tmp) / "voice.wav"
        track = await asyncio.to_thread(synthesize, segments, speaker, wav)
        audio_key = f"{key}.wav"
        await asyncio.to_thread(storage.put_file, audio_key, wav, "audio/wav")
    logger.info("Synthesised %.2f s of speech with %s (%s)", track.duration_s,
                provider.voice_id, choice.name)
    track_model = VoiceTrack(audio_key=audio_key, sample_rate_hz=track.sample_rate_hz,
                             duration_s=track.duration_s, voice=choice.name,
                             phones=track.phones, words=track.words, spans=track.spans)
    return save_finished(storage, key, track_model)


async def _recorded_voice(segments: list[Segment], choice: VoiceChoice) -> VoiceTrack:
    """A person's recording as the voice track: decoded, trimmed, loudness-normalised and
    bent by the chosen effects. It has no phone timings (lip-sync listens to the audio)."""
    from tasks.voice.recording import store_bent_recording

    logger = get_run_logger()
    storage = get_storage()
    key = content_key("voice", VOICE_ENGINE_VERSION, "recording", choice.recording_key,
                      segments, choice.effects)
    if (finished := load_finished(storage, key, VoiceTrack, logger)) is not None:
        return finished
    audio_key = f"{key}.wav"
    effects = [make_params(**e) for e in choice.effects]
    recording, duration_s = await asyncio.to_thread(
        store_bent_recording, storage, choice.recording_key, effects, audio_key)
    logger.info("Using a %.2f s recording (%s, %.1f LUFS after normalising)", duration_s,
                recording.source_format, recording.loudness_lufs)
    track = VoiceTrack(audio_key=audio_key, sample_rate_hz=recording.sample_rate_hz,
                       duration_s=duration_s, voice="recording",
                       spans=spans_by_text_length(segments, duration_s))
    return save_finished(storage, key, track)
