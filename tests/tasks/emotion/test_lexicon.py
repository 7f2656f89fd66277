"""The local lexicon tagger: tags untagged sentences, keeps tagged ones."""

from __future__ import annotations

import json

from models.domain import EMOTIONS, Segment
from tasks.emotion.lexicon import LexiconTagger, classify


def test_clear_cues_give_their_emotion():
    assert classify("I love this, what a wonderful day!")[0] == "joy"
    assert classify("Ugh, the milk smells rotten.")[0] == "disgust"
    assert classify("I am so afraid of the dark.")[0] == "fear"


def test_no_cues_is_neutral():
    assert classify("The meeting starts at nine.") == ("neutral", 1.0)


def test_tagged_segments_are_kept_and_untagged_ones_filled():
    segments = [Segment(text="I hate waiting!", emotion="joy", intensity=0.4),
                Segment(text="I hate waiting!"), Segment(kind="pause", pause_s=0.5)]
    tagged = LexiconTagger().tag(segments)
    assert (tagged[0].emotion, tagged[0].intensity) == ("joy", 0.4)
    assert tagged[1].emotion == "anger" and 0 < tagged[1].intensity <= 1
    assert tagged[2] == segments[2]


def test_it_beats_always_guessing_one_emotion_on_the_labelled_sentences(eval_dir):
    rows = [json.loads(line) for line in (eval_dir / "emotions.jsonl").open()]
    correct = sum(classify(row["text"])[0] == row["emotion"] for row in rows)
    majority = max(sum(row["emotion"] == e for row in rows) for e in EMOTIONS)
    # A floor, not a target: the emotion issue replaces this tagger with a stronger one.
    assert correct >= 3 * majority
