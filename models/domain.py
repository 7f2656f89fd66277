"""Pydantic models that travel between pipeline steps.

Tasks pass these small models and storage keys, never media bytes. Times are in seconds
from the start of the voice track.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Emotion = Literal["neutral", "joy", "sadness", "anger", "fear", "surprise", "disgust"]
EMOTIONS: tuple[Emotion, ...] = (
    "neutral", "joy", "sadness", "anger", "fear", "surprise", "disgust",
)


ONE_LINE_OF_TEXT = r"^[^\x00-\x1f\x7f]*$"
"""``pattern`` of fields that name things: no control characters (PostgreSQL text cannot
hold NUL, and names are shown on one line)."""
TEXT_WITHOUT_NUL = r"^[^\x00]*$"
"""``pattern`` of free text (scripts): any character but NUL, which PostgreSQL refuses."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Segment(_Frozen):
    """One piece of a script: a sentence to speak, or a pause.

    ``emotion`` is ``None`` for untagged speech until the emotion step fills it in.
    ``line`` is the 1-based script line it came from (for error messages).
    """

    kind: Literal["speech", "pause"] = "speech"
    text: str = ""
    emotion: Emotion | None = None
    intensity: float = Field(default=1.0, ge=0.0, le=1.0)
    pause_s: float = Field(default=0.0, ge=0.0)
    line: int = 0


class AnalyzedSentence(_Frozen):
    """One sentence of a script with its emotion, as reported to people.

    ``source`` is ``"tag"`` when the script's markup set the emotion and ``"auto"`` when
    the emotion provider chose it.
    """

    text: str
    emotion: Emotion
    intensity: float = Field(ge=0.0, le=1.0)
    source: Literal["tag", "auto"]
    line: int = 0


class Artifact(_Frozen):
    """Output of a step, stored under a content-addressed key.

    ``reused`` is true when the step found the artifact from an earlier run with the same
    inputs instead of producing it again.
    """

    reused: bool = False


class Phone(_Frozen):
    symbol: str
    start_s: float
    end_s: float


class Word(_Frozen):
    text: str
    start_s: float
    end_s: float


class SegmentSpan(_Frozen):
    """Where segment ``index`` (into the tagged segment list) sits in the voice track."""

    index: int
    start_s: float
    end_s: float


class VoiceChoice(_Frozen):
    """Which voice speaks a script: a catalogue voice or a person's recording, and the
    trickster effects applied to it, in order.

    ``effects`` hold :class:`tasks.voice.trickster.TricksterParams` fields;
    ``recording_key`` is the stored recording when ``tts`` is ``"recording"``.
    """

    name: str = "joe"
    tts: Literal["piper", "elevenlabs", "recording"] = "piper"
    effects: list[dict[str, Any]] = []
    recording_key: str | None = None


class VoiceTrack(Artifact):
    audio_key: str
    sample_rate_hz: int
    duration_s: float
    voice: str
    phones: list[Phone] = []
    words: list[Word] = []
    spans: list[SegmentSpan] = []


class VisemeTrack(Artifact):
    """Per-frame mouth-shape weights, stored as an ``.npz`` under ``key``.

    The file holds ``weights``: float32 array of shape ``(n_frames, len(visemes))``.
    """

    key: str
    fps: int
    n_frames: int
    visemes: list[str]


Aspect = Literal["9:16", "16:9", "1:1"]
Resolution = Literal["720p", "1080p", "4k", "8k"]
Quality = Literal["draft", "standard", "high"]

_SHORT_SIDE_PX: dict[str, int] = {"720p": 720, "1080p": 1080, "4k": 2160, "8k": 4320}
BACKGROUND_IMAGE_PREFIX = "image:"
_HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


def check_background(value: str | None) -> str | None:
    """A background setting, normalised (a colour as lower-case ``#rrggbb``), or None.

    Raises:
        ValueError: neither a colour nor ``image:KEY`` (the message says what is accepted).
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    if _HEX_COLOUR.fullmatch(value):
        digits = value[1:] if len(value) == 7 else "".join(c * 2 for c in value[1:])
        return "#" + digits.lower()
    if value.startswith(BACKGROUND_IMAGE_PREFIX):
        from core.storage import InvalidKeyError, validate_key

        try:
            return BACKGROUND_IMAGE_PREFIX + validate_key(value.removeprefix(
                BACKGROUND_IMAGE_PREFIX))
        except InvalidKeyError as exc:
            raise ValueError(f"background picture: {exc}") from None
    raise ValueError(f"background {value!r} is neither a colour like '#1e90ff' nor "
                     "'image:KEY' (a stored picture)")


class RenderSpec(_Frozen):
    aspect: Aspect = "9:16"
    resolution: Resolution = "720p"
    fps: int = Field(default=30, ge=1, le=120)
    avatar: str = Field(default="stock:aura", min_length=1, max_length=64,
                        pattern=ONE_LINE_OF_TEXT)
    quality: Quality = "standard"
    """x264 effort: ``draft`` (fast, larger), ``standard`` (AURA_VIDEO__PRESET/CRF),
    ``high`` (slower, smaller and cleaner)."""
    captions: bool = False
    """Burn in captions from the voice's word timings."""
    background: str | None = None
    """None keeps the avatar's own (the photo's surroundings, the stock look's backdrop);
    a colour ``#rrggbb``; or ``image:KEY``, a stored picture fitted to cover the frame."""

    @field_validator("background")
    @classmethod
    def _known_background(cls, value: str | None) -> str | None:
        return check_background(value)

    @property
    def size_px(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        short = _SHORT_SIDE_PX[self.resolution]
        long = short * 16 // 9
        return {"9:16": (short, long), "16:9": (long, short), "1:1": (short, short)}[self.aspect]


class ProjectSettings(RenderSpec):
    """What a project renders with: the video's settings, plus its voice and effect."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    voice: str | None = Field(default=None, max_length=1100, pattern=ONE_LINE_OF_TEXT)
    """A catalogue voice (``aura voices``), ``recording:KEY`` for a stored recording, or
    None for the default voice."""
    effect: str | None = Field(default=None, max_length=200, pattern=ONE_LINE_OF_TEXT)
    """A trickster preset applied on top of the voice."""

    def render_spec(self) -> RenderSpec:
        return RenderSpec(**self.model_dump(exclude={"voice", "effect"}))


class VideoArtifact(Artifact):
    key: str
    width: int
    height: int
    fps: int
    n_frames: int
    duration_s: float


class PublishedVideo(_Frozen):
    key: str
    url: str
    size_bytes: int


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"
