"""Pitch for voices that cannot set it: speak slower, then play faster.

Piper has no pitch control. To raise the pitch by a ratio ``r`` without changing the
length, the sentence is synthesised ``r`` times slower (Piper's ``length_scale``) and the
waveform is then resampled to ``1/r`` of its samples, which plays it ``r`` times faster:
the length comes back and every frequency rises by ``r``. Formants move with the pitch,
which over the ±2 semitones that emotions use sounds like a brighter or darker voice
rather than a cartoon.
"""

from __future__ import annotations

import numpy as np

from models.domain import Phone


def pitch_ratio(semitones: float) -> float:
    """Frequency ratio of a shift by ``semitones`` (12 per octave)."""
    return float(2.0 ** (semitones / 12.0))


def resample_to_length(samples: np.ndarray, n_samples: int) -> np.ndarray:
    """Band-limited resampling of a mono float signal to exactly ``n_samples`` samples.

    Works in the frequency domain: the spectrum is truncated (fewer samples) or padded
    with zeros (more samples), so nothing above the new Nyquist frequency aliases back.
    """
    if n_samples <= 0 or samples.size == 0:
        return np.zeros(max(n_samples, 0), dtype=np.float32)
    spectrum = np.fft.rfft(samples.astype(np.float64))
    bins = n_samples // 2 + 1
    if bins <= spectrum.size:
        spectrum = spectrum[:bins]
    else:
        spectrum = np.pad(spectrum, (0, bins - spectrum.size))
    out = np.fft.irfft(spectrum, n_samples) * (n_samples / samples.size)
    return out.astype(np.float32)


def raise_pitch(samples: np.ndarray, phones: list[Phone], ratio: float,
                ) -> tuple[np.ndarray, list[Phone]]:
    """Play ``samples`` ``ratio`` times faster (pitch × ratio, length / ratio).

    Phone times are divided by ``ratio`` so that they still match the audio.
    """
    if ratio == 1.0:
        return samples, phones
    faster = resample_to_length(samples, int(round(samples.size / ratio)))
    scaled = [Phone(symbol=p.symbol, start_s=round(p.start_s / ratio, 5),
                    end_s=round(p.end_s / ratio, 5)) for p in phones]
    return faster, scaled
