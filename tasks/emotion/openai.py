"""The OpenAI emotion provider: GPT-4o (or ``AURA_OPENAI__MODEL``) tags untagged sentences.

Untagged speech sentences travel in batches of up to :data:`BATCH_SIZE`, one chat request
per batch, each sentence under a numeric id. Neighbouring sentences go along as context
(with their tag where the script gives one) so that the model reads the scene, but only
the numbered sentences are answered. Tags written in the script always win.

The reply is a structured output: ``client.chat.completions.parse(...,
response_format=EmotionBatch)`` (Chat Completions API, JSON schema in strict mode), and is
checked again here: every id answered exactly once, labels among the seven emotions,
intensity in 0..1.

Errors are classified once, for Prefect's retry policy (tasks/policy.py):

- :class:`~core.errors.TransientError`: 429 and 5xx (and 408/409), timeouts, lost
  connections, and replies that break the contract (a model slip is worth a retry).
- :class:`~core.errors.PermanentError`: 400, 401, 403, 404, 422, a 429 for an exhausted
  quota, refusals and content filtering.

The SDK's own retries are off (``max_retries=0``): Prefect owns retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import httpx
import openai
import pydantic
from pydantic import BaseModel, ConfigDict, Field

from core.errors import (
    ConfigError,
    PermanentError,
    ProviderError,
    TransientError,
    is_transient_status,
)
from core.settings import Settings, required_secret
from models.domain import Emotion, Segment

PROVIDER = "openai"

BATCH_SIZE = 40
"""Untagged sentences per request: few requests, replies well inside the output limit."""

CONTEXT_SENTENCES = 3
"""Sentences shown before and after each batch, to read the scene around it."""

REQUEST_TIMEOUT_S = 60.0
"""Whole-request limit; a batch reply is about a thousand tokens."""

CONNECT_TIMEOUT_S = 10.0

# What each label means to the model, in the order of models.domain.EMOTIONS.
LABEL_HINTS: dict[str, str] = {
    "neutral": "plain statement, information, no marked feeling",
    "joy": "happiness, delight, excitement, gratitude, pride, warmth",
    "sadness": "loss, grief, loneliness, disappointment, regret",
    "anger": "irritation, frustration, outrage, defiance",
    "fear": "worry, nervousness, dread, panic",
    "surprise": "astonishment, disbelief, a sudden discovery (pleasant or not)",
    "disgust": "revulsion, distaste, contempt for something foul or vile",
}

_LABELS = "\n".join(f"- {label}: {hint}" for label, hint in LABEL_HINTS.items())

SYSTEM_PROMPT = f"""\
You tag the emotion with which each sentence of a spoken script should be delivered by a \
talking avatar.

Labels (use exactly one of these per sentence):
{_LABELS}

Intensity, from 0 to 1, is how strongly the emotion shows in the voice and face: about 0.3 \
mild, 0.5 clear, 0.7 strong, 1.0 very strong. Use 1.0 for neutral.

The excerpt lists sentences in script order. Lines marked [context] are there to help you \
read the scene; they may show the tag the author gave them. Do not answer them. Answer \
every line marked with a number [n] exactly once, with that number as its id, and no \
other ids."""


class SentenceEmotion(BaseModel):
    """The model's answer for one numbered sentence."""

    model_config = ConfigDict(extra="forbid")

    id: int = Field(description="the number n of the sentence, as in [n]")
    emotion: Emotion
    intensity: Annotated[float, Field(ge=0.0, le=1.0,
                                      description="0.3 mild, 0.5 clear, 1.0 very strong")]


class EmotionBatch(BaseModel):
    """The model's answer for one batch: one item per numbered sentence."""

    model_config = ConfigDict(extra="forbid")

    items: list[SentenceEmotion]


class OpenAITagger:
    """Emotion provider that asks an OpenAI chat model, a batch of sentences per request."""

    name = "openai"

    def __init__(
        self,
        *,
        api_key: str,
        model: str = "gpt-4o",
        base_url: str | None = None,
        timeout_s: float = REQUEST_TIMEOUT_S,
        batch_size: int = BATCH_SIZE,
        http_client: httpx.Client | None = None,
    ):
        """Build the tagger and its OpenAI client (no request is made here).

        Args:
            api_key: the OpenAI API key.
            model: chat model name, e.g. ``gpt-4o``.
            base_url: API root, ``None`` for OpenAI's own (``https://api.openai.com/v1``).
            timeout_s: limit per request, in seconds.
            batch_size: most untagged sentences per request.
            http_client: an ``httpx.Client`` to send requests through (proxies, tests);
                ``None`` for the SDK's own.
        """
        if not api_key:
            raise ConfigError("The OpenAI emotion provider needs an API key: "
                              "set AURA_OPENAI__API_KEY")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model
        self.batch_size = batch_size
        self._api_key = api_key
        self._client = openai.OpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=openai.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s)),
            http_client=http_client,
        )

    @classmethod
    def from_settings(cls, settings: Settings, *,
                      http_client: httpx.Client | None = None) -> OpenAITagger:
        """The tagger configured by ``AURA_OPENAI__*``.

        Raises:
            ConfigError: no API key is set.
        """
        api_key = required_secret(settings.openai.api_key, needed_by="AURA_EMOTION=openai",
                                  setting="AURA_OPENAI__API_KEY",
                                  instead="AURA_EMOTION=lexicon")
        return cls(api_key=api_key, model=settings.openai.model,
                   base_url=settings.openai.base_url, http_client=http_client)

    def tag(self, segments: list[Segment]) -> list[Segment]:
        """Fill in the emotion of untagged speech segments; everything else is kept as is.

        Args:
            segments: the parsed script, in order.

        Returns:
            The same segments in the same order, untagged speech now with an emotion and
            an intensity in 0..1.

        Raises:
            TransientError: worth a retry (rate limit, server error, network, bad reply).
            PermanentError: a retry cannot help (key, model, request refused).
        """
        speech = [i for i, s in enumerate(segments) if s.kind == "speech"]
        untagged = [i for i in speech if segments[i].emotion is None]
        tagged = list(segments)
        for start in range(0, len(untagged), self.batch_size):
            batch = untagged[start:start + self.batch_size]
            answers = self._ask(build_excerpt(segments, speech, batch), len(batch))
            for index, answer in zip(batch, answers, strict=True):
                tagged[index] = segments[index].model_copy(
                    update={"emotion": answer.emotion, "intensity": answer.intensity})
        return tagged

    def _ask(self, excerpt: str, n_sentences: int) -> list[SentenceEmotion]:
        """One request: the answers for ids 1..n_sentences of ``excerpt``, in id order."""
        # ``from None`` throughout: the SDK's exceptions quote the response body, which
        # for a 401 holds part of the key, and tracebacks in logs show chained causes.
        try:
            completion = self._client.chat.completions.parse(
                model=self.model,
                messages=[{"role": "system", "content": SYSTEM_PROMPT},
                          {"role": "user", "content": excerpt}],
                response_format=EmotionBatch,
            )
        except openai.APIStatusError as exc:
            raise self._status_error(exc) from None
        except openai.APITimeoutError:
            raise TransientError(f"no answer within the time limit (model {self.model})",
                                 provider=PROVIDER) from None
        except openai.APIConnectionError as exc:
            cause = f" ({type(exc.__cause__).__name__})" if exc.__cause__ else ""
            raise TransientError(f"could not reach the API{cause}", provider=PROVIDER) from None
        except openai.LengthFinishReasonError:
            raise TransientError("the reply was cut off at the output token limit",
                                 provider=PROVIDER) from None
        except openai.ContentFilterFinishReasonError:
            raise PermanentError("the reply was blocked by OpenAI's content filter",
                                 provider=PROVIDER) from None
        except pydantic.ValidationError as exc:
            raise TransientError(f"the reply does not fit the schema: {_describe(exc)}",
                                 provider=PROVIDER) from None
        if not completion.choices:
            raise TransientError("the reply has no choices", provider=PROVIDER)
        message = completion.choices[0].message
        if message.refusal:
            raise PermanentError(f"the model refused to tag the script: {message.refusal}",
                                 provider=PROVIDER)
        if message.parsed is None:
            raise TransientError("the reply has no content", provider=PROVIDER)
        return check_answers(message.parsed, range(1, n_sentences + 1))

    def _status_error(self, exc: openai.APIStatusError) -> ProviderError:
        """The AuraStudio error for an HTTP error status from the API."""
        status = exc.status_code
        detail = self._redact(_server_message(exc))
        if status == 401:
            return PermanentError("OpenAI rejected the API key (401); check "
                                  "AURA_OPENAI__API_KEY", provider=PROVIDER, status_code=status)
        if status == 403:
            return PermanentError(f"OpenAI refused access (403) to model {self.model!r}: "
                                  f"{detail}", provider=PROVIDER, status_code=status)
        if status == 404:
            return PermanentError(f"OpenAI does not know model {self.model!r} (404); check "
                                  "AURA_OPENAI__MODEL and AURA_OPENAI__BASE_URL: "
                                  f"{detail}", provider=PROVIDER, status_code=status)
        if status == 429 and exc.code == "insufficient_quota":
            # Out of credit: retrying within minutes cannot help.
            return PermanentError("the OpenAI account has no quota left (429); check its "
                                  "plan and billing", provider=PROVIDER, status_code=status)
        if status == 429:
            return TransientError("rate limited by OpenAI (429)", provider=PROVIDER,
                                  status_code=status)
        if is_transient_status(status):
            return TransientError(f"OpenAI could not answer for now ({status}): {detail}",
                                  provider=PROVIDER, status_code=status)
        return PermanentError(f"OpenAI rejected the request ({status}): {detail}",
                              provider=PROVIDER, status_code=status)

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "[api key]")


def build_excerpt(segments: Sequence[Segment], speech: Sequence[int],
                  batch: Sequence[int]) -> str:
    """The user message for one batch: numbered sentences among their context.

    Args:
        segments: the whole script.
        speech: indexes (into ``segments``) of the speech segments, in order.
        batch: indexes of the sentences to tag, in order; they get ids 1..len(batch).

    Returns:
        One line per sentence: ``[n] text`` for those to tag, ``[context] text`` or
        ``[context, joy 0.8] text`` for the sentences around them.
    """
    ids = {index: n for n, index in enumerate(batch, start=1)}
    first = speech.index(batch[0])
    last = speech.index(batch[-1])
    window = speech[max(0, first - CONTEXT_SENTENCES):last + CONTEXT_SENTENCES + 1]
    lines = []
    for index in window:
        segment = segments[index]
        text = " ".join(segment.text.split())  # one line per sentence, whatever the script
        if index in ids:
            lines.append(f"[{ids[index]}] {text}")
        elif segment.emotion is not None:
            lines.append(f"[context, {segment.emotion} {segment.intensity:g}] {text}")
        else:
            lines.append(f"[context] {text}")
    return "\n".join(lines)


def check_answers(batch: EmotionBatch, expected: Sequence[int]) -> list[SentenceEmotion]:
    """The answers in the order of ``expected``, after checking each id is answered once.

    Raises:
        TransientError: an id is missing, answered twice, or not asked for.
    """
    by_id: dict[int, SentenceEmotion] = {}
    duplicates = set()
    for item in batch.items:
        if item.id in by_id:
            duplicates.add(item.id)
        by_id[item.id] = item
    problems = []
    if missing := [i for i in expected if i not in by_id]:
        problems.append(f"missing ids {missing}")
    if duplicates:
        problems.append(f"duplicate ids {sorted(duplicates)}")
    if unknown := sorted(set(by_id) - set(expected)):
        problems.append(f"unknown ids {unknown}")
    if problems:
        raise TransientError(f"the reply does not tag each sentence exactly once: "
                             f"{'; '.join(problems)} (asked for ids 1..{len(expected)})",
                             provider=PROVIDER)
    return [by_id[i] for i in expected]


def _describe(exc: pydantic.ValidationError) -> str:
    """A short account of what is wrong in a reply, e.g. ``items.0.emotion: ... 'happy'``."""
    parts = []
    for error in exc.errors(include_url=False)[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "reply"
        got = f", got {_short(error['input'])}" if error["type"] != "json_invalid" else ""
        parts.append(f"{where}: {error['msg']}{got}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _server_message(exc: openai.APIStatusError) -> str:
    """The API's own explanation of an error status, or the status line."""
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return exc.response.reason_phrase or f"HTTP {exc.status_code}"

