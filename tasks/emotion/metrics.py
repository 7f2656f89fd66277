"""How an emotion tagger is measured: per-emotion F1 and their unweighted mean."""

from __future__ import annotations

from collections.abc import Sequence

from models.domain import EMOTIONS


def f1_per_emotion(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    """F1 of each emotion that occurs in ``gold`` or ``predicted``."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    scores = {}
    for emotion in EMOTIONS:
        hits = sum(g == p == emotion for g, p in zip(gold, predicted, strict=True))
        claimed = sum(p == emotion for p in predicted)
        actual = sum(g == emotion for g in gold)
        if claimed or actual:
            scores[emotion] = 2 * hits / (claimed + actual)
    return scores


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Mean F1 over the emotions, each counting equally however rare it is."""
    scores = f1_per_emotion(gold, predicted)
    return sum(scores.values()) / len(scores) if scores else 0.0
