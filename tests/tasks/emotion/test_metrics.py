"""Macro-F1: every emotion counts equally, however many sentences it has."""

from __future__ import annotations

import pytest

from tasks.emotion.metrics import f1_per_emotion, macro_f1


def test_perfect_predictions_score_one():
    assert macro_f1(["joy", "fear", "joy"], ["joy", "fear", "joy"]) == 1.0


def test_each_emotion_counts_equally():
    gold = ["joy"] * 8 + ["fear"] * 2
    predicted = ["joy"] * 10  # every fear sentence missed
    per = f1_per_emotion(gold, predicted)
    assert per == {"joy": pytest.approx(16 / 18), "fear": 0.0}
    assert macro_f1(gold, predicted) == pytest.approx((16 / 18) / 2)


def test_lengths_must_match():
    with pytest.raises(ValueError, match="2 gold labels but 1 predictions"):
        macro_f1(["joy", "fear"], ["joy"])
