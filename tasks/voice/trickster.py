"""Trickster voice effects: pitch, formants and tempo, each on its own, plus colour effects.

Pitch and formants go through one pass of Praat's "Change gender" (PSOLA, via
praat-parselmouth): the formants are moved by resampling and PSOLA then puts the pitch
where it is asked to be; the tempo is changed by WSOLA, which keeps pitch and formants.
Each of the three changes without the other two (librosa's phase vocoder would move
formants with pitch and smear transients).
Colour effects follow, each a short piece of signal processing:

- ``robot``: the pitch is flattened to a monotone (Praat Manipulation, overlap-add) and
  ring-modulated for a metallic edge;
- ``whisper``: every frame's spectral envelope (cepstrally smoothed) excites noise instead
  of the voice's harmonics;
- ``drive``: a soft saturation, then ``band_hz``: a band-pass (a telephone's
  300-3,400 Hz), and ``hiss_db`` a noise floor (a radio);
- ``echo_delay_s`` / ``echo_decay``: three echoes, each ``echo_decay`` quieter.

:data:`PRESETS` names the usual voices (chipmunk, giant, robot, telephone, radio, echo,
whisper, deep, bright); they are stored in ``effect_library`` (models/effects.py) where
people can add their own.
"""

from __future__ import annotations

import math
import threading
from typing import Self

import numpy as np
import parselmouth
from parselmouth.praat import call, run
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import InputError

PITCH_FLOOR_HZ = 75.0
"""Lowest voice pitch Praat looks for (deep male voices go down to about 80 Hz)."""
PITCH_CEILING_HZ = 600.0
"""Highest voice pitch Praat looks for (children and screams)."""
MAX_PITCH_SEMITONES = 24.0
RATIO_RANGE = (0.5, 2.0)
WHISPER_LIFTER_BINS = 40
"""Cepstral bins kept for the whisper's spectral envelope (below the pitch harmonics)."""
ROBOT_RING_HZ = 50.0
"""Ring-modulation frequency of the robot voice."""


class EffectError(InputError):
    """Effect parameters out of range, or an unknown preset."""


class TricksterParams(BaseModel):
    """One trickster effect. The defaults change nothing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pitch_semitones: float = Field(0.0, ge=-MAX_PITCH_SEMITONES, le=MAX_PITCH_SEMITONES)
    formant_ratio: float = Field(1.0, ge=RATIO_RANGE[0], le=RATIO_RANGE[1])
    tempo_ratio: float = Field(1.0, ge=RATIO_RANGE[0], le=RATIO_RANGE[1])
    """Above 1 speaks faster (a 10 s clip at 1.25 lasts 8 s)."""
    robot: bool = False
    whisper: bool = False
    band_hz: tuple[float, float] | None = None
    drive: float = Field(0.0, ge=0.0, le=1.0)
    hiss_db: float | None = Field(None, ge=-80.0, le=-10.0)
    echo_delay_s: float = Field(0.0, ge=0.0, le=1.0)
    echo_decay: float = Field(0.0, ge=0.0, le=0.9)

    @model_validator(mode="after")
    def _band_is_ordered(self) -> Self:
        if self.band_hz is not None and not 20 <= self.band_hz[0] < self.band_hz[1]:
            raise ValueError("band_hz must be (low, high) with 20 <= low < high")
        return self

    @property
    def is_identity(self) -> bool:
        return self == TricksterParams()

    @property
    def changes_timing(self) -> bool:
        return self.tempo_ratio != 1.0


def make_params(**values: object) -> TricksterParams:
    """:class:`TricksterParams` from user input, with range errors in plain words.

    Raises:
        EffectError: naming the parameter and its allowed range.
    """
    try:
        return TricksterParams(**values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(p) for p in error["loc"]) or "effect"
            problems.append(f"{name}: {_plain(name, error)}")
        raise EffectError("; ".join(problems)) from None


def _plain(name: str, error: dict) -> str:
    if name == "pitch_semitones" and error["type"] in ("less_than_equal", "greater_than_equal"):
        return (f"pitch shift {error['input']} is outside ±{MAX_PITCH_SEMITONES:g} "
                "semitones")
    if name in ("formant_ratio", "tempo_ratio") and error["type"] in (
            "less_than_equal", "greater_than_equal"):
        return f"ratio {error['input']} is outside {RATIO_RANGE[0]}–{RATIO_RANGE[1]}"
    return error["msg"]


PRESETS: dict[str, TricksterParams] = {
    "chipmunk": TricksterParams(pitch_semitones=8, formant_ratio=1.3, tempo_ratio=1.1),
    "giant": TricksterParams(pitch_semitones=-8, formant_ratio=0.78, tempo_ratio=0.9),
    "robot": TricksterParams(robot=True, formant_ratio=0.95),
    "telephone": TricksterParams(band_hz=(300, 3400), drive=0.3),
    "radio": TricksterParams(band_hz=(200, 5000), drive=0.5, hiss_db=-42),
    "echo": TricksterParams(echo_delay_s=0.22, echo_decay=0.45),
    "whisper": TricksterParams(whisper=True),
    "deep": TricksterParams(pitch_semitones=-3, formant_ratio=0.92),
    "bright": TricksterParams(pitch_semitones=2.5, formant_ratio=1.08),
}
"""The stock effects (stored in ``effect_library`` as presets without an owner)."""


_PRAAT_LOCK = threading.Lock()
"""Praat's random generator is one per process: effects in threads take turns."""


def _praat_part(x: np.ndarray, sample_rate_hz: int, params: TricksterParams) -> np.ndarray:
    """The steps of an effect that run through Praat: voice change, then robot."""
    if (params.pitch_semitones, params.formant_ratio, params.tempo_ratio) != (0, 1, 1):
        x = change_voice(x, sample_rate_hz, params.pitch_semitones, params.formant_ratio,
                         params.tempo_ratio)
    if params.robot:
        x = robotise(x, sample_rate_hz)
    return x


def apply_effect(samples: np.ndarray, sample_rate_hz: int, params: TricksterParams,
                 *, seed: int = 0) -> np.ndarray:
    """``samples`` (float32 mono) with the effect applied; same rate, float32, peak <= 1.

    Only the tempo changes the length (by ``1 / tempo_ratio``); echoes fade within it.
    """
    x = np.asarray(samples, dtype=np.float32)
    if params.is_identity or x.size == 0:
        return x.copy()
    rng = np.random.default_rng(seed)
    with _PRAAT_LOCK:
        # Praat's pitch analysis and PSOLA draw from Praat's one random generator, whose
        # state any earlier Praat call moved: seeded, the same input gives the same output.
        run(f"random_initializeWithSeedUnsafelyButPredictably ({seed})")
        x = _praat_part(x, sample_rate_hz, params)
    if params.whisper:
        x = whisperise(x, sample_rate_hz, rng)
    if params.drive:
        x = saturate(x, params.drive)
    if params.band_hz is not None:
        x = band_pass(x, sample_rate_hz, *params.band_hz)
    if params.hiss_db is not None:
        x = x + (10 ** (params.hiss_db / 20) * rng.standard_normal(x.size)).astype(np.float32)
    if params.echo_delay_s and params.echo_decay:
        x = add_echo(x, sample_rate_hz, params.echo_delay_s, params.echo_decay)
    peak = float(np.abs(x).max(initial=0.0))
    if peak > 0.99:
        x = x * (0.99 / peak)
    return x.astype(np.float32)


def _sound(x: np.ndarray, sample_rate_hz: int) -> parselmouth.Sound:
    return parselmouth.Sound(x.astype(np.float64), sampling_frequency=sample_rate_hz)


def _samples(sound: parselmouth.Sound, sample_rate_hz: int) -> np.ndarray:
    if round(sound.sampling_frequency) != sample_rate_hz:
        sound = call(sound, "Resample", sample_rate_hz, 50)
    return np.asarray(sound.values[0], dtype=np.float32)


def median_pitch_hz(x: np.ndarray, sample_rate_hz: int) -> float | None:
    """Median pitch of the voiced parts (Praat), or None when nothing is voiced."""
    pitch = call(_sound(x, sample_rate_hz), "To Pitch", 0.0, PITCH_FLOOR_HZ, PITCH_CEILING_HZ)
    median = call(pitch, "Get quantile", 0.0, 0.0, 0.5, "Hertz")
    return None if math.isnan(median) else float(median)


def change_voice(x: np.ndarray, sample_rate_hz: int, pitch_semitones: float,
                 formant_ratio: float, tempo_ratio: float) -> np.ndarray:
    """Pitch and formants in one PSOLA pass (Praat's "Change gender"), then the tempo by
    WSOLA (:func:`stretch_time`), which is deterministic where Praat's duration change
    draws random pulses in unvoiced stretches."""
    if pitch_semitones or formant_ratio != 1.0:
        median = median_pitch_hz(x, sample_rate_hz) if pitch_semitones else None
        new_median = median * 2 ** (pitch_semitones / 12) if median else 0.0  # 0: keep
        changed = call(_sound(x, sample_rate_hz), "Change gender", PITCH_FLOOR_HZ,
                       PITCH_CEILING_HZ, formant_ratio, new_median, 1.0, 1.0)
        x = _samples(changed, sample_rate_hz)
    if tempo_ratio != 1.0:
        x = stretch_time(x, sample_rate_hz, tempo_ratio)
    return x


WSOLA_FRAME_S = 0.030
"""WSOLA frame length (a few pitch periods of a low voice)."""
WSOLA_SEARCH_S = 0.012
"""How far WSOLA may shift a frame to keep the waveform continuous."""


def stretch_time(x: np.ndarray, sample_rate_hz: int, tempo_ratio: float) -> np.ndarray:
    """Speak ``tempo_ratio`` times faster without changing the pitch (WSOLA).

    Each output frame (half-overlapping Hann windows) is taken from the input near where
    the tempo puts it, shifted by up to :data:`WSOLA_SEARCH_S` so that it continues the
    previous frame's waveform best (highest cross-correlation); the frames are then
    overlap-added. Output length is ``len(x) / tempo_ratio``.
    """
    n = int(round(WSOLA_FRAME_S * sample_rate_hz)) // 2 * 2
    hop_out = n // 2
    hop_in = hop_out * tempo_ratio
    tol = int(round(WSOLA_SEARCH_S * sample_rate_hz))
    out_len = int(round(x.size / tempo_ratio))
    padded = np.pad(x.astype(np.float64), (tol + n, tol + 2 * n))
    window = np.hanning(n + 1)[:n]
    out = np.zeros(out_len + 2 * n)
    norm = np.zeros(out_len + 2 * n)
    previous = tol + n  # input position (in padded) of the previous frame
    for k in range(out_len // hop_out + 1):
        nominal = int(round(k * hop_in)) + tol + n
        if k == 0:
            position = nominal
        else:
            template = padded[previous + hop_out: previous + hop_out + n]
            region = padded[nominal - tol: nominal + tol + n]
            scores = np.correlate(region, template, mode="valid")
            position = nominal - tol + int(np.argmax(scores))
        out[k * hop_out: k * hop_out + n] += window * padded[position: position + n]
        norm[k * hop_out: k * hop_out + n] += window
        previous = position
    out = out[:out_len] / np.maximum(norm[:out_len], 1e-3)
    return out.astype(np.float32)


def robotise(x: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """A monotone at the voice's median pitch, ring-modulated at :data:`ROBOT_RING_HZ`."""
    median = median_pitch_hz(x, sample_rate_hz)
    if median is not None:
        sound = _sound(x, sample_rate_hz)
        manipulation = call(sound, "To Manipulation", 0.01, PITCH_FLOOR_HZ, PITCH_CEILING_HZ)
        flat = call("Create PitchTier", "flat", sound.xmin, sound.xmax)
        call(flat, "Add point", (sound.xmin + sound.xmax) / 2, median)
        call([flat, manipulation], "Replace pitch tier")
        x = _samples(call(manipulation, "Get resynthesis (overlap-add)"), sample_rate_hz)
    t = np.arange(x.size) / sample_rate_hz
    ring = np.sin(2 * np.pi * ROBOT_RING_HZ * t)
    return (0.6 * x + 0.4 * x * ring).astype(np.float32)


def whisperise(x: np.ndarray, sample_rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """Noise shaped by each frame's spectral envelope: the words stay, the tone goes."""
    from scipy import signal  # here: scipy.signal takes ~0.8 s to import

    n_fft = 1024 if sample_rate_hz <= 24_000 else 2048
    hop = n_fft // 4
    _, _, spectrum = signal.stft(x, nperseg=n_fft, noverlap=n_fft - hop)
    log_magnitude = np.log(np.abs(spectrum) + 1e-7)
    cepstrum = np.fft.irfft(log_magnitude, axis=0)
    cepstrum[WHISPER_LIFTER_BINS:-WHISPER_LIFTER_BINS] = 0.0
    envelope = np.exp(np.fft.rfft(cepstrum, axis=0).real[: spectrum.shape[0]])
    # Filter real white noise through the envelope (rather than drawing a random phase
    # per frame, which would buzz at the frame rate).
    _, _, noise = signal.stft(rng.standard_normal(x.size), nperseg=n_fft,
                              noverlap=n_fft - hop)
    _, whispered = signal.istft(envelope * noise, nperseg=n_fft, noverlap=n_fft - hop)
    whispered = whispered[: x.size]
    whispered = np.pad(whispered, (0, x.size - whispered.size))
    # Same loudness as the voice, frame by frame (so that pauses stay quiet).
    return _match_rms(whispered, x, hop).astype(np.float32)


def _match_rms(y: np.ndarray, reference: np.ndarray, hop: int) -> np.ndarray:
    def rms(v: np.ndarray) -> np.ndarray:
        frames = np.lib.stride_tricks.sliding_window_view(
            np.pad(v, (hop, hop)), 2 * hop)[::hop]
        return np.sqrt(np.mean(frames ** 2, axis=1) + 1e-12)

    gain = rms(reference) / rms(y)
    positions = np.arange(gain.size) * hop
    return y * np.interp(np.arange(y.size), positions, gain)


def band_pass(x: np.ndarray, sample_rate_hz: int, low_hz: float, high_hz: float,
              ) -> np.ndarray:
    from scipy import signal  # here: scipy.signal takes ~0.8 s to import

    high_hz = min(high_hz, 0.45 * sample_rate_hz)
    sos = signal.butter(4, [low_hz, high_hz], btype="bandpass", fs=sample_rate_hz,
                        output="sos")
    return signal.sosfiltfilt(sos, x).astype(np.float32)


def saturate(x: np.ndarray, drive: float) -> np.ndarray:
    """Soft clipping; ``drive`` 0..1 from clean to crunchy, at about the same level."""
    gain = 1.0 + 9.0 * drive
    return (np.tanh(gain * x) / np.tanh(gain)).astype(np.float32)


def add_echo(x: np.ndarray, sample_rate_hz: int, delay_s: float, decay: float,
             repeats: int = 3) -> np.ndarray:
    delay = int(round(delay_s * sample_rate_hz))
    out = x.astype(np.float32).copy()
    for k in range(1, repeats + 1):
        shift = k * delay
        if shift >= x.size:
            break
        out[shift:] += (decay ** k) * x[: x.size - shift]
    return out
