"""What every voice provider returns for one sentence, and how sentences become a track.

Providers speak one segment at a time (:class:`Utterance`: samples plus phone and word
timings relative to its start); :func:`assemble_track` asks for the utterances one by one,
lays them and the pauses end to end on one timeline and streams them into a single mono
WAV file, so memory does not grow with the length of the script.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from models.domain import Phone, Segment, SegmentSpan, Word


@dataclass
class Utterance:
    """One spoken segment.

    ``samples``: float32 mono waveform in [-1, 1], shape (n_samples,).
    Phone and word times are in seconds from the start of ``samples``.
    """

    samples: np.ndarray
    sample_rate_hz: int
    phones: list[Phone] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)
    gap_after_s: float = 0.0

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz


@dataclass
class AssembledTrack:
    duration_s: float
    sample_rate_hz: int
    phones: list[Phone]
    words: list[Word]
    spans: list[SegmentSpan]


def _shift(items: list, offset_s: float) -> list:
    return [item.model_copy(update={"start_s": round(item.start_s + offset_s, 5),
                                    "end_s": round(item.end_s + offset_s, 5)})
            for item in items]


def assemble_track(segments: list[Segment], speak: Callable[[Segment], Utterance],
                   sample_rate_hz: int, out_path: Path) -> AssembledTrack:
    """Speak the segments in order and write them, with the pauses, to a 16-bit mono WAV.

    Args:
        segments: the tagged script segments.
        speak: the provider's function that speaks one speech segment.
        sample_rate_hz: the sample rate every utterance uses.
        out_path: where the WAV goes.
    """
    phones: list[Phone] = []
    words: list[Word] = []
    spans: list[SegmentSpan] = []
    offset = 0
    with sf.SoundFile(out_path, "w", samplerate=sample_rate_hz, channels=1,
                      subtype="PCM_16", format="WAV") as wav:
        for index, segment in enumerate(segments):
            start = offset
            if segment.kind == "pause":
                n_silence = round(segment.pause_s * sample_rate_hz)
                wav.write(np.zeros(n_silence, dtype=np.float32))
                offset += n_silence
            else:
                spoken = speak(segment)
                if spoken.sample_rate_hz != sample_rate_hz:
                    raise ValueError(f"utterance {index} is at {spoken.sample_rate_hz} Hz, "
                                     f"the track at {sample_rate_hz} Hz")
                wav.write(spoken.samples)
                phones += _shift(spoken.phones, offset / sample_rate_hz)
                words += _shift(spoken.words, offset / sample_rate_hz)
                n_gap = round(spoken.gap_after_s * sample_rate_hz)
                wav.write(np.zeros(n_gap, dtype=np.float32))
                offset += len(spoken.samples) + n_gap
            spans.append(SegmentSpan(index=index, start_s=start / sample_rate_hz,
                                     end_s=offset / sample_rate_hz))
    return AssembledTrack(duration_s=offset / sample_rate_hz, sample_rate_hz=sample_rate_hz,
                          phones=phones, words=words, spans=spans)


def spans_by_text_length(segments: list[Segment], duration_s: float) -> list[SegmentSpan]:
    """Spread the speech segments over ``duration_s`` in proportion to their text length.

    For a recording, whose words were not timed: each sentence's emotion then shows on
    the face for about the time it takes to say it. Pauses get no span of their own.
    """
    speech = [(i, len(s.text)) for i, s in enumerate(segments) if s.kind == "speech"]
    total = sum(length for _, length in speech) or 1
    spans, start = [], 0.0
    for index, length in speech:
        end = start + duration_s * length / total
        spans.append(SegmentSpan(index=index, start_s=round(start, 5), end_s=round(end, 5)))
        start = end
    return spans
