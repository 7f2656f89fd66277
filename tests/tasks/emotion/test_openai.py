"""The OpenAI emotion provider, against a stand-in for the Chat Completions API.

The stand-in answers at the HTTP level (respx). The SDK sends through ``httpx2`` by
default, which respx does not patch, so the tagger is given a plain ``httpx.Client``: the
same seam a proxy setup would use. Nothing of ours and nothing of the SDK is mocked. The
last tests use a real loopback server instead, through the SDK's own transport.
"""

from __future__ import annotations

import re

import httpx
import pytest
import respx

from core.errors import ConfigError, PermanentError, TransientError, is_transient
from core.settings import OpenAISettings, Settings
from models.domain import EMOTIONS, Segment
from tasks.emotion import analyze_script, get_emotion_provider
from tasks.emotion.markup import parse_script
from tasks.emotion.openai import BATCH_SIZE, LABEL_HINTS, OpenAITagger
from tests.support.loopback import assert_refused_for_good
from tests.support.openai import answering, api_error, completion, items_reply, numbered, sent

API = "https://api.openai.test/v1"
KEY = "sk-test-aura-0123456789abcdef"


def settings(**openai: object) -> Settings:
    return Settings(openai=OpenAISettings(**{"api_key": KEY, "base_url": API, **openai}))


@pytest.fixture
def api():
    with respx.mock(base_url=API, assert_all_called=False) as mock:
        yield mock.post("/chat/completions")


@pytest.fixture
def tagger() -> OpenAITagger:
    return OpenAITagger.from_settings(settings(), http_client=httpx.Client())


SCRIPT = [
    Segment(text="I won the prize!", emotion="joy", intensity=0.4, line=1),
    Segment(text="We should celebrate tonight.", line=2),
    Segment(kind="pause", pause_s=0.8, line=3),
    Segment(text="But the house is so empty now.", line=4),
]


# What the provider returns


def test_untagged_sentences_get_the_models_emotion_and_written_tags_and_pauses_are_kept(
        api, tagger):
    api.side_effect = answering(
        lambda text: ("joy", 0.7) if "celebrate" in text else ("sadness", 0.6))

    tagged = tagger.tag(SCRIPT)

    assert tagged == [
        SCRIPT[0],
        SCRIPT[1].model_copy(update={"emotion": "joy", "intensity": 0.7}),
        SCRIPT[2],
        SCRIPT[3].model_copy(update={"emotion": "sadness", "intensity": 0.6}),
    ]


def test_answers_are_matched_by_id_not_by_their_order_in_the_reply(api, tagger):
    api.return_value = items_reply([
        {"id": 2, "emotion": "sadness", "intensity": 0.6},
        {"id": 1, "emotion": "joy", "intensity": 0.7},
    ])

    tagged = tagger.tag(SCRIPT)

    assert [(s.emotion, s.intensity) for s in tagged if s.kind == "speech"] == [
        ("joy", 0.4), ("joy", 0.7), ("sadness", 0.6)]


def test_a_script_with_nothing_untagged_sends_no_request(api, tagger):
    api.side_effect = answering()
    script = [SCRIPT[0], SCRIPT[2], Segment(text="Goodbye.", emotion="neutral")]

    assert tagger.tag(script) == script
    assert tagger.tag([]) == []
    assert api.call_count == 0


# What is sent


def test_sentences_travel_in_batches_of_forty_one_request_per_batch(api, tagger):
    api.side_effect = answering(lambda text: ("fear", 0.5))
    script = [Segment(text=f"Sentence number {i}.", line=i + 1) for i in range(95)]

    tagged = tagger.tag(script)

    assert BATCH_SIZE == 40
    assert api.call_count == 3
    asked = [numbered(call.request) for call in api.calls]
    assert [list(batch) for batch in asked] == [
        list(range(1, 41)), list(range(1, 41)), list(range(1, 16))]
    assert [text for batch in asked for text in batch.values()] == [s.text for s in script]
    assert all((s.emotion, s.intensity) == ("fear", 0.5) for s in tagged)


def test_the_request_names_the_model_and_asks_for_the_strict_json_schema(api, tagger):
    api.side_effect = answering()

    tagger.tag(SCRIPT)

    body = sent(api.calls.last.request)
    assert body["model"] == "gpt-4o"
    assert body["response_format"]["type"] == "json_schema"
    schema = body["response_format"]["json_schema"]
    assert schema["name"] == "EmotionBatch" and schema["strict"] is True
    item = schema["schema"]["$defs"]["SentenceEmotion"]
    assert item["properties"]["emotion"]["enum"] == list(EMOTIONS)
    assert item["required"] == ["id", "emotion", "intensity"]
    assert api.calls.last.request.headers["authorization"] == f"Bearer {KEY}"


def test_written_tags_travel_as_context_and_only_untagged_sentences_are_numbered(api, tagger):
    api.side_effect = answering()

    tagger.tag(SCRIPT)

    system, user = sent(api.calls.last.request)["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    assert user["content"].splitlines() == [
        "[context, joy 0.4] I won the prize!",
        "[1] We should celebrate tonight.",
        "[2] But the house is so empty now.",
    ]
    assert all(label in system["content"] for label in EMOTIONS)


def test_context_is_the_three_sentences_either_side_of_the_batch(api, tagger):
    api.side_effect = answering()
    script = [Segment(text=f"Before {i}.", emotion="fear", intensity=0.5) for i in range(5)]
    script += [Segment(text="Now."), Segment(kind="pause", pause_s=1.0)]
    script += [Segment(text=f"After {i}.", emotion="joy", intensity=0.8) for i in range(5)]

    tagger.tag(script)

    assert sent(api.calls.last.request)["messages"][1]["content"].splitlines() == [
        "[context, fear 0.5] Before 2.", "[context, fear 0.5] Before 3.",
        "[context, fear 0.5] Before 4.", "[1] Now.", "[context, joy 0.8] After 0.",
        "[context, joy 0.8] After 1.", "[context, joy 0.8] After 2."]


def test_neighbouring_batches_see_each_others_sentences_untagged(api):
    tagger = OpenAITagger(api_key=KEY, base_url=API, batch_size=2, http_client=httpx.Client())
    api.side_effect = answering()
    script = [Segment(text="A.", emotion="anger", intensity=0.9), Segment(text="B."),
              Segment(text="C."), Segment(text="D."), Segment(text="E.", emotion="joy")]

    tagger.tag(script)

    first, second = (sent(c.request)["messages"][1]["content"] for c in api.calls)
    assert first.splitlines() == ["[context, anger 0.9] A.", "[1] B.", "[2] C.",
                                  "[context] D.", "[context, joy 1] E."]
    assert second.splitlines() == ["[context, anger 0.9] A.", "[context] B.", "[context] C.",
                                   "[1] D.", "[context, joy 1] E."]


def test_the_model_comes_from_AURA_OPENAI__MODEL(api, monkeypatch):
    monkeypatch.setenv("AURA_OPENAI__API_KEY", KEY)
    monkeypatch.setenv("AURA_OPENAI__BASE_URL", API)
    monkeypatch.setenv("AURA_OPENAI__MODEL", "gpt-4o-2024-11-20")
    api.side_effect = answering()

    OpenAITagger.from_settings(Settings(), http_client=httpx.Client()).tag(SCRIPT)

    assert sent(api.calls.last.request)["model"] == "gpt-4o-2024-11-20"


def test_the_prompt_explains_every_label():
    assert tuple(LABEL_HINTS) == EMOTIONS


# Configuration


@pytest.mark.parametrize("key", [None, "", "   "])
def test_no_api_key_is_a_config_error_naming_the_variable(key):
    with pytest.raises(ConfigError, match="AURA_OPENAI__API_KEY"):
        OpenAITagger.from_settings(settings(api_key=key))


# HTTP failures


@pytest.mark.parametrize("response", [
    api_error(429, "Rate limit reached for gpt-4o on tokens per min (TPM).", "tokens",
              "rate_limit_exceeded"),
    api_error(500, "The server had an error while processing your request.", "server_error"),
    api_error(503, "The engine is currently overloaded.", "server_error"),
], ids=["429", "500", "503"])
def test_rate_limits_and_server_errors_are_transient_and_not_retried_by_the_sdk(
        api, tagger, response):
    api.return_value = response

    with pytest.raises(TransientError) as caught:
        tagger.tag(SCRIPT)

    assert caught.value.status_code == response.status_code
    assert caught.value.provider == "openai"
    assert is_transient(caught.value)
    assert api.call_count == 1  # Prefect owns retries


@pytest.mark.parametrize("error", [httpx.ReadTimeout("timed out"),
                                   httpx.ConnectError("connection refused")],
                         ids=["timeout", "connection"])
def test_timeouts_and_lost_connections_are_transient(api, tagger, error):
    api.side_effect = error

    with pytest.raises(TransientError) as caught:
        tagger.tag(SCRIPT)

    assert is_transient(caught.value)


@pytest.mark.parametrize(("response", "says"), [
    (api_error(401, f"Incorrect API key provided: {KEY}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.", "invalid_request_error",
               "invalid_api_key"),
     "OpenAI rejected the API key (401); check AURA_OPENAI__API_KEY"),
    (api_error(400, f"Invalid schema for response_format 'EmotionBatch' (key {KEY}).",
               "invalid_request_error"),
     "OpenAI rejected the request (400): Invalid schema for response_format"),
    (api_error(403, "Project does not have access to model gpt-4o", "invalid_request_error",
               "model_not_found"),
     "OpenAI refused access (403) to model 'gpt-4o'"),
    (api_error(404, "The model `gpt-4o` does not exist or you do not have access to it.",
               "invalid_request_error", "model_not_found"),
     "OpenAI does not know model 'gpt-4o' (404); check AURA_OPENAI__MODEL"),
    (api_error(422, "Unprocessable entity.", "invalid_request_error"),
     "OpenAI rejected the request (422)"),
    (api_error(429, "You exceeded your current quota, please check your plan and billing "
                    "details.", "insufficient_quota", "insufficient_quota"),
     "no quota left (429)"),
], ids=["401", "400", "403", "404", "422", "429-quota"])
def test_refused_requests_are_permanent_in_plain_words_without_the_key(
        api, tagger, response, says):
    api.return_value = response

    with pytest.raises(PermanentError) as caught:
        tagger.tag(SCRIPT)

    assert_refused_for_good(caught.value, status_code=response.status_code, secret=KEY,
                            says=says)
    assert api.call_count == 1


# Replies that break the contract


@pytest.mark.parametrize(("items", "says"), [
    ([{"id": 1, "emotion": "joy", "intensity": 0.7}], "missing ids [2]"),
    ([{"id": 1, "emotion": "joy", "intensity": 0.7},
      {"id": 1, "emotion": "anger", "intensity": 0.7},
      {"id": 2, "emotion": "joy", "intensity": 0.7}], "duplicate ids [1]"),
    ([{"id": 1, "emotion": "joy", "intensity": 0.7},
      {"id": 2, "emotion": "joy", "intensity": 0.7},
      {"id": 7, "emotion": "joy", "intensity": 0.7}], "unknown ids [7]"),
    ([{"id": 1, "emotion": "happy", "intensity": 0.7},
      {"id": 2, "emotion": "joy", "intensity": 0.7}], "items.0.emotion"),
    ([{"id": 1, "emotion": "joy", "intensity": 1.5},
      {"id": 2, "emotion": "joy", "intensity": 0.7}], "items.0.intensity"),
], ids=["missing", "duplicate", "unknown", "bad-emotion", "bad-intensity"])
def test_a_reply_that_does_not_tag_each_sentence_once_is_transient(api, tagger, items, says):
    api.return_value = items_reply(items)

    with pytest.raises(TransientError, match=re.escape(says)) as caught:
        tagger.tag(SCRIPT)

    assert is_transient(caught.value)


def test_an_invalid_emotion_is_named_in_the_error(api, tagger):
    api.return_value = items_reply([{"id": 1, "emotion": "happy", "intensity": 0.7},
                                    {"id": 2, "emotion": "joy", "intensity": 0.7}])

    with pytest.raises(TransientError, match="'happy'"):
        tagger.tag(SCRIPT)


def test_a_reply_that_is_not_json_is_transient(api, tagger):
    api.return_value = completion('{"items": [{"id": 1, "emotion": "jo')

    with pytest.raises(TransientError, match="does not fit the schema"):
        tagger.tag(SCRIPT)


def test_a_reply_cut_off_at_the_token_limit_is_transient(api, tagger):
    api.return_value = completion('{"items": [', finish_reason="length")

    with pytest.raises(TransientError, match="cut off"):
        tagger.tag(SCRIPT)


def test_a_refusal_is_permanent(api, tagger):
    api.return_value = completion(None, refusal="I'm sorry, I can't help with that request.")

    with pytest.raises(PermanentError, match="refused.*I'm sorry") as caught:
        tagger.tag(SCRIPT)

    assert not is_transient(caught.value)



def test_the_sdks_own_transport_reaches_a_loopback_stand_in(openai_loopback):
    # No http_client: the request goes through the SDK's default transport, as in
    # production, to a real socket.
    openai_loopback.reply = answering(
        lambda text: ("joy", 0.9) if "party" in text else ("fear", 0.6))
    tagger = get_emotion_provider(Settings(
        emotion="openai", openai=OpenAISettings(
            api_key=KEY, base_url=f"http://127.0.0.1:{openai_loopback.server_port}/v1")))
    sentences = analyze_script("What a party! [pause 0.3] Something moved in the dark.\n"
                               "[sadness:0.5] I miss them.", tagger)
    assert [(s.emotion, s.intensity, s.source) for s in sentences] == [
        ("joy", 0.9, "auto"), ("fear", 0.6, "auto"), ("sadness", 0.5, "tag")]
    (request,) = openai_loopback.requests
    assert request.url.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"


def test_a_rate_limit_from_the_loopback_stand_in_is_worth_a_retry(openai_loopback):
    openai_loopback.reply = lambda request: api_error(429, "Rate limit reached", "requests",
                                               "rate_limit_exceeded")
    tagger = OpenAITagger(api_key=KEY, base_url=f"http://127.0.0.1:{openai_loopback.server_port}/v1")
    with pytest.raises(TransientError) as caught:
        tagger.tag(parse_script("Is anyone there?"))
    assert is_transient(caught.value) and caught.value.status_code == 429
    assert len(openai_loopback.requests) == 1  # the SDK's own retries are off
