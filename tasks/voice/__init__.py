"""Step 2, synthesize_voice: tagged segments -> VoiceTrack (audio key, phone/word times).

Providers: ``piper`` (local default, tasks/voice/piper.py); ``elevenlabs`` arrives with
the voice issue.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Protocol

from prefect import get_run_logger, task

from core.errors import ConfigError
from core.settings import Settings, get_settings
from core.storage import content_key, get_storage
from models.domain import Segment, VoiceTrack
from tasks.artifacts import load_finished, save_finished
from tasks.emotion.expression import voice_table
from tasks.policy import task_options
from tasks.voice.speech import AssembledTrack, Utterance, assemble_track

VOICE_ENGINE_VERSION = 2


class VoiceProvider(Protocol):
    name: str

    @property
    def voice_id(self) -> str: ...

    @property
    def sample_rate_hz(self) -> int: ...

    def speak(self, segment: Segment) -> Utterance: ...


def get_voice_provider(settings: Settings | None = None) -> VoiceProvider:
    """The voice provider chosen by ``AURA_TTS``."""
    settings = settings or get_settings()
    if settings.tts == "piper":
        from tasks.voice.piper import PiperTTS

        return PiperTTS()
    raise ConfigError(f"AURA_TTS={settings.tts} is not available yet in this version; "
                      "use AURA_TTS=piper")


def synthesize(segments: list[Segment], provider: VoiceProvider,
               out_wav: Path) -> AssembledTrack:
    """Speak every speech segment and assemble the track into ``out_wav``."""
    return assemble_track(segments, provider.speak, provider.sample_rate_hz, out_wav)


@task(name="synthesize_voice", **task_options())
async def synthesize_voice(segments: list[Segment]) -> VoiceTrack:
    """Speak the tagged segments; reuse the track when the same segments come again."""
    logger = get_run_logger()
    provider = get_voice_provider()
    storage = get_storage()
    key = content_key("voice", VOICE_ENGINE_VERSION, provider.voice_id, segments,
                      voice_table())
    if (finished := load_finished(storage, key, VoiceTrack, logger)) is not None:
        return finished
    with tempfile.TemporaryDirectory(prefix="aura-voice-") as tmp:
        wav = Path(tmp) / "voice.wav"
        track = await asyncio.to_thread(synthesize, segments, provider, wav)
        audio_key = f"{key}.wav"
        await asyncio.to_thread(storage.put_file, audio_key, wav, "audio/wav")
    logger.info("Synthesised %.2f s of speech with %s", track.duration_s, provider.voice_id)
    voice = VoiceTrack(audio_key=audio_key, sample_rate_hz=track.sample_rate_hz,
                       duration_s=track.duration_s, voice=provider.voice_id,
                       phones=track.phones, words=track.words, spans=track.spans)
    return save_finished(storage, key, voice)
