"""Pydantic models that travel between pipeline steps.

Tasks pass these small models and storage keys, never media bytes. Times are in seconds
from the start of the voice track.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Emotion = Literal["neutral", "joy", "sadness", "anger", "fear", "surprise", "disgust"]
EMOTIONS: tuple[Emotion, ...] = (
    "neutral", "joy", "sadness", "anger", "fear", "surprise", "disgust",
)


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


class RenderSpec(_Frozen):
    aspect: Aspect = "9:16"
    resolution: Resolution = "720p"
    fps: int = Field(default=30, ge=1, le=120)
    avatar: str = "stock:aura"
    quality: Quality = "standard"
    """x264 effort: ``draft`` (fast, larger), ``standard`` (AURA_VIDEO__PRESET/CRF),
    ``high`` (slower, smaller and cleaner)."""
    captions: bool = False
    """Burn in captions from the voice's word timings."""

    @property
    def size_px(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        short = _SHORT_SIDE_PX[self.resolution]
        long = short * 16 // 9
        return {"9:16": (short, long), "16:9": (long, short), "1:1": (short, short)}[self.aspect]


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
