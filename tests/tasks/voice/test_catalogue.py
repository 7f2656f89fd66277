"""The voice catalogue: named voices, presets on top, recordings, and bent TTS voices."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings
from models.domain import Segment
from models.effects import UnknownEffectError, save_effect
from tasks.voice.catalogue import PRESETS, TricksterVoice, choose_voice, default_voice
from tasks.voice.piper import PiperTTS
from tasks.voice.trickster import make_params


def test_the_default_voice_follows_aura_voice_and_aura_tts():
    assert default_voice(Settings()).name == "joe"
    assert default_voice(Settings(tts="elevenlabs")).tts == "elevenlabs"
    deep = default_voice(Settings(voice="joe-deep"))
    assert (deep.tts, deep.effects) == ("piper", [PRESETS["deep"].model_dump(
        mode="json", exclude_defaults=True)])


async def test_a_named_voice_brings_its_preset_and_an_effect_goes_on_top(
        session: AsyncSession):
    choice = await choose_voice(session, "joe-bright", "echo")
    assert choice.tts == "piper"
    assert [e.get("pitch_semitones") for e in choice.effects] == [2.5, None]
    assert choice.effects[1]["echo_delay_s"] == PRESETS["echo"].echo_delay_s


async def test_a_persons_own_voice_is_found_for_them(session: AsyncSession):
    me = uuid.uuid4()
    await choose_voice(session)  # writes the stock rows
    await save_effect(session, "voice", "narrator", {"tts": "piper", "effect": "giant"}, me)
    choice = await choose_voice(session, "narrator", user_id=me)
    assert choice.effects[0]["pitch_semitones"] == -8.0
    with pytest.raises(UnknownEffectError, match="no voice called 'narrator'"):
        await choose_voice(session, "narrator", user_id=uuid.uuid4())


async def test_a_recording_key_becomes_a_recording_voice(session: AsyncSession):
    choice = await choose_voice(session, "recording:uploads/ab/abc.m4a", "robot")
    assert (choice.tts, choice.recording_key) == ("recording", "uploads/ab/abc.m4a")
    assert choice.effects[0]["robot"] is True


def test_a_bent_voice_keeps_its_timings_in_step_with_the_audio():
    segment = Segment(text="Hello there, my friend.", emotion="neutral")
    plain = PiperTTS(variation=0.0).speak(segment)  # the same speech both times
    slower = TricksterVoice(PiperTTS(variation=0.0),
                            [make_params(tempo_ratio=0.8)]).speak(segment)
    scale = slower.duration_s / plain.duration_s
    assert scale == pytest.approx(1.25, rel=0.05)
    assert slower.phones[-1].end_s == pytest.approx(slower.duration_s, abs=0.02)
    assert slower.words[-1].end_s == pytest.approx(plain.words[-1].end_s * scale, abs=0.02)
    deeper = TricksterVoice(PiperTTS(), [make_params(pitch_semitones=-3)]).speak(segment)
    assert deeper.samples.dtype == np.float32 and np.abs(deeper.samples).max() <= 0.99
