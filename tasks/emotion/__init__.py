"""Step 1, tag_emotions: script text -> segments (text, emotion, intensity, pause).

The script markup is parsed here (tasks/emotion/markup.py); untagged sentences get an
emotion from the provider chosen by ``AURA_EMOTION``: ``lexicon`` (local default,
tasks/emotion/lexicon.py); ``openai`` arrives with the emotion issue.
"""

from __future__ import annotations

from typing import Protocol

from prefect import get_run_logger, task

from core.errors import ConfigError
from core.settings import Settings, get_settings
from models.domain import Segment
from tasks.emotion.markup import parse_script
from tasks.policy import task_options


class EmotionProvider(Protocol):
    name: str

    def tag(self, segments: list[Segment]) -> list[Segment]: ...


def get_emotion_provider(settings: Settings | None = None) -> EmotionProvider:
    """The emotion provider chosen by ``AURA_EMOTION``."""
    settings = settings or get_settings()
    if settings.emotion == "lexicon":
        from tasks.emotion.lexicon import LexiconTagger

        return LexiconTagger()
    raise ConfigError(f"AURA_EMOTION={settings.emotion} is not available yet in this "
                      "version; use AURA_EMOTION=lexicon")


@task(name="tag_emotions", **task_options())
async def tag_emotions(script: str) -> list[Segment]:
    """Parse the script and give every sentence an emotion."""
    segments = get_emotion_provider().tag(parse_script(script))
    spoken = [s for s in segments if s.kind == "speech"]
    get_run_logger().info("Tagged %d sentences: %s", len(spoken),
                          ", ".join(sorted({s.emotion or "?" for s in spoken})))
    return segments
