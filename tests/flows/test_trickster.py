"""The trickster flow, run for real: storage in, a bent WAV out, presets from the library."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.storage import get_storage
from flows.trickster import trickster
from models.effects import UnknownEffectError
from models.schema import upgrade_database
from tasks.voice.trickster import EffectError
from tests.support.audio import median_f0_hz, piper_speech

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture
async def recording_key(configure, tmp_path: Path) -> str:
    configure()
    await upgrade_database()
    speech, rate = piper_speech()
    wav = tmp_path / "me.wav"
    sf.write(wav, speech, rate)
    key = "uploads/test/me.wav"
    get_storage().put_file(key, wav, "audio/wav")
    return key


def read(key: str, tmp_path: Path) -> tuple[np.ndarray, int]:
    local = tmp_path / "out.wav"
    get_storage().download(key, local)
    samples, rate = sf.read(local, dtype="float32")
    return samples, rate


async def test_a_preset_with_an_explicit_pitch_on_top(recording_key, tmp_path, caplog):
    result = await trickster(recording_key, preset="giant", pitch_semitones=-4)
    assert result.params == {"pitch_semitones": -4.0, "formant_ratio": 0.78,
                             "tempo_ratio": 0.9}
    samples, rate = read(result.key, tmp_path)
    original, original_rate = piper_speech()
    assert rate == 24_000 and result.duration_s == pytest.approx(samples.size / rate)
    assert median_f0_hz(samples, rate) / median_f0_hz(original, original_rate) == pytest.approx(
        2 ** (-4 / 12), rel=0.05)

    again = await trickster(recording_key, preset="giant", pitch_semitones=-4)
    assert again.reused and again.key == result.key


async def test_unknown_presets_and_wild_values_fail_in_plain_words(recording_key):
    with pytest.raises(UnknownEffectError, match="no effect preset called 'goblin'"):
        await trickster(recording_key, preset="goblin")
    with pytest.raises(EffectError, match="ratio 3.0 is outside 0.5–2.0"):
        await trickster(recording_key, tempo_ratio=3.0)
