"""Step 1, tag_emotions: script text -> segments (text, emotion, intensity, pause).

The script markup is parsed here (tasks/emotion/markup.py); untagged sentences get an
emotion from the provider chosen by ``AURA_EMOTION``:

- ``lexicon`` (default): local, offline lexicons and rules (tasks/emotion/lexicon.py);
- ``openai``: GPT-4o structured outputs (tasks/emotion/openai.py).

What an emotion then does to the voice and the face is one table,
tasks/emotion/expression.py. :func:`analyze_script` is what people see of this step
(``aura analyze``, ``/api/scripts/analyze``).
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from prefect import get_run_logger, task

from core.errors import PermanentError
from core.settings import Settings, get_settings
from models.domain import AnalyzedSentence, Segment
from tasks.emotion.markup import parse_script
from tasks.policy import task_options


class EmotionProvider(Protocol):
    name: str

    def tag(self, segments: list[Segment]) -> list[Segment]:
        """The same segments in the same order, every speech segment with an emotion;
        segments that already have one are returned unchanged."""
        ...


def get_emotion_provider(settings: Settings | None = None) -> EmotionProvider:
    """The emotion provider chosen by ``AURA_EMOTION``."""
    settings = settings or get_settings()
    if settings.emotion == "openai":
        from tasks.emotion.openai import OpenAITagger

        return OpenAITagger.from_settings(settings)
    from tasks.emotion.lexicon import LexiconTagger

    return LexiconTagger()


def tag_script(script: str, provider: EmotionProvider | None = None) -> list[Segment]:
    """Parse ``script`` and give every sentence an emotion (explicit tags win).

    Raises:
        ScriptError: the markup is wrong (with line and column) or has nothing to say.
        ProviderError: the provider failed (transient errors are worth a retry).
    """
    return _parse_and_tag(script, provider)[1]


def analyze_script(script: str, provider: EmotionProvider | None = None,
                   ) -> list[AnalyzedSentence]:
    """Every sentence of ``script`` with its emotion, intensity and where they came from.

    Raises the same errors as :func:`tag_script`.
    """
    parsed, tagged = _parse_and_tag(script, provider)
    return [
        AnalyzedSentence(text=after.text, emotion=after.emotion or "neutral",
                         intensity=after.intensity, line=after.line,
                         source="tag" if before.emotion is not None else "auto")
        for before, after in zip(parsed, tagged, strict=True) if after.kind == "speech"
    ]


def _parse_and_tag(script: str, provider: EmotionProvider | None,
                   ) -> tuple[list[Segment], list[Segment]]:
    """The parsed segments and the provider's tagged copy, checked against each other."""
    provider = provider or get_emotion_provider()
    parsed = parse_script(script)
    tagged = provider.tag(parsed)
    if len(tagged) != len(parsed) or any(
        a.kind != b.kind or a.text != b.text for a, b in zip(parsed, tagged, strict=False)
    ):
        raise PermanentError("the emotion provider changed the script's sentences",
                             provider=provider.name)
    if any(s.kind == "speech" and s.emotion is None for s in tagged):
        raise PermanentError("the emotion provider left sentences untagged",
                             provider=provider.name)
    return parsed, tagged


def _run_name(parameters: dict[str, Any]) -> str:
    """``tag_emotions[3 lines, 64 chars]``: the script's size, never its words."""
    script = parameters["script"]
    return f"tag_emotions[{len(script.splitlines())} lines, {len(script)} chars]"


@task(name="tag_emotions", task_run_name=_run_name, **task_options())
async def tag_emotions(script: str) -> list[Segment]:
    """Parse the script and give every sentence an emotion."""
    segments = await asyncio.to_thread(tag_script, script)
    spoken = [s for s in segments if s.kind == "speech"]
    get_run_logger().info("Tagged %d sentences: %s", len(spoken),
                          ", ".join(sorted({s.emotion or "?" for s in spoken})))
    return segments
