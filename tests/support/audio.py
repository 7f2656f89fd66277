"""Audio for voice tests, and measurements that do not share code with what they measure.

Pitch comes from librosa's pYIN, formants from LPC roots (librosa.lpc): neither is the
Praat analysis the trickster uses.
"""

from __future__ import annotations

from functools import cache

import librosa
import numpy as np
from scipy import signal

VOWEL_A = (700.0, 1220.0, 2600.0)
VOWEL_U = (350.0, 900.0, 2400.0)


def synthetic_vowel(formants_hz: tuple[float, float, float] = VOWEL_A, f0_hz: float = 120.0,
                    seconds: float = 2.0, sample_rate_hz: int = 22_050) -> np.ndarray:
    """A sung vowel: a glottal pulse train (5 Hz, 3% vibrato) through three resonators."""
    n = int(seconds * sample_rate_hz)
    t = np.arange(n) / sample_rate_hz
    phase = np.cumsum(f0_hz * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))) / sample_rate_hz
    pulses = np.diff(np.floor(phase), prepend=0.0)
    y = signal.lfilter([1.0], [1.0, -0.97], pulses)
    for formant, bandwidth in zip(formants_hz, (80.0, 90.0, 120.0), strict=True):
        r = np.exp(-np.pi * bandwidth / sample_rate_hz)
        theta = 2 * np.pi * formant / sample_rate_hz
        y = signal.lfilter([1 - r], [1.0, -2 * r * np.cos(theta), r * r], y)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


@cache
def _speech(text: str) -> np.ndarray:
    from piper import SynthesisConfig

    from tasks.voice.piper import PiperTTS

    voice = PiperTTS()._voice
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)  # no randomness
    chunks = voice.synthesize(text, syn_config=config)
    return np.concatenate([chunk.audio_float_array for chunk in chunks]).astype(np.float32)


def piper_speech() -> tuple[np.ndarray, int]:
    """About 7 s of the bundled voice, the same on every run, at 22,050 Hz."""
    text = ("We are going to the lake on Saturday morning. All of the boats are out on "
            "the water today. I would really love a cup of warm tea.")
    return _speech(text).copy(), 22_050


def median_f0_hz(samples: np.ndarray, sample_rate_hz: int) -> float:
    """Median pitch of the voiced frames (pYIN, 50-600 Hz)."""
    f0, voiced, _ = librosa.pyin(samples, fmin=50, fmax=600, sr=sample_rate_hz)
    return float(np.nanmedian(f0[voiced]))


def periodicity(samples: np.ndarray, sample_rate_hz: int) -> float:
    """Median, over the loud 40 ms frames, of the highest normalised autocorrelation at a
    pitch lag (50-400 Hz): about 0.8-1 for voiced speech, near 0.2 for noise."""
    frame = int(0.04 * sample_rate_hz)
    frames = librosa.util.frame(samples, frame_length=frame, hop_length=frame // 2)
    rms = np.sqrt((frames ** 2).mean(axis=0))
    lags = np.arange(sample_rate_hz // 400, sample_rate_hz // 50)
    peaks = []
    for i in np.flatnonzero(rms > 0.3 * rms.max()):
        x = frames[:, i] - frames[:, i].mean()
        corr = np.correlate(x, x, mode="full")[x.size - 1:]
        peaks.append(corr[lags[lags < x.size]].max() / corr[0])
    return float(np.median(peaks))


def median_formants_hz(samples: np.ndarray, sample_rate_hz: int) -> tuple[float, float]:
    """Median F1 and F2 over all frames, from the roots of a 12th-order LPC at 11 kHz."""
    rate = 11_025
    y = librosa.resample(samples, orig_sr=sample_rate_hz, target_sr=rate)
    frames = librosa.util.frame(y, frame_length=512, hop_length=256)
    f1, f2 = [], []
    for i in range(frames.shape[1]):
        frame = frames[:, i] * np.hamming(512)
        frame = np.append(frame[0], frame[1:] - 0.63 * frame[:-1])  # pre-emphasis
        roots = np.roots(librosa.lpc(frame.astype(np.float64), order=12))
        roots = roots[np.imag(roots) > 0]
        freqs = np.angle(roots) * rate / (2 * np.pi)
        bandwidths = -rate / np.pi * np.log(np.abs(roots))
        freqs = np.sort(freqs[(freqs > 150) & (bandwidths < 500)])
        if freqs.size >= 2:
            f1.append(freqs[0])
            f2.append(freqs[1])
    return float(np.median(f1)), float(np.median(f2))
