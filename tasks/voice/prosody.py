"""How emotion bends the voice: speaking rate and loudness per emotion, as data.

Values are at intensity 1; intensity scales the deviation from neutral linearly.
``length_scale`` > 1 speaks slower; ``volume`` is a gain on the normalised waveform;
``noise_w`` (Piper's phoneme-duration noise) makes delivery more or less even.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prosody:
    length_scale: float = 1.0
    volume: float = 1.0
    noise_w: float = 0.8
    sentence_gap_s: float = 0.25


EMOTION_PROSODY: dict[str, Prosody] = {
    "neutral": Prosody(),
    "joy": Prosody(length_scale=0.92, volume=1.0, noise_w=0.9, sentence_gap_s=0.2),
    "sadness": Prosody(length_scale=1.18, volume=0.75, noise_w=0.6, sentence_gap_s=0.4),
    "anger": Prosody(length_scale=0.9, volume=1.0, noise_w=1.0, sentence_gap_s=0.2),
    "fear": Prosody(length_scale=0.95, volume=0.85, noise_w=1.0, sentence_gap_s=0.25),
    "surprise": Prosody(length_scale=0.94, volume=1.0, noise_w=0.9, sentence_gap_s=0.25),
    "disgust": Prosody(length_scale=1.08, volume=0.9, noise_w=0.7, sentence_gap_s=0.3),
}


def prosody_for(emotion: str | None, intensity: float) -> Prosody:
    """Prosody for an emotion at an intensity in 0..1, interpolated from neutral."""
    neutral = EMOTION_PROSODY["neutral"]
    target = EMOTION_PROSODY.get(emotion or "neutral", neutral)

    def mix(a: float, b: float) -> float:
        return round(a + (b - a) * intensity, 4)

    return Prosody(
        length_scale=mix(neutral.length_scale, target.length_scale),
        volume=mix(neutral.volume, target.volume),
        noise_w=mix(neutral.noise_w, target.noise_w),
        sentence_gap_s=mix(neutral.sentence_gap_s, target.sentence_gap_s),
    )
