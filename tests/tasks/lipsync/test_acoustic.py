"""Acoustic lip-sync: the mouth follows what can be heard, frame by frame."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.lipsync.acoustic import acoustic_viseme_weights
from tasks.lipsync.visemes import VISEMES
from tests.support.audio import VOWEL_A, VOWEL_U, piper_speech, synthetic_vowel

RATE_HZ, FPS = 22_050, 30
V = {name: i for i, name in enumerate(VISEMES)}


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE_HZ), dtype=np.float32)


def hiss(seconds: float) -> np.ndarray:
    """An 's': noise above 4 kHz."""
    noise = np.random.default_rng(0).standard_normal(int(seconds * RATE_HZ))
    spectrum = np.fft.rfft(noise)
    spectrum[: int(4000 / RATE_HZ * noise.size)] = 0
    y = np.fft.irfft(spectrum, noise.size)
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def frames(seconds_from: float, seconds_to: float) -> slice:
    return slice(int(seconds_from * FPS), int(seconds_to * FPS))


def test_one_row_per_video_frame_and_rows_sum_to_one():
    speech, rate = piper_speech()
    weights = acoustic_viseme_weights(speech, rate, FPS)
    assert weights.shape == (int(np.ceil(speech.size / rate * FPS)), len(VISEMES))
    assert weights.dtype == np.float32
    assert np.allclose(weights.sum(axis=1), 1.0, atol=1e-5) and (weights >= 0).all()


def test_silence_rests_and_an_open_vowel_opens_the_mouth():
    audio = np.concatenate([silence(1.0), synthetic_vowel(VOWEL_A, seconds=1.0), silence(1.0)])
    weights = acoustic_viseme_weights(audio, RATE_HZ, FPS)
    assert weights[frames(0.1, 0.8), V["sil"]].mean() > 0.95
    assert weights[frames(1.2, 1.8), V["aa"]].mean() > 0.5
    assert weights[frames(2.2, 2.9), V["sil"]].mean() > 0.95


def test_a_dark_vowel_rounds_the_lips_and_a_hiss_is_a_sibilant():
    audio = np.concatenate([synthetic_vowel(VOWEL_U, seconds=1.0), hiss(1.0)])
    weights = acoustic_viseme_weights(audio, RATE_HZ, FPS)
    rounded = weights[frames(0.2, 0.8), V["oh"]] + weights[frames(0.2, 0.8), V["ou"]]
    assert rounded.mean() > 0.5
    assert weights[frames(1.2, 1.8), V["SS"]].mean() > 0.5


def test_a_short_dip_between_two_sounds_closes_the_lips():
    vowel = synthetic_vowel(VOWEL_A, seconds=0.5)
    audio = np.concatenate([vowel, silence(0.07), vowel])
    weights = acoustic_viseme_weights(audio, RATE_HZ, FPS)
    around_gap = weights[frames(0.4, 0.7)]
    assert around_gap[:, V["PP"]].max() == pytest.approx(1.0)


def test_real_speech_moves_the_mouth():
    speech, rate = piper_speech()
    weights = acoustic_viseme_weights(speech, rate, FPS)
    open_share = 1.0 - weights[:, V["sil"]] - weights[:, V["PP"]]
    assert open_share.mean() > 0.4
    assert np.abs(np.diff(open_share)).mean() > 0.02  # it moves, not a frozen jaw
