"""Script markup: the text a person writes, parsed into segments.

```
# a comment line
[joy] Hello everyone!            emotion for the following text, until the next tag
[sadness:0.6] A quieter line.    optional intensity 0..1 (default 1)
[pause 0.8]                      silence, in seconds ("0.8s" works too)
```

Text without a tag before it is left untagged (``emotion=None``) for the emotion provider.
Speech is split into sentences so that each sentence can get its own emotion.
"""

from __future__ import annotations

import difflib
import re

from core.errors import ScriptError
from models.domain import EMOTIONS, Segment

MAX_PAUSE_S = 10.0
MAX_SCRIPT_CHARS = 100_000

_TAG = re.compile(r"\[([^\[\]]*)\]")
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_EMOTION_TAG = re.compile(r"^\s*([A-Za-z]+)\s*(?::\s*(\S*))?\s*$")
_PAUSE_TAG = re.compile(r"^\s*pause\s*(.*?)\s*$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+")
_SPEAKABLE = re.compile(r"\w")


def parse_script(text: str) -> list[Segment]:
    """Parse script markup into speech and pause segments.

    Args:
        text: the whole script.

    Returns:
        Segments in order; speech segments hold one sentence each.

    Raises:
        ScriptError: with the line and column of the first problem (unknown emotion,
            intensity outside 0..1, a pause that is negative, too long or not a number,
            an unclosed bracket), or when the script has nothing to say.
    """
    if len(text) > MAX_SCRIPT_CHARS:
        raise ScriptError(
            f"the script is {len(text):,} characters long; the limit is {MAX_SCRIPT_CHARS:,}"
        )
    segments: list[Segment] = []
    emotion: str | None = None
    intensity = 1.0
    for line_no, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        pos = 0
        for match in _TAG.finditer(line):
            _check_brackets(line, pos, match.start(), line_no)
            _add_speech(segments, line[pos : match.start()], emotion, intensity, line_no)
            column = match.start() + 1
            body = match.group(1)
            pause = _PAUSE_TAG.match(body)
            if pause:
                segments.append(
                    Segment(
                        kind="pause",
                        pause_s=_parse_pause(pause.group(1), line_no, column),
                        line=line_no,
                    )
                )
            else:
                emotion, intensity = _parse_emotion(body, line_no, column)
            pos = match.end()
        _check_brackets(line, pos, len(line), line_no)
        _add_speech(segments, line[pos:], emotion, intensity, line_no)
    if not any(s.kind == "speech" for s in segments):
        raise ScriptError("the script has no text to speak")
    return _merge_pauses(segments)


def _check_brackets(line: str, start: int, end: int, line_no: int) -> None:
    """Refuse a '[' or ']' in text between tags: a tag that was not closed or opened."""
    piece = line[start:end]
    bad = min((i for i in (piece.find("["), piece.find("]")) if i >= 0), default=-1)
    if bad >= 0:
        what = "an unclosed '['" if piece[bad] == "[" else "a ']' without '['"
        raise ScriptError(f"{what} (write tags like [joy] or [pause 0.5])",
                          line_no, start + bad + 1)


def _parse_emotion(body: str, line: int, column: int) -> tuple[str, float]:
    match = _EMOTION_TAG.match(body)
    name = (match.group(1) if match else body.strip()).lower()
    if not match or name not in EMOTIONS:
        hint = _suggest(name)
        raise ScriptError(
            f"unknown tag [{body}]: {f'did you mean [{hint}]? ' if hint else ''}"
            f"use one of {', '.join(EMOTIONS)}, "
            "optionally with an intensity like [joy:0.5], or [pause 0.8]",
            line, column,
        )
    raw = match.group(2)
    if raw is None:
        return name, 1.0
    if not re.fullmatch(_NUMBER, raw or ""):
        raise ScriptError(f"intensity {raw!r} in [{body}] is not a number between 0 and 1",
                          line, column)
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise ScriptError(f"intensity {raw} in [{body}] is outside 0..1", line, column)
    return name, abs(value)  # abs: "-0" is 0


# Words people write for an emotion, -> the tag they mean.
_SYNONYMS = {
    "happy": "joy", "happiness": "joy", "glad": "joy", "excited": "joy", "sad": "sadness",
    "angry": "anger", "mad": "anger", "furious": "anger", "afraid": "fear", "scared": "fear",
    "fearful": "fear", "surprised": "surprise", "shocked": "surprise",
    "disgusted": "disgust", "calm": "neutral", "normal": "neutral", "none": "neutral",
}


def _suggest(name: str) -> str | None:
    name = (name.split() or [""])[0]
    if name in _SYNONYMS:
        return _SYNONYMS[name]
    close = difflib.get_close_matches(name, (*EMOTIONS, "pause"), n=1, cutoff=0.6)
    return close[0] if close else None


def _parse_pause(raw: str, line: int, column: int) -> float:
    raw = raw.removesuffix("s").rstrip() if re.fullmatch(_NUMBER + r"\s*s", raw) else raw
    if not re.fullmatch(_NUMBER, raw):
        raise ScriptError(f"pause length {raw!r} is not a number of seconds "
                          "(write [pause 0.8])", line, column)
    seconds = float(raw)
    if seconds < 0:
        raise ScriptError(f"pause of {raw} s is negative", line, column)
    if seconds > MAX_PAUSE_S:
        raise ScriptError(f"pause of {raw} s is longer than the {MAX_PAUSE_S:g} s limit",
                          line, column)
    return seconds


def split_sentences(text: str) -> list[str]:
    """Split running text into sentences at ., ! and ? (keeping the punctuation)."""
    return [part.strip() for part in _SENTENCE_END.split(text.strip()) if part.strip()]


def _add_speech(segments: list[Segment], text: str, emotion: str | None, intensity: float,
                line: int) -> None:
    for sentence in split_sentences(" ".join(text.split())):
        if not _SPEAKABLE.search(sentence):
            continue
        previous = segments[-1] if segments else None
        # A sentence that runs over a line break continues the previous segment.
        if (previous is not None and previous.kind == "speech"
                and previous.emotion == emotion and previous.intensity == intensity
                and not previous.text.rstrip("\"')]").endswith((".", "!", "?", "…"))):
            segments[-1] = previous.model_copy(update={"text": f"{previous.text} {sentence}"})
            continue
        segments.append(Segment(text=sentence, emotion=emotion, intensity=intensity, line=line))


def _merge_pauses(segments: list[Segment]) -> list[Segment]:
    merged: list[Segment] = []
    for segment in segments:
        if segment.kind == "pause" and merged and merged[-1].kind == "pause":
            total = merged[-1].pause_s + segment.pause_s
            merged[-1] = merged[-1].model_copy(update={"pause_s": total})
        elif not (segment.kind == "pause" and segment.pause_s == 0):
            merged.append(segment)
    return merged
