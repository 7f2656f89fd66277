"""The emotion step's public surface: analyze_script, tag_script and the provider choice."""

from __future__ import annotations

import pytest

from core.errors import ConfigError, PermanentError
from core.settings import Settings
from models.domain import Segment
from tasks.emotion import analyze_script, get_emotion_provider, tag_script
from tasks.emotion.lexicon import LexiconTagger
from tasks.emotion.openai import OpenAITagger


def test_explicit_tags_are_reported_as_tags_and_the_rest_as_auto():
    sentences = analyze_script("I am so happy today!\n[pause 1]\n[sadness:0.4] I miss you.")
    assert [(s.text, s.emotion, s.intensity, s.source, s.line) for s in sentences] == [
        ("I am so happy today!", "joy", sentences[0].intensity, "auto", 1),
        ("I miss you.", "sadness", 0.4, "tag", 3),
    ]
    assert 0.5 <= sentences[0].intensity <= 1.0


def test_tag_script_keeps_pauses_in_place():
    segments = tag_script("One. [pause 0.5] Two.")
    assert [s.kind for s in segments] == ["speech", "pause", "speech"]
    assert all(s.emotion for s in segments if s.kind == "speech")


class DroppingProvider:
    """A provider that breaks the contract by losing a sentence."""

    name = "dropping"

    def tag(self, segments: list[Segment]) -> list[Segment]:
        return LexiconTagger().tag(segments)[:-1]


class LazyProvider:
    name = "lazy"

    def tag(self, segments: list[Segment]) -> list[Segment]:
        return segments


@pytest.mark.parametrize(("provider", "message"), [
    (DroppingProvider(), "changed the script's sentences"),
    (LazyProvider(), "left sentences untagged"),
])
def test_a_provider_that_breaks_its_contract_is_refused(provider, message):
    with pytest.raises(PermanentError, match=message):
        analyze_script("One sentence. Another one.", provider)


def test_the_provider_follows_aura_emotion():
    assert isinstance(get_emotion_provider(Settings(emotion="lexicon")), LexiconTagger)
    tagger = get_emotion_provider(Settings(emotion="openai", openai={"api_key": "sk-test",
                                                                     "model": "gpt-4o-mini"}))
    assert isinstance(tagger, OpenAITagger) and tagger.model == "gpt-4o-mini"


def test_openai_without_a_key_says_which_setting_is_missing():
    with pytest.raises(ConfigError, match="AURA_OPENAI__API_KEY"):
        get_emotion_provider(Settings(emotion="openai"))
