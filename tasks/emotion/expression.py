"""What emotion drives: one table, emotion × intensity -> voice prosody and face expression.

The voice step (tasks/voice) reads :attr:`Expression.voice` for every sentence; the render
step (tasks/render) reads :attr:`Expression.face` for every span of video. Changing how an
emotion sounds or looks is one edit in :data:`EMOTION_EXPRESSION`.

Values are given at full intensity. :func:`expression_for` moves from neutral towards
them as intensity grows, on a gently eased curve (``intensity ** 0.8``), so that a mild
emotion (0.3) is already visible and heard without being a caricature.

Face weights use ARKit blendshape names (0..1), the names MediaPipe's face blendshapes and
most avatar rigs share; left and right are listed separately so that a rig may render
asymmetric expressions later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType

from models.domain import EMOTIONS, Emotion

INTENSITY_EXPONENT = 0.8
"""Effect = full effect × intensity ** this (below 1 eases mild emotions in)."""


@dataclass(frozen=True)
class VoiceProsody:
    """How a sentence is spoken.

    ``length_scale`` > 1 speaks slower; ``pitch_semitones`` raises (or lowers) the voice;
    ``volume`` is a gain on the normalised waveform; ``noise_w`` (Piper's phoneme-duration
    noise) makes delivery more (higher) or less even; ``sentence_gap_s`` is the silence
    after the sentence.
    """

    length_scale: float = 1.0
    pitch_semitones: float = 0.0
    volume: float = 1.0
    noise_w: float = 0.8
    sentence_gap_s: float = 0.25


@dataclass(frozen=True)
class Expression:
    """What one emotion at one intensity does to the voice and to the face."""

    voice: VoiceProsody = VoiceProsody()
    face: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))


def _both(left_right: str, weight: float) -> dict[str, float]:
    """``"mouthSmile"`` -> ``{"mouthSmileLeft": w, "mouthSmileRight": w}``."""
    return {f"{left_right}Left": weight, f"{left_right}Right": weight}


BLENDSHAPES: tuple[str, ...] = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "eyeBlinkLeft", "eyeBlinkRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight", "jawOpen",
    "mouthFrownLeft", "mouthFrownRight", "mouthPressLeft", "mouthPressRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
)
"""The ARKit blendshapes that expressions use (a subset of ARKit's 52)."""

EMOTION_EXPRESSION: dict[Emotion, Expression] = {
    "neutral": Expression(),
    "joy": Expression(
        voice=VoiceProsody(length_scale=0.92, pitch_semitones=1.5, volume=1.0, noise_w=0.9,
                           sentence_gap_s=0.2),
        face={**_both("mouthSmile", 0.95), **_both("browOuterUp", 0.2),
              **_both("eyeSquint", 0.4), "jawOpen": 0.05},
    ),
    "sadness": Expression(
        voice=VoiceProsody(length_scale=1.18, pitch_semitones=-1.5, volume=0.75, noise_w=0.6,
                           sentence_gap_s=0.4),
        face={**_both("mouthFrown", 0.75), "browInnerUp": 0.85, **_both("eyeBlink", 0.45)},
    ),
    "anger": Expression(
        voice=VoiceProsody(length_scale=0.9, pitch_semitones=0.5, volume=1.0, noise_w=1.0,
                           sentence_gap_s=0.2),
        face={**_both("browDown", 0.95), **_both("eyeSquint", 0.35),
              **_both("mouthFrown", 0.35), **_both("mouthPress", 0.45)},
    ),
    "fear": Expression(
        voice=VoiceProsody(length_scale=0.95, pitch_semitones=2.0, volume=0.85, noise_w=1.0,
                           sentence_gap_s=0.25),
        face={**_both("browOuterUp", 0.55), "browInnerUp": 0.7, **_both("eyeWide", 0.85),
              **_both("mouthStretch", 0.5), "jawOpen": 0.12, **_both("mouthFrown", 0.2)},
    ),
    "surprise": Expression(
        voice=VoiceProsody(length_scale=0.94, pitch_semitones=2.0, volume=1.0, noise_w=0.9,
                           sentence_gap_s=0.25),
        face={**_both("browOuterUp", 1.0), "browInnerUp": 0.6, **_both("eyeWide", 0.95),
              "jawOpen": 0.3},
    ),
    "disgust": Expression(
        voice=VoiceProsody(length_scale=1.08, pitch_semitones=-0.5, volume=0.9, noise_w=0.7,
                           sentence_gap_s=0.3),
        face={**_both("mouthUpperUp", 0.75), **_both("browDown", 0.55),
              **_both("eyeSquint", 0.45), **_both("mouthFrown", 0.45),
              **_both("noseSneer", 0.8)},
    ),
}
"""Each emotion at full intensity. Blendshapes not listed are 0."""


def expression_for(emotion: Emotion | None, intensity: float) -> Expression:
    """The voice and face of ``emotion`` at ``intensity`` (0..1); ``None`` is neutral.

    Raises:
        ValueError: for an unknown emotion or an intensity outside 0..1.
    """
    if emotion is not None and emotion not in EMOTION_EXPRESSION:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {', '.join(EMOTIONS)}")
    if not 0.0 <= intensity <= 1.0:
        raise ValueError(f"intensity must be in 0..1, got {intensity}")
    neutral = EMOTION_EXPRESSION["neutral"]
    full = EMOTION_EXPRESSION[emotion or "neutral"]
    share = intensity ** INTENSITY_EXPONENT

    def mix(a: float, b: float) -> float:
        return round(a + (b - a) * share, 4)

    voice = VoiceProsody(**{f.name: mix(getattr(neutral.voice, f.name),
                                        getattr(full.voice, f.name))
                            for f in fields(VoiceProsody)})
    face = {name: mix(0.0, weight) for name, weight in full.face.items()}
    return Expression(voice=voice, face=MappingProxyType(face))


def voice_table() -> dict[str, object]:
    """Everything that decides how emotions sound, for keying cached voice tracks."""
    return {"exponent": INTENSITY_EXPONENT,
            "voices": {emotion: x.voice for emotion, x in EMOTION_EXPRESSION.items()}}


def face_table() -> dict[str, object]:
    """Everything that decides how emotions look, for keying cached renders."""
    return {"exponent": INTENSITY_EXPONENT,
            "faces": {emotion: dict(x.face) for emotion, x in EMOTION_EXPRESSION.items()}}
