"""The phoneme lip-sync provider: mouth shapes from the voice's own phone timings.

Each espeak IPA symbol maps to one Oculus viseme (a table, as data). A frame's weight for
a viseme is the fraction of the frame's time that phones of that viseme cover; the track
is then led slightly ahead of the voice (lips move before the sound is heard) and
smoothed so that neighbouring shapes blend (coarticulation). Plosives keep a full
closure in every frame that shows them (from the lead to the release), so that p/b/m
always read as closed lips.
"""

from __future__ import annotations

import math

import numpy as np

from models.domain import Phone
from tasks.lipsync.visemes import VISEMES

# espeak IPA symbol -> Oculus viseme. Symbols not listed (length marks, tie bars, the
# short word break " ") keep the previous phone's viseme; silence ("_") and punctuation
# are "sil".
IPA_VISEME: dict[str, str] = {
    **dict.fromkeys("pbm", "PP"),
    **dict.fromkeys("fv", "FF"),
    **dict.fromkeys("θð", "TH"),
    **dict.fromkeys("tdɾʔ", "DD"),
    **dict.fromkeys("kgŋxɡ", "kk"),
    **dict.fromkeys("ʃʒʧʤ", "CH"),
    **dict.fromkeys("sz", "SS"),
    **dict.fromkeys("nlɫ", "nn"),
    **dict.fromkeys("ɹrɚɝ", "RR"),
    **dict.fromkeys("ɑaæʌɐ", "aa"),
    **dict.fromkeys("eɛə", "E"),
    **dict.fromkeys("iɪjy", "ih"),
    **dict.fromkeys("oɔɒ", "oh"),
    **dict.fromkeys("uʊwɵ", "ou"),
    **dict.fromkeys("h", "E"),
    **dict.fromkeys("_,.;:!?¡¿—…\"'()-", "sil"),
}
PLOSIVE_VISEMES = frozenset({"PP"})
LIP_LEAD_S = 0.04
SMOOTHING_S = 0.05
LOUDNESS_FLOOR = 0.05
"""Share of a shape's opening kept when the voice is at its quietest (see
:func:`scale_by_loudness`)."""


def viseme_of(symbol: str, previous: str = "sil") -> str:
    """The viseme of one IPA symbol (unknown symbols keep the previous viseme)."""
    return IPA_VISEME.get(symbol, previous)


def n_frames_for(duration_s: float, fps: int) -> int:
    """Frames needed to cover ``duration_s`` at ``fps`` (at least one)."""
    return max(1, math.ceil(round(duration_s * fps, 6)))


def viseme_weights(phones: list[Phone], duration_s: float, fps: int) -> np.ndarray:
    """Per-frame viseme weights for a phone sequence.

    Args:
        phones: phones with start/end times in seconds.
        duration_s: length of the voice track in seconds.
        fps: video frames per second.

    Returns:
        float32 array of shape (n_frames, len(VISEMES)); rows sum to 1.
    """
    n_frames = n_frames_for(duration_s, fps)
    index = {name: i for i, name in enumerate(VISEMES)}
    weights = np.zeros((n_frames, len(VISEMES)), dtype=np.float32)
    frame_s = 1.0 / fps
    previous = "sil"
    closures: list[int] = []
    for phone in phones:
        viseme = viseme_of(phone.symbol, previous)
        previous = viseme
        start_s = max(0.0, phone.start_s - LIP_LEAD_S)
        end_s = max(start_s, phone.end_s - LIP_LEAD_S)
        first = int(start_s * fps)
        last = min(n_frames - 1, int(end_s * fps))
        if first >= n_frames:
            continue
        frames = np.arange(first, last + 1)
        overlap = (np.minimum(end_s, (frames + 1) * frame_s)
                   - np.maximum(start_s, frames * frame_s)) / frame_s
        weights[frames, index[viseme]] += np.clip(overlap, 0.0, 1.0)
        if viseme in PLOSIVE_VISEMES:
            # The closure must be seen: the lips meet ahead of the sound (the lead) and
            # stay shut in every frame shown while the phone sounds, up to its release.
            # (A voice's p, b, m last 20-60 ms, less than two frames: a frame that shows
            # any of the phone shows the lips shut.)
            shown_last = max(first, math.ceil(round(phone.end_s * fps, 6)) - 1)
            closures.extend(range(first, min(n_frames - 1, shown_last) + 1))
    uncovered = np.clip(1.0 - weights.sum(axis=1), 0.0, None)
    weights[:, index["sil"]] += uncovered
    weights[closures] = 0.0
    weights[closures, index["PP"]] = 1.0
    weights = _smooth(weights, fps)
    weights /= weights.sum(axis=1, keepdims=True)
    return weights


def scale_by_loudness(weights: np.ndarray, openness: np.ndarray,
                      floor: float = LOUDNESS_FLOOR) -> np.ndarray:
    """Open the mouth as far as the voice is loud: every open shape's weight is scaled by
    ``floor + (1 - floor) * openness`` (0..1 per frame) and the rest goes to ``sil``.

    Phones say which shape; loudness says how much (the mouth's opening follows the
    loudness envelope at the syllable rate). Closures (``PP``) are kept as they are.
    """
    n = min(len(weights), len(openness))
    factor = np.ones(len(weights), np.float32)
    factor[:n] = floor + (1.0 - floor) * np.clip(openness[:n], 0.0, 1.0)
    scaled = weights.copy()
    keep = [VISEMES.index("sil"), VISEMES.index("PP")]
    movable = [i for i in range(len(VISEMES)) if i not in keep]
    scaled[:, movable] *= factor[:, None]
    scaled[:, keep[0]] += 1.0 - scaled.sum(axis=1)
    return scaled


def _smooth(weights: np.ndarray, fps: int) -> np.ndarray:
    """Blend neighbouring frames with a short triangular kernel (coarticulation)."""
    radius = int(round(SMOOTHING_S * fps))
    if radius < 1:
        return weights
    kernel = np.concatenate([np.arange(1, radius + 2), np.arange(radius, 0, -1)]).astype(
        np.float32)
    kernel /= kernel.sum()
    padded = np.pad(weights, ((radius, radius), (0, 0)), mode="edge")
    smoothed = np.stack([np.convolve(padded[:, j], kernel, mode="valid")
                         for j in range(weights.shape[1])], axis=1)
    # Keep the plosive closures crisp: smoothing must not open a full closure.
    pp = VISEMES.index("PP")
    closed = weights[:, pp] >= 0.999
    smoothed[closed] = weights[closed]
    return smoothed.astype(np.float32)
