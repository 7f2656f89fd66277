"""Captions: short groups of spoken words, burned in while they are said."""

from __future__ import annotations

import numpy as np
import pytest

from models.domain import Segment, SegmentSpan, VoiceTrack, Word
from tasks.render.captions import (
    MAX_CAPTION_CHARS,
    caption_sprite,
    caption_words,
    group_words,
    with_captions,
)


def timed(*texts: str, gap_s: float = 0.05, length_s: float = 0.3) -> list[Word]:
    words, t = [], 0.0
    for text in texts:
        words.append(Word(text=text, start_s=t, end_s=t + length_s))
        t += length_s + gap_s
    return words


def test_captions_are_short_and_break_at_sentence_ends_and_pauses():
    first = timed("Hello", "everyone,", "welcome!", "Today", "we")
    after_a_pause = [Word(text=w.text, start_s=w.start_s + 3.0, end_s=w.end_s + 3.0)
                     for w in timed("build", "a", "bridge", "across", "the", "wide", "river.")]
    captions = group_words(first + after_a_pause)
    assert [c.text for c in captions] == ["Hello everyone, welcome!", "Today we",
                                          "build a bridge across the", "wide river."]
    assert all(len(c.text) <= MAX_CAPTION_CHARS for c in captions)
    assert all(a.end_s <= b.start_s for a, b in zip(captions, captions[1:], strict=False))


def test_words_named_by_their_sounds_are_replaced_by_the_sentences_words():
    segments = [Segment(text="Hi, AuraStudio rocks!", emotion="joy")]
    voice = VoiceTrack(audio_key="-", sample_rate_hz=22_050, duration_s=2.0, voice="joe",
                       words=[Word(text="Hi", start_s=0.0, end_s=0.3),
                              Word(text="/ɔːɹə/", start_s=0.3, end_s=1.0)],
                       spans=[SegmentSpan(index=0, start_s=0.0, end_s=2.0)])
    words = caption_words(segments, voice)
    assert [w.text for w in words] == ["Hi,", "AuraStudio", "rocks!"]
    assert words[0].start_s == 0.0 and words[-1].end_s == pytest.approx(2.0)


def test_a_caption_is_blended_in_while_spoken_and_the_frame_is_given_back_clean():
    background = np.full((640, 360, 3), 90, np.uint8)
    captions = group_words(timed("Hello", "there."))
    seen = []
    for frame in with_captions((background for _ in range(30)), captions, fps=30):
        seen.append(frame.copy())
    assert not np.array_equal(seen[3], background)  # captioned while "Hello there."
    assert np.array_equal(seen[-1], background)      # gone after it, nothing left behind
    assert np.array_equal(background, np.full((640, 360, 3), 90, np.uint8))
    sprite = caption_sprite("Hello there.", 360)
    assert sprite.shape[1] <= 0.9 * 360 + 2 and sprite.shape[2] == 4
