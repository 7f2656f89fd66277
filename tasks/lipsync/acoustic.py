"""The acoustic lip-sync provider: mouth shapes from any audio, with no transcript.

For a person's own recording there are no phone timings, so the mouth follows what can be
heard (librosa features at the video frame rate):

- **loudness** (RMS in dB, smoothed to the 2-7 Hz syllable rhythm) opens the jaw;
- **band energies** of the pre-emphasised spectrum tell the sounds apart: frames with
  most energy above 4 kHz are sibilants (``SS``); frames with almost nothing between 1
  and 4 kHz (a low second formant) are rounded vowels (``oh``/``ou``); the rest are open
  (``aa``) or mid (``E``) vowels, by loudness;
- a short dip of loudness between two loud stretches closes the lips (``PP``), as the
  closure of a plosive does;
- the lips lead the sound slightly, as in the phoneme provider.

It is cruder than phone timings, but always in time with the audio.
"""

from __future__ import annotations

import librosa
import numpy as np

from tasks.lipsync.phonemes import LIP_LEAD_S, n_frames_for
from tasks.lipsync.visemes import VISEMES

SILENCE_BELOW_DB = -35.0
"""Frames quieter than this (relative to the loudest) are silence."""
SMOOTHING_S = 0.06
SIBILANT_HIGH_SHARE = 0.5
"""A frame with more than this share of its energy above 4 kHz is a sibilant."""
ROUNDED_MID_SHARE = 0.08
"""A voiced frame with less than this share of its 0-4 kHz energy above 1 kHz is rounded."""
DIP_DB = 9.0
"""A frame this much quieter than both neighbours (±60 ms) is a lip closure."""

_V = {name: i for i, name in enumerate(VISEMES)}


def openness(samples: np.ndarray, sample_rate_hz: int, fps: int,
             ) -> tuple[np.ndarray, np.ndarray]:
    """How open the mouth should be by loudness, per video frame (0 silent .. 1 loudest),
    smoothed to the syllable rhythm; and the smoothed level in dB below the loudest."""
    duration_s = samples.size / sample_rate_hz
    n_frames = n_frames_for(duration_s, fps)
    hop = max(1, int(round(sample_rate_hz / fps)))
    frame_length = max(2 * hop, 512)
    rms = _fit(librosa.feature.rms(y=np.asarray(samples, np.float32),
                                   frame_length=frame_length, hop_length=hop)[0], n_frames)
    level_db = 20 * np.log10(np.maximum(rms, 1e-6) / max(float(rms.max()), 1e-6))
    level_db = _smooth(level_db, SMOOTHING_S * fps)
    return np.clip((level_db - SILENCE_BELOW_DB) / -SILENCE_BELOW_DB, 0.0, 1.0), level_db


def acoustic_viseme_weights(samples: np.ndarray, sample_rate_hz: int, fps: int,
                            ) -> np.ndarray:
    """Per-frame viseme weights, shape ``(n_frames, len(VISEMES))``, rows summing to 1."""
    duration_s = samples.size / sample_rate_hz
    n_frames = n_frames_for(duration_s, fps)
    hop = max(1, int(round(sample_rate_hz / fps)))
    frame_length = max(2 * hop, 512)
    y = np.asarray(samples, dtype=np.float32)
    vowel, level_db = openness(y, sample_rate_hz, fps)
    power = np.abs(librosa.stft(librosa.effects.preemphasis(y), n_fft=frame_length,
                                hop_length=hop)) ** 2
    freqs = librosa.fft_frequencies(sr=sample_rate_hz, n_fft=frame_length)
    low, mid, high = (_fit(power[band].sum(axis=0), n_frames) for band in (
        freqs < 1_000, (freqs >= 1_000) & (freqs < 4_000), freqs >= 4_000))

    weights = np.zeros((n_frames, len(VISEMES)), dtype=np.float32)
    sibilant = high / (low + mid + high + 1e-12) > SIBILANT_HIGH_SHARE
    rounded = (mid / (low + mid + 1e-12) < ROUNDED_MID_SHARE) & ~sibilant
    weights[:, _V["SS"]] = np.where(sibilant, 0.7 * vowel + 0.3, 0.0)
    weights[:, _V["ou"]] = np.where(rounded, vowel * (1 - vowel), 0.0)
    weights[:, _V["oh"]] = np.where(rounded, vowel * vowel, 0.0)
    open_vowels = ~sibilant & ~rounded
    weights[:, _V["aa"]] = np.where(open_vowels, vowel * vowel, 0.0)
    weights[:, _V["E"]] = np.where(open_vowels, vowel * (1 - vowel), 0.0)

    reach = max(1, int(round(0.06 * fps)))
    padded = np.pad(level_db, reach, mode="edge")
    before, after = padded[: n_frames], padded[2 * reach:]
    closure = (level_db < before - DIP_DB) & (level_db < after - DIP_DB)
    weights[closure] = 0.0
    weights[closure, _V["PP"]] = 1.0

    quiet = np.clip(1.0 - weights.sum(axis=1), 0.0, 1.0)
    weights[:, _V["sil"]] += quiet
    weights /= weights.sum(axis=1, keepdims=True)
    lead = int(round(LIP_LEAD_S * fps))
    if lead:
        weights = np.concatenate([weights[lead:], np.repeat(weights[-1:], lead, axis=0)])
    return weights.astype(np.float32)


def _fit(values: np.ndarray, n: int) -> np.ndarray:
    """Trim or pad (with the last value) a per-frame feature to ``n`` frames."""
    if values.size >= n:
        return values[:n]
    return np.pad(values, (0, n - values.size), mode="edge")


def _smooth(values: np.ndarray, width_frames: float) -> np.ndarray:
    k = max(1, int(round(width_frames)) | 1)
    if k == 1:
        return values
    kernel = np.hanning(k + 2)[1:-1]
    kernel /= kernel.sum()
    return np.convolve(np.pad(values, k // 2, mode="edge"), kernel, mode="valid")
