"""Burned-in captions from the voice's word timings, in the style of short social videos.

Words are grouped into short captions (a few words, at most :data:`MAX_CAPTION_S` and
:data:`MAX_CAPTION_CHARS`, breaking at sentence ends and long pauses). Each caption is
drawn once into an RGBA sprite (bold white text with a dark outline, DejaVu Sans Bold,
which matplotlib ships) and blended over the lower third of every frame it is spoken in.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from models.domain import Segment, VoiceTrack, Word

MAX_CAPTION_CHARS = 28
MAX_CAPTION_S = 2.2
PAUSE_BREAK_S = 0.35
"""A silence this long between two words starts a new caption."""
HOLD_S = 0.25
"""A caption stays this long after its last word (unless the next one starts)."""
TEXT_OF_WIDTH = 0.065
"""Text height as a share of the frame width."""
CENTRE_OF_HEIGHT = 0.78
"""Captions sit centred at this share of the frame height."""


@dataclass(frozen=True)
class Caption:
    text: str
    start_s: float
    end_s: float


_TEXT_WORD = re.compile(r"[\w'’-]+[.,!?;:…]*")


def caption_words(segments: Sequence[Segment], voice: VoiceTrack) -> list[Word]:
    """The words to caption, timed: the voice's own word timings where they name the text's
    words, otherwise the sentence's words spread over its time by their length (espeak
    sometimes joins or splits words, and recordings have no word timings at all)."""
    words: list[Word] = []
    for span in voice.spans:
        segment = segments[span.index]
        if segment.kind != "speech":
            continue
        tokens = _TEXT_WORD.findall(segment.text)
        timed = [w for w in voice.words if span.start_s - 1e-6 <= w.start_s < span.end_s
                 and not w.text.startswith("/")]
        if len(timed) == len(tokens):
            words += [Word(text=t, start_s=w.start_s, end_s=w.end_s)
                      for t, w in zip(tokens, timed, strict=True)]
            continue
        total = sum(len(t) for t in tokens) or 1
        start = span.start_s
        for token in tokens:
            end = start + (span.end_s - span.start_s) * len(token) / total
            words.append(Word(text=token, start_s=start, end_s=end))
            start = end
    return words


def group_words(words: Sequence[Word]) -> list[Caption]:
    """Short captions from timed words (IPA-named words, ``/.../``, are left out)."""
    spoken = [w for w in words if not w.text.startswith("/")]
    # A sentence end closes a caption too.
    captions: list[Caption] = []
    current: list[Word] = []

    def close() -> None:
        if current:
            captions.append(Caption(" ".join(w.text for w in current), current[0].start_s,
                                    current[-1].end_s))
            current.clear()

    for word in spoken:
        if current:
            text = " ".join(w.text for w in current) + " " + word.text
            if (len(text) > MAX_CAPTION_CHARS or word.end_s - current[0].start_s > MAX_CAPTION_S
                    or word.start_s - current[-1].end_s > PAUSE_BREAK_S
                    or current[-1].text.endswith((".", "!", "?", "…"))):
                close()
        current.append(word)
    close()
    # Hold each caption a little after its last word, but never over the next one.
    held = []
    for i, caption in enumerate(captions):
        limit = captions[i + 1].start_s if i + 1 < len(captions) else caption.end_s + HOLD_S
        held.append(Caption(caption.text, caption.start_s, min(caption.end_s + HOLD_S, limit)))
    return held


@cache
def _font(size_px: int) -> ImageFont.FreeTypeFont:
    import matplotlib

    path = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans-Bold.ttf")
    return ImageFont.truetype(path, size_px)


def caption_sprite(text: str, frame_width: int) -> np.ndarray:
    """RGBA uint8 sprite of one caption, at most 90% of the frame's width."""
    size = max(10, int(TEXT_OF_WIDTH * frame_width))
    font = _font(size)
    while font.getlength(text) > 0.9 * frame_width and size > 10:
        size = int(size * 0.9)
        font = _font(size)
    outline = max(2, size // 9)
    left, top, right, bottom = font.getbbox(text, stroke_width=outline)
    image = Image.new("RGBA", (right - left + 2, bottom - top + 2), (0, 0, 0, 0))
    ImageDraw.Draw(image).text((1 - left, 1 - top), text, font=font, fill=(255, 255, 255, 255),
                               stroke_width=outline, stroke_fill=(20, 20, 24, 235))
    return np.asarray(image)


def with_captions(frames: Iterable[np.ndarray], captions: Sequence[Caption], fps: int,
                  ) -> Iterator[np.ndarray]:
    """The frames with each caption blended in while it is spoken.

    Renderers reuse their frame buffer and redraw only what moves, so the pixels under a
    caption are put back after the frame has been taken.
    """
    sprites: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    upcoming = 0  # captions are in time order, and so are the frames
    for index, frame in enumerate(frames):
        t = index / fps
        while upcoming < len(captions) and captions[upcoming].end_s <= t:
            upcoming += 1
        active = (upcoming if upcoming < len(captions) and captions[upcoming].start_s <= t
                  else None)
        if active is None:
            yield frame
            continue
        height, width = frame.shape[:2]
        if active not in sprites:
            sprite = caption_sprite(captions[active].text, width).astype(np.float32)
            sprites[active] = (sprite[..., :3], sprite[..., 3:] / 255.0)
        rgb, alpha = sprites[active]
        h, w = alpha.shape[:2]
        y0 = int(CENTRE_OF_HEIGHT * height - h / 2)
        x0 = (width - w) // 2
        y0, x0 = max(0, min(y0, height - h)), max(0, x0)
        region = frame[y0:y0 + h, x0:x0 + w]
        saved = region.copy()
        region[:] = (region * (1 - alpha) + rgb * alpha).astype(np.uint8)
        yield frame
        frame[y0:y0 + h, x0:x0 + w] = saved
