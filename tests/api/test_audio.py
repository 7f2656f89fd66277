"""/api/audio/trickster over HTTP, on SQLite and PostgreSQL: a recording in, the real
trickster flow, the bent voice out as a new asset; bad input refused before anything is
stored."""

from __future__ import annotations

import io

import pytest
import soundfile as sf

from core.db import session_scope
from models.effects import save_effect
from tests.support.api import ADA, BOB, Api
from tests.support.audio import median_f0_hz
from tests.support.uploads import (
    astronaut_jpeg,
    silent_wav,
    sqlite_only,
    stored_files,
    vowel_wav,
)

pytestmark = pytest.mark.usefixtures("prefect_api")


async def bend(http, payload: bytes, user=ADA, name: str = "voice.wav",  # noqa: ANN001
               **form: object):  # noqa: ANN201
    return await http.post("/api/audio/trickster", files={"file": (name, payload)},
                           data={key: str(value) for key, value in form.items()},
                           headers=Api.bearer(user))


async def test_a_preset_with_an_explicit_value_on_top_becomes_a_new_asset(api):
    recording = vowel_wav(seconds=2.0)
    async with api.client() as http:
        response = await bend(http, recording, preset="chipmunk", tempo_ratio=1.0)
        assert response.status_code == 201, response.text
        bent = response.json()
        wav = await http.get(bent["url"], headers=api.bearer(ADA))
        vault = (await http.get("/api/assets", headers=api.bearer(ADA))).json()
        again = (await bend(http, recording, preset="chipmunk", tempo_ratio=1.0)).json()
        bobs = await http.get(f"/api/assets/{bent['asset_id']}", headers=api.bearer(BOB))
    params = bent["params"]
    assert (params["pitch_semitones"], params["formant_ratio"], params["tempo_ratio"]) == (
        8.0, 1.3, 1.0)
    assert bent["url"] == f"/api/assets/{bent['asset_id']}/content"
    samples, rate = sf.read(io.BytesIO(wav.content), dtype="float32")
    assert wav.headers["content-type"] == "audio/wav" and rate == 24_000
    assert bent["duration_s"] == pytest.approx(samples.size / rate)
    assert bent["duration_s"] == pytest.approx(2.0, abs=0.05)
    original, original_rate = sf.read(io.BytesIO(recording), dtype="float32")
    assert median_f0_hz(samples, rate) / median_f0_hz(original, original_rate) == (
        pytest.approx(2 ** (8 / 12), rel=0.05))
    assert {(a["id"], a["kind"], a["name"]) for a in vault["items"]} == {
        (bent["source_asset_id"], "audio", "voice.wav"),
        (bent["asset_id"], "audio", "voice (chipmunk).wav")}
    assert again == bent
    assert bobs.status_code == 404


@sqlite_only
async def test_a_users_own_preset_is_theirs_alone(api):
    async with api.client() as http:
        await http.get("/api/me", headers=api.bearer(ADA))
        async with session_scope() as session:
            await save_effect(session, "trickster", "squeaky", {"pitch_semitones": 5.0}, ADA)
        adas = await bend(http, vowel_wav(1.0), ADA, preset="squeaky")
        bobs = await bend(http, vowel_wav(1.0), BOB, preset="squeaky")
    assert adas.status_code == 201 and adas.json()["params"]["pitch_semitones"] == 5.0
    assert bobs.status_code == 422
    assert "there is no effect preset called 'squeaky'" in bobs.json()["detail"]


@sqlite_only
@pytest.mark.parametrize(("name", "payload", "form", "status", "says"), [
    ("voice.wav", vowel_wav(), {"tempo_ratio": 3}, 422, "tempo_ratio"),
    ("voice.wav", vowel_wav(), {"pitch_semitones": -30}, 422, "pitch_semitones"),
    ("voice.wav", vowel_wav(), {"formant_ratio": "nan"}, 422, "formant_ratio"),
    ("voice.wav", vowel_wav(), {"pitch_semitones": "high"}, 422, "pitch_semitones"),
    ("voice.wav", vowel_wav(), {"preset": "goblin"}, 422,
     "there is no effect preset called 'goblin'; choose one of "),
    ("voice.wav", vowel_wav(), {"preset": "ro\x00bot"}, 422, "preset"),
    ("voice.wav", vowel_wav(), {}, 422, "choose an effect: a preset, or at least one of "
                                        "pitch_semitones, formant_ratio, tempo_ratio"),
    ("me.jpg", astronaut_jpeg(), {"preset": "robot"}, 415,
     "the recording is a JPEG image, not an audio file"),
    ("voice.wav", b"la la la, I am singing", {"preset": "robot"}, 415,
     "the recording is not a type we accept (it seems to be text)"),
    ("hush.wav", silent_wav(), {"preset": "robot"}, 422, "is silent"),
    ("cut.wav", vowel_wav()[:44], {"preset": "robot"}, 422, "contains no audio samples"),
    ("empty.wav", b"", {"preset": "robot"}, 422, "the recording is empty"),
    ("long.wav", b"RIFF\x00\x00\x00\x00WAVE" + bytes(50 * 1024 * 1024), {"preset": "robot"},
     413, "the recording is larger than 50 MB"),
], ids=["tempo", "pitch", "nan", "not-a-number", "unknown-preset", "nul-in-preset",
        "no-effect", "photo", "text", "silent", "header-only", "empty", "too-large"])
async def test_bad_input_is_refused_and_nothing_is_stored(api, name, payload, form, status,
                                                          says):
    async with api.client() as http:
        response = await bend(http, payload, name=name, **form)
        vault = (await http.get("/api/assets", headers=api.bearer(ADA))).json()
    assert response.status_code == status, response.text
    assert says in response.text
    assert vault["total"] == 0 and stored_files() == set()
