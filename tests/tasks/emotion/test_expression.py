"""What emotion drives: one table for the voice and the face, eased by intensity."""

from __future__ import annotations

import dataclasses

import pytest

from models.domain import EMOTIONS
from tasks.emotion.expression import (
    BLENDSHAPES,
    EMOTION_EXPRESSION,
    Expression,
    VoiceProsody,
    expression_for,
    face_table,
    voice_table,
)


def test_every_emotion_has_a_voice_and_a_face_in_range():
    assert set(EMOTION_EXPRESSION) == set(EMOTIONS)
    for emotion, expression in EMOTION_EXPRESSION.items():
        assert set(expression.face) <= set(BLENDSHAPES), emotion
        assert all(0.0 <= w <= 1.0 for w in expression.face.values()), emotion
        voice = expression.voice
        assert 0.7 <= voice.length_scale <= 1.4 and -3 <= voice.pitch_semitones <= 3, emotion
        assert 0.5 <= voice.volume <= 1.0 and voice.sentence_gap_s >= 0, emotion


def test_zero_intensity_and_no_emotion_are_neutral():
    neutral = expression_for("neutral", 1.0)
    assert neutral == Expression()
    assert expression_for(None, 1.0) == neutral
    zero = expression_for("anger", 0.0)
    assert zero.voice == VoiceProsody() and not any(zero.face.values())


def test_full_intensity_is_the_table_row():
    assert expression_for("joy", 1.0).voice == EMOTION_EXPRESSION["joy"].voice
    assert dict(expression_for("joy", 1.0).face) == dict(EMOTION_EXPRESSION["joy"].face)


def test_effects_grow_with_intensity_and_mild_ones_are_eased_in():
    low, mid, high = (expression_for("sadness", i) for i in (0.3, 0.6, 1.0))
    assert low.voice.length_scale < mid.voice.length_scale < high.voice.length_scale
    assert low.voice.pitch_semitones > mid.voice.pitch_semitones > high.voice.pitch_semitones
    assert low.face["browInnerUp"] < mid.face["browInnerUp"] < high.face["browInnerUp"]
    # Eased: a mild emotion shows more than its share of the full effect.
    assert low.face["browInnerUp"] > 0.3 * high.face["browInnerUp"]


def test_moods_differ_where_people_expect():
    sad, angry, joyful = (expression_for(e, 1.0) for e in ("sadness", "anger", "joy"))
    assert sad.voice.length_scale > angry.voice.length_scale
    assert sad.voice.volume < angry.voice.volume
    assert joyful.voice.pitch_semitones > sad.voice.pitch_semitones
    assert joyful.face["mouthSmileLeft"] > 0.5 and sad.face["mouthFrownLeft"] > 0.5


@pytest.mark.parametrize(("emotion", "intensity", "message"), [
    ("happy", 1.0, "unknown emotion 'happy'"), ("joy", 1.5, "intensity must be in 0..1")])
def test_bad_arguments_are_refused(emotion, intensity, message):
    with pytest.raises(ValueError, match=message):
        expression_for(emotion, intensity)


def test_cached_voices_and_renders_are_redone_only_when_their_half_of_the_table_changes(
        monkeypatch):
    from core.storage import content_key

    def keys() -> tuple[str, str]:
        return content_key("voice", voice_table()), content_key("render", face_table())

    voice_0, face_0 = keys()
    anger = EMOTION_EXPRESSION["anger"]
    monkeypatch.setitem(EMOTION_EXPRESSION, "anger",
                        dataclasses.replace(anger, voice=VoiceProsody(volume=0.5)))
    voice_1, face_1 = keys()
    assert voice_1 != voice_0 and face_1 == face_0
    monkeypatch.setitem(EMOTION_EXPRESSION, "anger",
                        dataclasses.replace(anger, face={"jawOpen": 0.2}))
    voice_2, face_2 = keys()
    assert voice_2 == voice_0 and face_2 != face_0
