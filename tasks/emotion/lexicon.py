"""The local emotion provider: a word lexicon plus a few punctuation rules.

A first, dependency-free tagger (the emotion issue replaces it with a stronger one). Each
emotion has cue words (matched on word stems); a sentence takes the emotion with the most
cue weight, boosted by exclamation marks; questions with astonishment words lean to
surprise. With no cues at all the sentence is neutral.
"""

from __future__ import annotations

import re

from models.domain import Emotion, Segment

# Cue stems per emotion; a stem matches any word that starts with it.
LEXICON: dict[str, tuple[str, ...]] = {
    "joy": (
        "happy", "happi", "glad", "joy", "delight", "love", "lovely", "wonderful", "great",
        "awesome", "amazing", "fantastic", "excit", "cheer", "smil", "laugh", "celebrat",
        "beautiful", "proud", "thank", "grateful", "enjoy", "fun", "brilliant", "perfect",
        "hooray", "yay", "welcome", "good day", "best", "win", "won",
    ),
    "sadness": (
        "sad", "sorrow", "cry", "cried", "tears", "lonely", "alone", "miss", "lost", "loss",
        "grief", "griev", "mourn", "heartbr", "devastat", "depress", "unhappy", "hard days",
        "forever", "funeral", "gone", "regret", "hopeless", "gloom", "died", "death",
        "slow down", "disappoint",
    ),
    "anger": (
        "angry", "anger", "furious", "rage", "hate", "unacceptable", "outrag", "demand",
        "sick of", "stop", "enough", "annoy", "irritat", "how dare", "ridiculous",
        "not good enough", "get out", "liar", "stupid", "idiot", "mad", "fed up", "shut up",
        "loudly",
    ),
    "fear": (
        "afraid", "scare", "scary", "fear", "terrif", "frighten", "panic", "nervous",
        "anxious", "worr", "danger", "dark", "storm", "shak", "trembl", "creep", "strange",
        "threat", "hid", "scream", "help", "watching", "alone in",
    ),
    "surprise": (
        "wow", "whoa", "surpris", "unexpected", "suddenly", "cannot believe", "can't believe",
        "no way", "really", "unbelievable", "astonish", "shock", "out of nowhere", "wait",
        "incredible", "what?", "never expected",
    ),
    "disgust": (
        "disgust", "gross", "ugh", "yuck", "eww", "revolting", "repuls", "rotten", "filth",
        "nasty", "vile", "sleazy", "greasy", "stink", "smell", "sour", "slime", "vomit",
        "nause", "makes me sick", "repel", "moldy", "mouldy",
    ),
}

_EXCLAMATION_BOOST = 0.5


def _cue_patterns() -> dict[str, re.Pattern[str]]:
    patterns = {}
    for emotion, stems in LEXICON.items():
        alternatives = "|".join(re.escape(stem) for stem in sorted(stems, key=len, reverse=True))
        patterns[emotion] = re.compile(rf"(?<![a-z])(?:{alternatives})")
    return patterns


_PATTERNS = _cue_patterns()


def score_emotions(text: str) -> dict[str, float]:
    """Cue weight per emotion for one sentence (0 for emotions without cues)."""
    lowered = text.lower()
    scores = {emotion: float(len(p.findall(lowered))) for emotion, p in _PATTERNS.items()}
    exclamations = lowered.count("!")
    if exclamations:
        for emotion in ("joy", "anger", "surprise"):
            if scores[emotion]:
                scores[emotion] += _EXCLAMATION_BOOST * exclamations
    if lowered.rstrip().endswith("?") and scores["surprise"]:
        scores["surprise"] += _EXCLAMATION_BOOST
    return scores


def classify(text: str) -> tuple[Emotion, float]:
    """The most likely emotion of a sentence and an intensity in 0..1."""
    scores = score_emotions(text)
    emotion, best = max(scores.items(), key=lambda item: item[1])
    if best <= 0:
        return "neutral", 1.0
    total = sum(scores.values())
    intensity = min(1.0, 0.5 + 0.25 * best) * (best / total) ** 0.5
    return emotion, round(max(0.3, intensity), 2)  # type: ignore[return-value]


class LexiconTagger:
    """Emotion provider that runs locally with no model and no network."""

    name = "lexicon"

    def tag(self, segments: list[Segment]) -> list[Segment]:
        """Fill in the emotion of untagged speech segments; tagged ones are kept as written."""
        tagged = []
        for segment in segments:
            if segment.kind == "speech" and segment.emotion is None:
                emotion, intensity = classify(segment.text)
                segment = segment.model_copy(update={"emotion": emotion, "intensity": intensity})
            tagged.append(segment)
        return tagged
