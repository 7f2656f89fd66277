"""A word-level Naive Bayes emotion classifier, trained at first use on our own sentences.

The lexicons (tasks/emotion/lexicon.py) know what words mean; they do not know how people
write a scene that carries an emotion without naming it ("she kept staring at the empty
chair"). This classifier learns that from :data:`TRAINING_DATA`: labelled sentences
written for AuraStudio (everyday life, presenters and business, storytelling), shipped with
the package. Training is counting, so it happens in memory on first use (~50 ms); nothing
is downloaded and no weights file can go stale.

Features are lower-cased words and word pairs; words after a negation (up to the end of
the clause) are marked ``not_``, so "not happy" and "happy" are different features.
Multinomial Naive Bayes with add-``alpha`` smoothing gives a probability per emotion.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from models.domain import EMOTIONS, Emotion
from tasks.emotion.cues import NEGATIONS

TRAINING_DATA = ("tasks.emotion.data", "sentences.jsonl")
"""Package and file name of the training sentences (JSON lines: text, emotion)."""
ALPHA = 0.5
"""Add-alpha smoothing of the word counts."""

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|[!?]")
_CLAUSE_END = re.compile(r"[.,;:!?]")


def features(text: str) -> list[str]:
    """Words (negation-marked) and adjacent word pairs of one sentence."""
    words: list[str] = []
    for clause in _CLAUSE_END.split(text.lower().replace("’", "'")):
        negated = False
        for token in _TOKEN.findall(clause):
            if token in NEGATIONS or token.endswith("n't"):
                negated = True
                words.append(token)
                continue
            words.append(f"not_{token}" if negated else token)
    words += [f"{c}_mark" for c in "!?" if c in text]
    return words + [f"{a}|{b}" for a, b in zip(words, words[1:], strict=False)]


@dataclass(frozen=True)
class NaiveBayes:
    """Log-probabilities learnt from labelled sentences."""

    log_prior: np.ndarray
    log_likelihood: dict[str, np.ndarray]
    log_unseen: np.ndarray

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[str], alpha: float = ALPHA,
              ) -> NaiveBayes:
        """Count features per emotion and smooth them."""
        if len(texts) != len(labels) or not texts:
            raise ValueError("need as many labels as texts, and at least one of each")
        index = {emotion: i for i, emotion in enumerate(EMOTIONS)}
        counts: dict[str, np.ndarray] = {}
        totals = np.zeros(len(EMOTIONS))
        for text, label in zip(texts, labels, strict=True):
            for feature, n in Counter(features(text)).items():
                counts.setdefault(feature, np.zeros(len(EMOTIONS)))[index[label]] += n
                totals[index[label]] += n
        class_counts = np.array([sum(label == e for label in labels) for e in EMOTIONS])
        denominator = totals + alpha * len(counts)
        return cls(
            log_prior=np.log((class_counts + 1) / (class_counts.sum() + len(EMOTIONS))),
            log_likelihood={f: np.log((c + alpha) / denominator) for f, c in counts.items()},
            log_unseen=np.log(alpha / denominator),
        )

    def probabilities(self, text: str) -> np.ndarray:
        """P(emotion | text) in the order of ``models.domain.EMOTIONS``.

        Features never seen in training are skipped (they say nothing about any emotion).
        """
        scores = self.log_prior.copy()
        for feature in features(text):
            row = self.log_likelihood.get(feature)
            if row is not None:
                scores += row
        scores -= scores.max()
        p = np.exp(scores)
        return p / p.sum()

    def predict(self, text: str) -> Emotion:
        return EMOTIONS[int(np.argmax(self.probabilities(text)))]


def read_labelled(lines: Iterable[str]) -> tuple[list[str], list[str]]:
    """Texts and labels from JSON lines ``{"text": ..., "emotion": ...}``."""
    texts, labels = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("emotion") not in EMOTIONS or not isinstance(row.get("text"), str):
            raise ValueError(f"line {number}: need a text and one of {', '.join(EMOTIONS)}")
        texts.append(row["text"])
        labels.append(row["emotion"])
    return texts, labels


@cache
def shipped_model() -> NaiveBayes:
    """The classifier trained on the sentences that ship with AuraStudio (cached)."""
    package, name = TRAINING_DATA
    text = resources.files(package).joinpath(name).read_text("utf-8")
    return NaiveBayes.train(*read_labelled(text.splitlines()))

