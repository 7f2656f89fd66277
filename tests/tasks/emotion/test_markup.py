"""Script markup: tags, intensities, pauses, sentences, and errors with line and column."""

from __future__ import annotations

import pytest

from core.errors import ScriptError
from tasks.emotion.markup import MAX_SCRIPT_CHARS, parse_script, split_sentences


def test_a_tag_sets_the_emotion_until_the_next_tag():
    segments = parse_script("[joy] Hello everyone! Nice to see you.\nStill happy.\n"
                            "[sadness:0.6] A quieter line.")
    assert [(s.text, s.emotion, s.intensity) for s in segments] == [
        ("Hello everyone!", "joy", 1.0),
        ("Nice to see you.", "joy", 1.0),
        ("Still happy.", "joy", 1.0),
        ("A quieter line.", "sadness", 0.6),
    ]


def test_untagged_text_is_left_for_the_emotion_provider():
    (segment,) = parse_script("No tag here.")
    assert segment.emotion is None and segment.kind == "speech"


def test_comments_are_ignored_and_lines_are_remembered():
    segments = parse_script("# a comment\n\n[neutral] First.\n# another\nSecond.")
    assert [(s.text, s.line) for s in segments] == [("First.", 3), ("Second.", 5)]


def test_pauses_become_silence_segments_and_neighbours_merge():
    segments = parse_script("One. [pause 0.8]\n[pause 0.2] Two.")
    assert [(s.kind, s.pause_s) for s in segments] == [
        ("speech", 0.0), ("pause", pytest.approx(1.0)), ("speech", 0.0)]


def test_a_sentence_broken_over_lines_stays_one_sentence():
    (segment,) = parse_script("[joy] This sentence goes\non and on.")
    assert segment.text == "This sentence goes on and on."


def test_sentences_split_at_end_punctuation():
    assert split_sentences("Wait, what? Yes! It works. Done") == [
        "Wait, what?", "Yes!", "It works.", "Done"]


@pytest.mark.parametrize(("script", "message", "line", "column"), [
    ("[happy] Hi.", "unknown tag [happy]", 1, 1),
    ("Hi.\n  [joy:1.5] There.", "intensity 1.5 in [joy:1.5] is outside 0..1", 2, 3),
    ("[joy:lots] Hi.", "intensity 'lots' in [joy:lots] is not a number", 1, 1),
    ("Hi. [pause -1]", "pause of -1 s is negative", 1, 5),
    ("Hi. [pause 60]", "pause of 60 s is longer than the 10 s limit", 1, 5),
    ("Hi. [pause soon]", "pause length 'soon' is not a number of seconds", 1, 5),
    ("Hi [joy there.", "an unclosed '['", 1, 4),
    ("Hi ] there.", "a ']' without '['", 1, 4),
    ("Hi [there [joy] you.", "an unclosed '['", 1, 4),
    ("One.\nHi ] there [joy] you.", "a ']' without '['", 2, 4),
    ("[happy] Hi.", "did you mean [joy]?", 1, 1),
    ("[sadnes:0.5] Hi.", "did you mean [sadness]?", 1, 1),
    ("[paus 1] Hi.", "did you mean [pause]?", 1, 1),
])
def test_errors_name_the_problem_its_line_and_column(script, message, line, column):
    with pytest.raises(ScriptError) as caught:
        parse_script(script)
    assert message in str(caught.value)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert str(caught.value).startswith(f"line {line}, column {column}: ")


@pytest.mark.parametrize("script", ["", "   \n\n", "# only comments", "[joy] [pause 1]", "..."])
def test_a_script_with_nothing_to_say_is_refused(script):
    with pytest.raises(ScriptError, match="no text to speak"):
        parse_script(script)


def test_a_script_over_100000_characters_is_refused_before_parsing():
    assert MAX_SCRIPT_CHARS == 100_000
    longest = ("Hi there. " * 10_000)[:MAX_SCRIPT_CHARS]
    assert len(parse_script(longest)) == 10_000
    with pytest.raises(ScriptError, match="is 100,001 characters long; the limit is 100,000"):
        parse_script(longest + "!")


def test_pause_lengths_may_carry_a_unit():
    assert [s.pause_s for s in parse_script("A. [pause 0.5s] B. [pause 2 s] C.")
            if s.kind == "pause"] == [0.5, 2.0]
