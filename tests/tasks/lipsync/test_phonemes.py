"""Phone timings become per-frame mouth shapes."""

from __future__ import annotations

import numpy as np
import pytest

from models.domain import Phone
from tasks.lipsync.phonemes import n_frames_for, viseme_of, viseme_weights
from tasks.lipsync.visemes import VISEMES


def phones(*spec: tuple[str, float]) -> list[Phone]:
    out, t = [], 0.0
    for symbol, length_s in spec:
        out.append(Phone(symbol=symbol, start_s=t, end_s=t + length_s))
        t += length_s
    return out


def dominant(weights: np.ndarray) -> list[str]:
    return [VISEMES[i] for i in weights.argmax(axis=1)]


def test_the_ipa_table_maps_sound_classes():
    assert [viseme_of(s) for s in "pbmfvszɑuɪ"] == [
        "PP", "PP", "PP", "FF", "FF", "SS", "SS", "aa", "ou", "ih"]
    assert viseme_of("ː", previous="aa") == "aa"  # length marks keep the shape
    assert viseme_of("_") == viseme_of(".") == "sil"


def test_frames_cover_the_duration():
    assert n_frames_for(1.0, 30) == 30
    assert n_frames_for(1.01, 30) == 31
    assert n_frames_for(0.0, 30) == 1


def test_weights_follow_the_phones_and_rows_sum_to_one():
    track = phones(("_", 0.2), ("ɑ", 0.3), ("m", 0.1), ("u", 0.3), ("_", 0.2))
    weights = viseme_weights(track, duration_s=1.1, fps=30)
    assert weights.shape == (33, len(VISEMES)) and weights.dtype == np.float32
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    shapes = dominant(weights)
    assert shapes[0] == "sil" and shapes[-1] == "sil"
    assert shapes[9] == "aa" and shapes[20] == "ou"


def test_a_short_plosive_still_closes_the_lips_fully():
    track = phones(("ɑ", 0.2), ("p", 0.03), ("ɑ", 0.2))
    weights = viseme_weights(track, duration_s=0.43, fps=30)
    assert weights[:, VISEMES.index("PP")].max() == pytest.approx(1.0)


@pytest.mark.parametrize("start_s", [0.2, 0.21, 0.23, 0.25])
def test_every_frame_that_shows_a_plosive_shows_the_lips_shut(start_s):
    # A 21 ms "m" (as the voice speaks some), wherever it falls against the frames.
    track = phones(("ɑ", start_s), ("m", 0.021), ("ɑ", 0.3))
    weights = viseme_weights(track, duration_s=start_s + 0.321, fps=30)
    shown = range(int(start_s * 30), int((start_s + 0.021) * 30) + 1)
    assert all(weights[k, VISEMES.index("PP")] == pytest.approx(1.0) for k in shown)


def test_lips_lead_the_voice():
    track = phones(("_", 0.5), ("ɑ", 0.5))
    weights = viseme_weights(track, duration_s=1.0, fps=100)
    first_open = int(np.argmax(weights[:, VISEMES.index("aa")] > 0.5))
    assert first_open < 50
