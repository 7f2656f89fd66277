"""Trickster effects, measured on their output with pYIN and LPC (not with Praat)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from tasks.voice.trickster import (
    PRESETS,
    EffectError,
    TricksterParams,
    apply_effect,
    make_params,
)
from tests.support.audio import (
    VOWEL_A,
    VOWEL_U,
    median_f0_hz,
    median_formants_hz,
    periodicity,
    piper_speech,
    synthetic_vowel,
)

RATE_HZ = 22_050


def test_pitch_up_four_semitones_raises_f0_by_the_right_ratio_and_keeps_the_length():
    speech, rate = piper_speech()
    shifted = apply_effect(speech, rate, make_params(pitch_semitones=4))
    ratio = median_f0_hz(shifted, rate) / median_f0_hz(speech, rate)
    assert ratio == pytest.approx(2 ** (4 / 12), rel=0.03)
    assert shifted.size == speech.size


def test_tempo_changes_the_length_and_not_the_pitch():
    speech, rate = piper_speech()
    faster = apply_effect(speech, rate, make_params(tempo_ratio=1.25))
    assert faster.size / speech.size == pytest.approx(1 / 1.25, rel=0.02)
    assert median_f0_hz(faster, rate) == pytest.approx(median_f0_hz(speech, rate), rel=0.03)


@pytest.mark.parametrize("vowel", [VOWEL_A, VOWEL_U], ids=["a", "u"])
def test_formant_ratio_moves_the_first_two_formants_and_not_the_pitch(vowel):
    sung = synthetic_vowel(vowel)
    brighter = apply_effect(sung, RATE_HZ, make_params(formant_ratio=1.2))
    f1, f2 = median_formants_hz(sung, RATE_HZ)
    g1, g2 = median_formants_hz(brighter, RATE_HZ)
    assert 1.10 <= g1 / f1 <= 1.30 and 1.10 <= g2 / f2 <= 1.30
    assert median_f0_hz(brighter, RATE_HZ) == pytest.approx(median_f0_hz(sung, RATE_HZ),
                                                            rel=0.03)


def test_formants_also_move_on_real_speech():
    # LPC formants of running speech are rough (the vowels vary), so only the direction
    # and a clear F1 move are asked for; the vowels above pin the size of the shift.
    speech, rate = piper_speech()
    f1, f2 = median_formants_hz(speech, rate)
    darker = median_formants_hz(apply_effect(speech, rate, make_params(formant_ratio=0.85)),
                                rate)
    brighter = median_formants_hz(apply_effect(speech, rate, make_params(formant_ratio=1.2)),
                                  rate)
    assert darker[0] < 0.95 * f1 and darker[1] < f2
    assert brighter[0] > 1.1 * f1 and brighter[1] > 1.1 * f2


def test_pitch_formant_and_tempo_combine_independently():
    sung = synthetic_vowel(VOWEL_A)
    changed = apply_effect(sung, RATE_HZ, make_params(pitch_semitones=-5, formant_ratio=1.2,
                                                      tempo_ratio=0.8))
    assert median_f0_hz(changed, RATE_HZ) / median_f0_hz(sung, RATE_HZ) == pytest.approx(
        2 ** (-5 / 12), rel=0.03)
    assert changed.size / sung.size == pytest.approx(1 / 0.8, rel=0.02)
    f1, _ = median_formants_hz(sung, RATE_HZ)
    assert median_formants_hz(changed, RATE_HZ)[0] / f1 == pytest.approx(1.2, abs=0.1)


def test_the_robot_speaks_in_a_monotone():
    speech, rate = piper_speech()
    robot = apply_effect(speech, rate, PRESETS["robot"])
    import librosa

    def share_on_one_note(y: np.ndarray) -> float:
        """Share of the voiced frames within a semitone of the median pitch (pYIN now and
        then jumps an octave on the ring-modulated voice, so no spread percentiles)."""
        f0, voiced, _ = librosa.pyin(y, fmin=50, fmax=600, sr=rate)
        semitones = 12 * np.log2(f0[voiced] / np.nanmedian(f0[voiced]))
        return float(np.mean(np.abs(semitones) < 1.0))

    assert share_on_one_note(speech) < 0.5
    assert share_on_one_note(robot) > 0.8


def test_an_effect_gives_the_same_samples_whatever_praat_did_before():
    speech, rate = piper_speech()
    first = apply_effect(speech, rate, PRESETS["robot"])
    apply_effect(speech, rate, make_params(pitch_semitones=3))  # moves Praat's generator

    assert np.array_equal(apply_effect(speech, rate, PRESETS["robot"]), first)


def test_a_whisper_loses_the_pitch_periodicity_of_the_voice():
    speech, rate = piper_speech()
    whispered = apply_effect(speech, rate, PRESETS["whisper"])
    voiced, breathy = periodicity(speech, rate), periodicity(whispered, rate)
    assert voiced > 0.5 and breathy < 0.6 * voiced
    assert whispered.size == speech.size


def test_the_telephone_keeps_only_the_phone_band():
    speech, rate = piper_speech()
    phone = apply_effect(speech, rate, PRESETS["telephone"])
    freqs, power = signal.welch(phone, fs=rate, nperseg=2048)
    in_band = power[(freqs > 500) & (freqs < 3000)].mean()
    assert power[freqs < 150].mean() < 0.01 * in_band
    assert power[freqs > 5000].mean() < 0.01 * in_band


def test_an_echo_repeats_the_voice_after_the_delay():
    click = np.zeros(RATE_HZ, dtype=np.float32)
    click[1000] = 0.5
    echoed = apply_effect(click, RATE_HZ, PRESETS["echo"])
    delay = round(PRESETS["echo"].echo_delay_s * RATE_HZ)
    peaks = np.flatnonzero(echoed > 0.01)
    assert list(peaks[:3]) == [1000, 1000 + delay, 1000 + 2 * delay]
    assert echoed[1000 + delay] == pytest.approx(
        echoed[1000] * PRESETS["echo"].echo_decay, rel=1e-4)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_gives_clean_audio(name):
    speech, rate = piper_speech()
    out = apply_effect(speech, rate, PRESETS[name])
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert 0.05 < np.abs(out).max() <= 0.99
    assert out.size == pytest.approx(speech.size / PRESETS[name].tempo_ratio, rel=0.02)


def test_no_effect_returns_the_same_audio():
    speech, rate = piper_speech()
    assert np.array_equal(apply_effect(speech, rate, TricksterParams()), speech)


@pytest.mark.parametrize(("values", "message"), [
    ({"pitch_semitones": 30}, "pitch shift 30 is outside ±24 semitones"),
    ({"pitch_semitones": -24.5}, "pitch shift -24.5 is outside ±24 semitones"),
    ({"formant_ratio": 2.5}, "formant_ratio: ratio 2.5 is outside 0.5–2.0"),
    ({"tempo_ratio": 0.4}, "tempo_ratio: ratio 0.4 is outside 0.5–2.0"),
    ({"warp": 1}, "warp: Extra inputs are not permitted"),
])
def test_out_of_range_values_are_refused_in_plain_words(values, message):
    with pytest.raises(EffectError, match=message):
        make_params(**values)
