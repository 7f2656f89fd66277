"""The ElevenLabs voice provider, against a stand-in for the text-to-speech API.

The stand-in answers at the HTTP level: respx on the SDK's own ``httpx.Client`` (the SDK
sends through plain httpx, which respx patches), and for the Prefect tests a loopback
server on a real socket, so that respx does not catch the Prefect API's own requests.
Replies are shaped as ElevenLabs sends them: real MP3 bytes (encoded here with PyAV) in
``audio_base64`` and a character alignment of the request's text. Nothing of ours and
nothing of the SDK is mocked.
"""

from __future__ import annotations

import base64
import functools
import http.server
import io
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
import respx
import soundfile as sf
from prefect import flow, task

from core.errors import ConfigError, PermanentError, TransientError, is_transient
from core.settings import ElevenLabsSettings, Settings
from models.domain import EMOTIONS, Segment
from tasks.emotion.expression import expression_for
from tasks.lipsync.phonemes import IPA_VISEME, viseme_of
from tasks.policy import task_options
from tasks.voice import synthesize
from tasks.voice.elevenlabs import (
    OUTPUT_FORMAT,
    SPELLING,
    ElevenLabsTTS,
    phones_from_alignment,
    voice_settings_for,
)
from tasks.voice.speech import Utterance
from tests.support.loopback import assert_refused_for_good, serve

API = "https://api.elevenlabs.test"
KEY = "sk_0123456789abcdef0123456789abcdef0123456789abcdef"
VOICE = "21m00Tcm4TlvDq8ikWAM"
MODEL = "eleven_multilingual_v2"
ENDPOINT = f"/v1/text-to-speech/{VOICE}/with-timestamps"
RATE_HZ = 44_100
LEAD_S, CHAR_S, TAIL_S = 0.08, 0.06, 0.15
"""Stand-in timing: silence before the first character, per character, after the last."""

Reply = Callable[[httpx.Request], httpx.Response]


# The stand-in


def speechlike(duration_s: float) -> np.ndarray:
    """A voiced buzz (150 Hz and harmonics) opening and closing four times a second."""
    t = np.arange(round(duration_s * RATE_HZ)) / RATE_HZ
    voice = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 6))
    syllables = 0.5 - 0.5 * np.cos(2 * np.pi * 4 * t)
    return (0.35 * voice * syllables).astype(np.float32)


@functools.cache
def mp3_of(duration_s: float) -> bytes:
    """``duration_s`` of :func:`speechlike` as MP3, 44.1 kHz mono 128 kbit/s."""
    samples = speechlike(duration_s)
    out_file = io.BytesIO()
    with av.open(out_file, "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=RATE_HZ, layout="mono")
        stream.bit_rate = 128_000
        for start in range(0, len(samples), 4410):
            frame = av.AudioFrame.from_ndarray(samples[None, start:start + 4410],
                                               format="fltp", layout="mono")
            frame.sample_rate, frame.pts = RATE_HZ, start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return out_file.getvalue()


def alignment_of(text: str) -> dict:
    starts = [round(LEAD_S + i * CHAR_S, 3) for i in range(len(text))]
    return {"characters": list(text), "character_start_times_seconds": starts,
            "character_end_times_seconds": [round(s + CHAR_S, 3) for s in starts]}


def spoken_duration_s(text: str) -> float:
    return round(LEAD_S + len(text) * CHAR_S + TAIL_S, 3)


def speech(text: str, **changes: object) -> httpx.Response:
    """A 200 reply for ``text`` as ElevenLabs sends it; ``changes`` replace top-level keys."""
    body = {"audio_base64": base64.b64encode(mp3_of(spoken_duration_s(text))).decode(),
            "alignment": alignment_of(text), "normalized_alignment": alignment_of(text)}
    return httpx.Response(200, json={**body, **changes})


def answering(request: httpx.Request) -> httpx.Response:
    return speech(sent(request)["text"])


def api_error(status: int, detail: object) -> httpx.Response:
    return httpx.Response(status, headers={"request-id": "req_aura_test"},
                          json={"detail": detail})


def busy(word: str = "too_many_concurrent_requests") -> httpx.Response:
    messages = {
        "too_many_concurrent_requests": "Too many concurrent requests. Your current "
        "subscription is associated with a maximum of 2 concurrent requests.",
        "system_busy": "Our services are experiencing high levels of traffic and your "
        "request could not be processed at this time. Please try again later.",
    }
    return api_error(429, {"status": word, "message": messages[word]})


def in_turn(*replies: httpx.Response) -> Reply:
    """Answer with ``replies`` one after the other, then speak every request."""
    pending = iter(replies)
    return lambda request: next(pending, None) or answering(request)


def sent(request: httpx.Request) -> dict:
    return json.loads(request.content)


@pytest.fixture
def api() -> Iterator[respx.Route]:
    with respx.mock(base_url=API, assert_all_called=False) as mock:
        yield mock.post(ENDPOINT)


@pytest.fixture
def tts() -> ElevenLabsTTS:
    return ElevenLabsTTS.from_settings(settings())


def settings(**elevenlabs: object) -> Settings:
    return Settings(tts="elevenlabs", elevenlabs=ElevenLabsSettings(
        **{"api_key": KEY, "base_url": API, "voice_id": VOICE, "model_id": MODEL,
           **elevenlabs}))


@pytest.fixture
def loopback() -> Iterator[http.server.ThreadingHTTPServer]:
    with serve(answering) as server:
        yield server


# What the provider returns


def test_a_sentence_comes_back_as_audio_with_word_and_phone_times(api, tts):
    text = "Hello there, thin sheep!"
    api.side_effect = answering

    spoken = tts.speak(Segment(text=text, emotion="joy", intensity=0.8))

    assert spoken.sample_rate_hz == tts.sample_rate_hz == 44_100
    assert spoken.samples.dtype == np.float32 and spoken.samples.ndim == 1
    assert spoken.duration_s == pytest.approx(spoken_duration_s(text), abs=0.03)
    assert 0.1 < np.abs(spoken.samples).max() <= 1.0
    assert [w.text for w in spoken.words] == ["Hello", "there", "thin", "sheep"]
    hello, there, thin, sheep = spoken.words
    assert (hello.start_s, hello.end_s) == pytest.approx((LEAD_S, LEAD_S + 5 * CHAR_S))
    assert sheep.start_s == pytest.approx(LEAD_S + text.index("sheep") * CHAR_S)
    assert hello.start_s < there.start_s < thin.start_s < sheep.start_s
    assert all(w.start_s < w.end_s for w in spoken.words)
    phones = spoken.phones
    assert all(p.symbol in IPA_VISEME for p in phones)
    assert phones[0].symbol == "_" and phones[0].start_s == 0.0
    assert phones[-1].end_s == pytest.approx(spoken.duration_s, abs=1e-4)
    assert all(a.start_s <= b.start_s for a, b in zip(phones, phones[1:], strict=False))
    visemes = [viseme_of(p.symbol) for p in phones if sheep.start_s <= p.start_s < sheep.end_s]
    assert visemes == ["CH", "ih", "PP"]  # sh, ee, p
    assert viseme_of(next(p.symbol for p in phones if p.start_s == thin.start_s)) == "TH"
    assert spoken.gap_after_s == expression_for("joy", 0.8).voice.sentence_gap_s


def test_the_request_names_voice_model_format_and_key(api, tts):
    api.side_effect = answering

    tts.speak(Segment(text="Good morning.", emotion="neutral"))

    (call,) = api.calls
    request = call.request
    assert request.url.path == ENDPOINT
    assert request.url.params["output_format"] == OUTPUT_FORMAT == "mp3_44100_128"
    assert request.headers["xi-api-key"] == KEY
    body = sent(request)
    assert body["text"] == "Good morning." and body["model_id"] == MODEL
    assert body["voice_settings"] == {"stability": 0.5, "similarity_boost": 0.75,
                                      "style": 0.0, "speed": 1.0}


def test_joy_is_sent_faster_and_livelier_than_sadness(api, tts):
    api.side_effect = answering

    tts.speak(Segment(text="What a day.", emotion="joy", intensity=0.9))
    tts.speak(Segment(text="What a day.", emotion="sadness", intensity=0.9))

    joy, sad = (sent(call.request)["voice_settings"] for call in api.calls)
    assert joy["speed"] > 1.0 > sad["speed"]
    assert joy["stability"] < 0.5 < sad["stability"]
    assert joy["style"] > 0 and sad["style"] > 0
    assert joy["similarity_boost"] == sad["similarity_boost"] == 0.75


def test_sad_speech_comes_back_quieter_as_its_prosody_asks(api, tts):
    api.side_effect = answering
    text = "The same words."

    neutral = tts.speak(Segment(text=text, emotion="neutral"))
    sad = tts.speak(Segment(text=text, emotion="sadness"))

    ratio = np.sqrt(np.mean(sad.samples ** 2) / np.mean(neutral.samples ** 2))
    assert ratio == pytest.approx(expression_for("sadness", 1.0).voice.volume, abs=0.01)


def test_phones_come_from_the_normalized_alignment_and_words_from_the_text(api, tts):
    text, spelled = "Take 2.", "Take two."
    normalized = alignment_of(spelled)
    api.return_value = speech(text, normalized_alignment=normalized)

    spoken = tts.speak(Segment(text=text))

    assert [w.text for w in spoken.words] == ["Take", "2"]
    two = normalized["character_start_times_seconds"][spelled.index("two")]
    assert [p.symbol for p in spoken.phones if p.start_s >= two][:2] == ["t", "w"]


def test_sentences_and_pauses_make_one_track_at_the_providers_rate(api, tts, tmp_path: Path):
    api.side_effect = answering
    segments = [Segment(text="One.", emotion="joy"), Segment(kind="pause", pause_s=0.5),
                Segment(text="Two.", emotion="sadness")]

    track = synthesize(segments, tts, tmp_path / "voice.wav")

    audio, rate = sf.read(tmp_path / "voice.wav")
    assert rate == 44_100 and len(audio) / rate == pytest.approx(track.duration_s)
    assert [w.text for w in track.words] == ["One", "Two"]
    assert track.words[1].start_s == pytest.approx(track.spans[2].start_s + LEAD_S, abs=1e-4)


def test_a_blank_sentence_sends_no_request(api, tts):
    spoken = tts.speak(Segment(text="   "))
    assert spoken.duration_s == 0 and api.call_count == 0


def test_the_voice_id_names_provider_voice_and_model(tts):
    assert tts.name == "elevenlabs"
    assert tts.voice_id == f"elevenlabs:{VOICE}:{MODEL}"


# The voice settings and the spelling table


@pytest.mark.parametrize("emotion", EMOTIONS)
@pytest.mark.parametrize("intensity", [0.0, 0.3, 0.7, 1.0])
def test_voice_settings_stay_in_elevenlabs_ranges(emotion, intensity):
    voice = voice_settings_for(emotion, intensity)
    assert 0.7 <= voice.speed <= 1.2
    assert 0.0 <= voice.stability <= 1.0 and 0.0 <= voice.style <= 1.0


def test_voice_settings_follow_the_emotion_prosody():
    neutral = voice_settings_for(None, 1.0)
    assert voice_settings_for("joy", 0.0) == neutral == voice_settings_for("neutral", 0.4)
    assert neutral.style == 0.0 and neutral.speed == 1.0 and neutral.stability == 0.5
    for emotion in ("anger", "fear", "surprise", "joy"):
        assert voice_settings_for(emotion, 1.0).stability < neutral.stability
    assert voice_settings_for("sadness", 1.0).stability > neutral.stability
    styles = [voice_settings_for("anger", i).style for i in (0.2, 0.5, 1.0)]
    assert styles == sorted(styles) and styles[0] > 0
    for emotion in EMOTIONS:
        length_scale = expression_for(emotion, 1.0).voice.length_scale
        assert voice_settings_for(emotion, 1.0).speed == pytest.approx(1 / length_scale,
                                                                       abs=1e-3)


def test_every_spelled_symbol_is_one_lip_sync_knows():
    symbols = {s for group in SPELLING.values() for s in group} | {"_", "ə", "s"}
    assert symbols <= set(IPA_VISEME)


@pytest.mark.parametrize(("word", "symbols"), [
    ("church", ["ʧ", "ɝ", "ʧ"]),
    ("make", ["m", "æ", "k"]),  # silent final e
    ("the", ["θ", "ɛ"]),
    ("city", ["s", "ɪ", "t", "i"]),  # soft c
    ("bell", ["b", "ɛ", "l"]),  # doubled consonant
    ("moon", ["m", "u", "n"]),
])
def test_spelling_gives_phones_timed_by_their_letters(word, symbols):
    starts = np.arange(len(word)) * 0.1
    phones = phones_from_alignment(list(word), starts, starts + 0.1)
    assert [p.symbol for p in phones] == symbols
    assert phones[0].start_s == 0.0 and phones[-1].end_s == pytest.approx(len(word) * 0.1)
    assert all(a.end_s == pytest.approx(b.start_s)
               for a, b in zip(phones, phones[1:], strict=False))


# Configuration


@pytest.mark.parametrize("key", [None, "", "   "])
def test_no_api_key_is_a_config_error_naming_the_variable(key):
    with pytest.raises(ConfigError, match="AURA_ELEVENLABS__API_KEY"):
        ElevenLabsTTS.from_settings(settings(api_key=key))


# HTTP failures


@pytest.mark.parametrize("word", ["too_many_concurrent_requests", "system_busy"])
def test_a_busy_api_is_transient_and_not_retried_by_the_sdk(api, tts, word):
    api.return_value = busy(word)

    with pytest.raises(TransientError, match=f"429 {word}") as caught:
        tts.speak(Segment(text="Hello."))

    assert caught.value.status_code == 429 and caught.value.provider == "elevenlabs"
    assert is_transient(caught.value)
    assert api.call_count == 1  # Prefect owns retries


def test_a_second_try_after_a_rate_limit_speaks(api, tts):
    api.side_effect = in_turn(busy())
    segment = Segment(text="Hello again.", emotion="joy")

    with pytest.raises(TransientError):
        tts.speak(segment)
    spoken = tts.speak(segment)

    assert [w.text for w in spoken.words] == ["Hello", "again"]
    assert api.call_count == 2


@pytest.mark.parametrize("response", [
    api_error(500, {"status": "internal_server_error", "message": "Internal error."}),
    httpx.Response(502, headers={"content-type": "text/html"},
                   text="<html><body><h1>502 Bad Gateway</h1></body></html>"),
    api_error(503, {"status": "service_unavailable", "message": "Try again later."}),
], ids=["500", "502-html", "503"])
def test_server_errors_are_transient(api, tts, response):
    api.return_value = response

    with pytest.raises(TransientError) as caught:
        tts.speak(Segment(text="Hello."))

    assert caught.value.status_code == response.status_code
    assert is_transient(caught.value) and api.call_count == 1


@pytest.mark.parametrize("error", [httpx.ReadTimeout("timed out"),
                                   httpx.ConnectError("connection refused")],
                         ids=["timeout", "connection"])
def test_timeouts_and_lost_connections_are_transient(api, tts, error):
    api.side_effect = error

    with pytest.raises(TransientError) as caught:
        tts.speak(Segment(text="Hello."))

    assert is_transient(caught.value) and api.call_count == 1


@pytest.mark.parametrize(("response", "says"), [
    (api_error(401, {"status": "invalid_api_key", "message": "Invalid API key"}),
     "ElevenLabs rejected the API key (401); check AURA_ELEVENLABS__API_KEY"),
    (api_error(401, {"status": "quota_exceeded", "message": "This request exceeds your "
                     "quota of 10000. You have 12 credits remaining, while 57 credits are "
                     "required for this request."}),
     "no character quota left (401): This request exceeds your quota"),
    (api_error(400, {"status": "invalid_request", "message": f"Bad request for key {KEY}."}),
     "ElevenLabs rejected the request (400): Bad request for key [api key]."),
    (api_error(403, {"status": "missing_permissions", "message": "The API key you used is "
                     "missing the permission text_to_speech to execute this operation."}),
     "refused access (403) to text to speech: The API key you used is missing"),
    (api_error(404, {"status": "voice_not_found",
                     "message": f"A voice with voice_id {VOICE} was not found."}),
     f"does not know voice '{VOICE}' or model '{MODEL}' (404)"),
    (api_error(422, [{"type": "less_than_equal", "loc": ["body", "voice_settings", "speed"],
                      "msg": "Input should be less than or equal to 1.2", "input": 1.5}]),
     "rejected the request (422): body.voice_settings.speed: Input should be less than"),
], ids=["401", "401-quota", "400", "403", "404", "422"])
def test_refused_requests_fail_at_once_in_plain_words_without_the_key(api, tts, response,
                                                                      says):
    api.return_value = response

    with pytest.raises(PermanentError) as caught:
        tts.speak(Segment(text="Hello."))

    assert_refused_for_good(caught.value, status_code=response.status_code, secret=KEY,
                            says=says)
    assert api.call_count == 1


# Replies without usable audio or alignment


@pytest.mark.parametrize(("changes", "says"), [
    ({"audio_base64": ""}, "no audio"),
    ({"audio_base64": "bm90IGFuIG1wMw=="}, "cannot be decoded as MP3"),
    ({"audio_base64": "%%%"}, "not valid base64"),
    ({"alignment": None}, "has no alignment"),
    ({"alignment": {**alignment_of("Hello."), "character_end_times_seconds": [0.1]}},
     "6 characters but 6 start and 1 end times"),
    ({"alignment": {**alignment_of("Hello."),
                    "character_start_times_seconds": [0.08, 0.14, 0.1, 0.26, 0.32, 0.38]}},
     "character 2 ('l') starts before the one before it"),
    ({"alignment": {**alignment_of("Hello."),
                    "character_end_times_seconds": [0.2, 0.3, 0.4, 0.5, 0.6, 9.0]}},
     "runs to 9.00 s but the audio lasts"),
    ({"normalized_alignment": {"characters": []}}, "normalized_alignment is broken"),
], ids=["empty-audio", "not-mp3", "not-base64", "no-alignment", "lengths", "backwards",
        "past-the-audio", "normalized"])
def test_a_reply_without_usable_audio_or_alignment_is_transient(api, tts, changes, says):
    api.return_value = speech("Hello.", **changes)

    with pytest.raises(TransientError, match=re.escape(says)) as caught:
        tts.speak(Segment(text="Hello."))

    assert is_transient(caught.value)


def test_a_stand_in_that_does_not_answer_in_time_is_transient(loopback):
    def slow(request: httpx.Request) -> httpx.Response:
        time.sleep(1.0)
        return answering(request)

    loopback.reply = slow
    tts = ElevenLabsTTS(api_key=KEY, voice=VOICE, model_id=MODEL, timeout_s=0.3,
                        base_url=f"http://127.0.0.1:{loopback.server_port}")

    with pytest.raises(TransientError, match="no answer within 0.3 s"):
        tts.speak(Segment(text="Hello."))
    assert len(loopback.requests) == 1


def test_a_reply_that_is_not_json_is_transient(api, tts):
    api.return_value = httpx.Response(200, headers={"content-type": "text/html"},
                                      text="<html><body>Maintenance</body></html>")

    with pytest.raises(TransientError, match="not JSON"):
        tts.speak(Segment(text="Hello."))


# Prefect owns retries


def in_a_flow(tts: ElevenLabsTTS, segment: Segment) -> Utterance:
    """Speak ``segment`` in a Prefect task with the pipeline's policy, inside a flow."""
    @task(name="speak_sentence", **task_options())
    def speak_sentence(segment: Segment) -> Utterance:
        return tts.speak(segment)

    @flow(name="speak_one_sentence")
    def speak_one_sentence(segment: Segment) -> Utterance:
        return speak_sentence(segment)

    return speak_one_sentence(segment)


@pytest.mark.usefixtures("prefect_api")
def test_prefect_retries_a_rate_limited_sentence_with_the_pipeline_policy(loopback):
    loopback.reply = in_turn(busy(), busy("system_busy"))
    tts = ElevenLabsTTS.from_settings(
        settings(base_url=f"http://127.0.0.1:{loopback.server_port}"))

    spoken = in_a_flow(tts, Segment(text="Third time lucky.", emotion="surprise"))

    assert [w.text for w in spoken.words] == ["Third", "time", "lucky"]
    assert len(loopback.requests) == 3
    assert all(r.url.path == ENDPOINT and r.headers["xi-api-key"] == KEY
               for r in loopback.requests)


@pytest.mark.usefixtures("prefect_api")
def test_prefect_does_not_retry_a_rejected_key(loopback):
    loopback.reply = lambda request: api_error(
        401, {"status": "invalid_api_key", "message": "Invalid API key"})
    tts = ElevenLabsTTS.from_settings(
        settings(base_url=f"http://127.0.0.1:{loopback.server_port}"))

    with pytest.raises(PermanentError, match="rejected the API key"):
        in_a_flow(tts, Segment(text="Hello."))
    assert len(loopback.requests) == 1
