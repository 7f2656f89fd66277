"""Pitch by resampling: frequencies rise by the ratio, length and phone times shrink by it."""

from __future__ import annotations

import numpy as np
import pytest

from models.domain import Phone
from tasks.voice.pitch import pitch_ratio, raise_pitch, resample_to_length

RATE_HZ = 22_050


def peak_frequency_hz(samples: np.ndarray, rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.argmax(spectrum) * rate_hz / samples.size)


def test_twelve_semitones_are_an_octave():
    assert pitch_ratio(12) == pytest.approx(2.0)
    assert pitch_ratio(0) == 1.0
    assert pitch_ratio(-12) == pytest.approx(0.5)


def test_resampling_keeps_a_tone_and_hits_the_exact_length():
    t = np.arange(RATE_HZ) / RATE_HZ
    tone = np.sin(2 * np.pi * 220 * t).astype(np.float32)
    longer = resample_to_length(tone, 2 * RATE_HZ)
    assert longer.shape == (2 * RATE_HZ,) and longer.dtype == np.float32
    # Twice the samples at the same rate: the tone now reads as half the frequency.
    assert peak_frequency_hz(longer, RATE_HZ) == pytest.approx(110, abs=1)
    assert np.abs(longer).max() == pytest.approx(1.0, abs=0.02)


def test_raising_the_pitch_shortens_audio_and_phones_by_the_same_ratio():
    t = np.arange(RATE_HZ) / RATE_HZ
    tone = np.sin(2 * np.pi * 200 * t).astype(np.float32)
    phones = [Phone(symbol="a", start_s=0.0, end_s=0.5), Phone(symbol="b", start_s=0.5, end_s=1.0)]
    ratio = pitch_ratio(2.0)
    higher, moved = raise_pitch(tone, phones, ratio)
    assert higher.size == round(RATE_HZ / ratio)
    assert peak_frequency_hz(higher, RATE_HZ) == pytest.approx(200 * ratio, abs=2)
    assert moved[-1].end_s == pytest.approx(higher.size / RATE_HZ, abs=1e-4)
    assert moved[1].start_s == pytest.approx(0.5 / ratio, abs=1e-5)


def test_no_shift_returns_the_input_untouched():
    tone = np.ones(100, dtype=np.float32)
    phones = [Phone(symbol="a", start_s=0.0, end_s=0.1)]
    assert raise_pitch(tone, phones, 1.0) == (tone, phones)
