"""The local emotion provider: lexicons, rules, a word classifier and context, offline.

Each sentence is scored for the six non-neutral emotions from five kinds of evidence:

1. **Words.** Hand-written cue words and idioms (tasks/emotion/cues.py) weigh most; any
   other word found in the NRC emotion lexicon (shipped by ``nrclex``) adds weight to the
   emotions the lexicon ties it to, split between them, and less when VADER's valence
   lexicon does not consider the word affective at all (NRC ties "white" to joy).
2. **Rules.** An intensifier before an emotion word ("so", "absolutely") scales it; a
   negation within three words ("not happy", "never afraid") cancels it, and a negated
   joy word counts as a little sadness. Exclamation marks raise the high-arousal
   emotions; a question that already shows surprise leans further to surprise.
3. **Valence.** VADER's compound score (which handles negation, boosters and capitals
   itself) adds to joy when the sentence is clearly positive and strengthens the negative
   emotions it already shows when it is clearly negative.
4. **Context.** A sentence also takes in a share of its neighbours' evidence, so a short
   "Gross." after a sentence about a worm in a salad reads as disgust.
5. **Learned words.** A Naive Bayes classifier trained on our own labelled sentences
   (tasks/emotion/bayes.py) adds its probability of each emotion, neutral included: it
   catches scenes that carry an emotion without naming it.

Neutral competes with a fixed score (:data:`NEUTRAL_BELOW`) plus the classifier's
neutral probability, so a sentence with too little evidence for any emotion is neutral.
Intensity grows with the evidence, the valence strength and the exclamation marks.
Explicitly tagged sentences are never changed; they serve as context for their
neighbours.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

import numpy as np

from models.domain import EMOTIONS, Emotion, Segment
from tasks.emotion.bayes import shipped_model
from tasks.emotion.cues import (
    CUE_WEIGHT,
    CUE_WORDS,
    IDIOMS,
    INTENSIFIERS,
    NEGATION_SCOPE,
    NEGATIONS,
    WEAK_CUE_WEIGHT,
    WEAK_CUES,
)

FEELINGS: tuple[Emotion, ...] = ("joy", "sadness", "anger", "fear", "surprise", "disgust")
"""The emotions that are scored; neutral is what remains when none has enough evidence."""
_INDEX = {emotion: i for i, emotion in enumerate(FEELINGS)}
_NEGATIVE = np.array([e in ("sadness", "anger", "fear", "disgust") for e in FEELINGS])
_AROUSED = np.array([e in ("joy", "anger", "surprise", "fear") for e in FEELINGS])

NEUTRAL_BELOW = 0.8
"""Neutral's score: a sentence whose best emotion scores less than this is neutral."""
LEARNED_WEIGHT = 2.0
"""Weight of the word classifier's probabilities against the lexicon evidence (a sure
classifier counts as much as one named emotion word)."""
CONTEXT_WEIGHT = 0.3
"""Share of each neighbouring sentence's evidence that a sentence takes in. Only sentences
that show some feeling of their own (an emotion word, '!', '?' or a clear valence) take
it in: a plain statement next to an excited one stays neutral."""
NRC_WEIGHT = 1.0
"""Weight of an NRC word tied to one emotion (split over all the emotions it is tied to)."""
NRC_UNAFFECTIVE_FACTOR = 0.35
"""Factor on NRC evidence for words that VADER's lexicon does not list as affective."""
NEGATED_JOY_TO_SADNESS = 0.5
"""A negated joy word ("not happy") counts this share of its weight as sadness."""
EXCLAMATION_GAIN = 0.25
"""Each '!' (up to three) raises the high-arousal emotions by this factor."""
VALENCE_WEIGHT = 1.0
"""Joy evidence added per unit of positive VADER compound score."""
NEGATIVE_VALENCE_GAIN = 0.5
"""Negative emotions already present grow by this factor per unit of negative compound."""

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|[!?.,;:]")
_CLAUSE_END = frozenset(".,;:!?")


@dataclass(frozen=True)
class Evidence:
    """Emotion evidence for one sentence: a score per :data:`FEELINGS` entry."""

    scores: np.ndarray
    valence: float
    exclamations: int
    questions: int = 0
    learned: np.ndarray | None = None
    """P(emotion) from the word classifier (tasks/emotion/bayes.py), EMOTIONS order."""

    @property
    def expressive(self) -> bool:
        """Whether the sentence shows any feeling of its own."""
        return bool(self.scores.max() > 0 or self.exclamations or self.questions
                    or abs(self.valence) >= 0.3)

    @property
    def best(self) -> tuple[Emotion, float]:
        """The emotion with the most evidence, neutral included, and its score."""
        combined = np.concatenate([[NEUTRAL_BELOW], self.scores])
        if self.learned is not None:
            combined = combined + LEARNED_WEIGHT * self.learned
        i = int(np.argmax(combined))
        return EMOTIONS[i], float(combined[i])


def classify(text: str) -> tuple[Emotion, float]:
    """The most likely emotion of one piece of text (no context) and its intensity 0..1."""
    return decide(score_sentence(text))


def score_sentence(text: str) -> Evidence:
    """Emotion evidence for one sentence, before context."""
    lowered = _normalise(text)
    tokens = _WORD.findall(lowered)
    scores = np.zeros(len(FEELINGS))
    negated_until = -1
    for i, token in enumerate(tokens):
        if token in _CLAUSE_END:
            negated_until = -1
            continue
        if token in NEGATIONS or token.endswith("n't"):
            negated_until = i + NEGATION_SCOPE
            continue
        weights = _word_evidence(token)
        if weights is None:
            continue
        weights = weights * _intensifier_factor(tokens, i)
        if i <= negated_until:
            weights = _negate(weights)
        scores += weights
    scores += _phrase_evidence(lowered)

    exclamations = min(lowered.count("!"), 3)
    if exclamations:
        scores[_AROUSED] *= 1.0 + EXCLAMATION_GAIN * exclamations
    if "?" in lowered and scores[_INDEX["surprise"]] > 0:
        scores[_INDEX["surprise"]] += 0.5 * CUE_WEIGHT / 2
    valence = _vader().polarity_scores(text)["compound"]
    if valence >= 0.3:
        scores[_INDEX["joy"]] += VALENCE_WEIGHT * valence
    elif valence <= -0.3:
        scores[_NEGATIVE] *= 1.0 + NEGATIVE_VALENCE_GAIN * -valence
    return Evidence(scores=scores, valence=valence, exclamations=exclamations,
                    questions=lowered.count("?"), learned=shipped_model().probabilities(text))


def decide(evidence: Evidence) -> tuple[Emotion, float]:
    """The emotion and intensity that a sentence's (context-mixed) evidence supports."""
    emotion, score = evidence.best
    if emotion == "neutral":
        return "neutral", 1.0
    intensity = (0.3 + 0.45 * (1.0 - math.exp(-score / 3.0)) + 0.15 * abs(evidence.valence)
                 + 0.05 * evidence.exclamations)
    return emotion, round(min(1.0, intensity), 2)


def with_context(evidence: Sequence[Evidence]) -> list[Evidence]:
    """Each sentence's evidence plus :data:`CONTEXT_WEIGHT` of its neighbours'.

    Lexicon scores add up; the classifier's probabilities are averaged with the same
    weights, so that a neighbour's emotion word and a neighbour's scene both count.
    """
    mixed = []
    for i, own in enumerate(evidence):
        neighbours = [evidence[j] for j in (i - 1, i + 1)
                      if own.expressive and 0 <= j < len(evidence)]
        scores = own.scores + CONTEXT_WEIGHT * sum((n.scores for n in neighbours),
                                                   np.zeros(len(FEELINGS)))
        learned = own.learned
        with_learned = [n.learned for n in neighbours if n.learned is not None]
        if learned is not None and with_learned:
            learned = (learned + CONTEXT_WEIGHT * sum(with_learned)) / (
                1.0 + CONTEXT_WEIGHT * len(with_learned))
        mixed.append(dataclasses.replace(own, scores=scores, learned=learned))
    return mixed


class LexiconTagger:
    """Emotion provider that runs locally with no model and no network."""

    name = "lexicon"

    def tag(self, segments: list[Segment]) -> list[Segment]:
        """Fill in the emotion of untagged speech; tagged speech and pauses are kept."""
        speech = [i for i, s in enumerate(segments) if s.kind == "speech"]
        own = [_tagged_evidence(segments[i]) if segments[i].emotion is not None
               else score_sentence(segments[i].text) for i in speech]
        tagged = list(segments)
        for i, evidence in zip(speech, with_context(own), strict=True):
            if segments[i].emotion is None:
                emotion, intensity = decide(evidence)
                tagged[i] = segments[i].model_copy(
                    update={"emotion": emotion, "intensity": intensity})
        return tagged


def _tagged_evidence(segment: Segment) -> Evidence:
    scores = np.zeros(len(FEELINGS))
    if segment.emotion in _INDEX:
        scores[_INDEX[segment.emotion]] = CUE_WEIGHT * segment.intensity
    return Evidence(scores=scores, valence=0.0, exclamations=0)


def _normalise(text: str) -> str:
    return text.lower().replace("’", "'").replace("‘", "'")


def _intensifier_factor(tokens: list[str], i: int) -> float:
    factor = 1.0
    for j in (i - 1, i - 2):
        if j < 0 or tokens[j] in _CLAUSE_END:
            break
        factor *= INTENSIFIERS.get(tokens[j], 1.0)
    return factor


def _negate(weights: np.ndarray) -> np.ndarray:
    negated = np.zeros_like(weights)
    negated[_INDEX["sadness"]] = NEGATED_JOY_TO_SADNESS * weights[_INDEX["joy"]]
    return negated


@lru_cache(maxsize=65_536)
def _word_evidence(word: str) -> np.ndarray | None:
    """Evidence that one word carries, or None; cue words outweigh the NRC lexicon."""
    cues, nrc, affective = _cue_words(), _nrc(), _vader().lexicon
    for form in _base_forms(word):
        if form in cues:
            return cues[form]
    for form in _base_forms(word):
        emotions = nrc.get(form)
        if emotions:
            weights = np.zeros(len(FEELINGS))
            for emotion in emotions:
                weights[_INDEX[emotion]] = NRC_WEIGHT / len(emotions)
            if abs(affective.get(form, affective.get(word, 0.0))) < 0.5:
                weights *= NRC_UNAFFECTIVE_FACTOR
            return weights
    return None


def _base_forms(word: str) -> list[str]:
    """The word and the base forms it may be an inflection of, most likely first."""
    word = word.replace("'", "")
    forms = [word]
    for suffix, replacements in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            forms.extend(stem + r for r in replacements)
            if suffix in ("ed", "ing") and len(stem) >= 2 and stem[-1] == stem[-2]:
                forms.append(stem[:-1])  # stopped -> stop
    return forms


_SUFFIXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ies", ("y",)), ("ied", ("y",)), ("ily", ("y",)), ("iness", ("y",)),
    ("ness", ("",)), ("ment", ("",)), ("fully", ("ful",)), ("ly", ("",)), ("ing", ("", "e")),
    ("ed", ("", "e")), ("es", ("", "e")), ("s", ("",)), ("d", ("",)),
)


@cache
def _cue_words() -> dict[str, np.ndarray]:
    words: dict[str, np.ndarray] = {}
    for emotion, cues in CUE_WORDS.items():
        for cue in cues:
            if " " not in cue:
                weights = words.setdefault(cue.replace("'", ""), np.zeros(len(FEELINGS)))
                weights[_INDEX[emotion]] = WEAK_CUE_WEIGHT if cue in WEAK_CUES else CUE_WEIGHT
    return words


@cache
def _phrase_patterns() -> list[tuple[re.Pattern[str], int]]:
    patterns = []
    for emotion in FEELINGS:
        phrases = [re.escape(c) for c in CUE_WORDS.get(emotion, ()) if " " in c]
        phrases += IDIOMS.get(emotion, ())
        if phrases:
            alternatives = "|".join(f"(?:{p})" for p in phrases)
            patterns.append((re.compile(rf"(?<![a-z'])(?:{alternatives})(?![a-z])"),
                             _INDEX[emotion]))
    return patterns


def _phrase_evidence(lowered: str) -> np.ndarray:
    scores = np.zeros(len(FEELINGS))
    for pattern, index in _phrase_patterns():
        scores[index] += CUE_WEIGHT * len(pattern.findall(lowered))
    return scores


@cache
def _nrc() -> dict[str, tuple[str, ...]]:
    """The NRC emotion lexicon from the nrclex package: word -> the scored emotions."""
    data = resources.files("nrclex.data").joinpath("nrc_en.json").read_text("utf-8")
    lexicon: dict[str, tuple[str, ...]] = {}
    for word, labels in json.loads(data).items():
        emotions = tuple(label for label in labels if label in _INDEX)
        if emotions:
            lexicon[word] = emotions
    return lexicon


@cache
def _vader():  # noqa: ANN202 (vaderSentiment has no type hints)
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()
