"""Piper speaks a segment with phone and word timings that match its audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from models.domain import Segment
from tasks.voice import synthesize
from tasks.voice.piper import PiperTTS
from tests.support.audio import median_f0_hz


def test_an_utterance_has_audio_and_phones_that_cover_it():
    spoken = PiperTTS().speak(Segment(text="Hello there, friend.", emotion="neutral"))
    assert spoken.sample_rate_hz == 22_050
    assert 0.8 < spoken.duration_s < 3.0
    assert np.abs(spoken.samples).max() > 0.1
    assert spoken.phones[0].start_s == 0.0
    assert spoken.phones[-1].end_s == pytest.approx(spoken.duration_s, abs=1e-3)
    starts = [p.start_s for p in spoken.phones]
    assert starts == sorted(starts)
    assert [w.text for w in spoken.words] == ["Hello", "there", "friend"]
    assert not any(p.symbol in "ˈˌ" for p in spoken.phones)  # stress marks folded in


def test_sad_speech_is_slower_and_quieter_than_angry_speech():
    text = "I cannot believe what happened today."
    sad = PiperTTS().speak(Segment(text=text, emotion="sadness"))
    angry = PiperTTS().speak(Segment(text=text, emotion="anger"))
    assert sad.duration_s > 1.05 * angry.duration_s
    assert np.sqrt(np.mean(sad.samples ** 2)) < np.sqrt(np.mean(angry.samples ** 2))


def test_joyful_speech_is_higher_than_sad_speech_and_its_timings_still_match():
    text = "We are going to the lake on Saturday morning."
    joy = PiperTTS().speak(Segment(text=text, emotion="joy"))
    sad = PiperTTS().speak(Segment(text=text, emotion="sadness"))
    # joy is +1.5 semitones and sadness -1.5: three semitones, a ratio of about 1.19
    # (measured with pYIN, not with the resampling that makes it).
    assert median_f0_hz(joy.samples, joy.sample_rate_hz) > 1.08 * median_f0_hz(
        sad.samples, sad.sample_rate_hz)
    assert joy.duration_s < 0.9 * sad.duration_s  # and it is quicker
    for spoken in (joy, sad):
        assert spoken.phones[-1].end_s == pytest.approx(spoken.duration_s, abs=2e-3)


def test_a_track_lays_sentences_and_pauses_end_to_end(tmp_path: Path):
    segments = [Segment(text="One.", emotion="neutral"), Segment(kind="pause", pause_s=0.5),
                Segment(text="Two.", emotion="joy")]
    track = synthesize(segments, PiperTTS(), tmp_path / "voice.wav")
    audio, rate = sf.read(tmp_path / "voice.wav")
    assert rate == 22_050 and len(audio) / rate == track.duration_s
    one, pause, two = track.spans
    assert pause.end_s - pause.start_s == pytest.approx(0.5, abs=1e-9)
    assert one.end_s == pause.start_s and pause.end_s == two.start_s
    silence = audio[int(pause.start_s * rate): int(pause.end_s * rate)]
    assert np.abs(silence).max() == 0.0
    assert all(two.start_s <= p.start_s < track.duration_s for p in track.phones[-3:])
    assert [w.text for w in track.words] == ["One", "Two"]
