"""/api/voices over HTTP, on SQLite and PostgreSQL: the voice catalogue and the trickster
presets a caller may use (stock and their own, never another user's), and a recording
named as a project voice."""

from __future__ import annotations

import pytest

from core.db import session_scope
from models.effects import save_effect
from tasks.voice.catalogue import STOCK_VOICES, default_voice
from tasks.voice.trickster import PRESETS
from tests.support.api import ADA, BOB
from tests.support.uploads import astronaut_jpeg, sqlite_only, vowel_wav


async def test_the_catalogue_lists_the_stock_voices_and_presets(api):
    async with api.client() as http:
        response = await http.get("/api/voices", headers=api.bearer(ADA))
    assert response.status_code == 200, response.text
    body = response.json()
    names = [voice["name"] for voice in body["voices"]]
    assert names == sorted(STOCK_VOICES)
    assert [v["name"] for v in body["voices"] if v["default"]] == [default_voice().name]
    joe = next(voice for voice in body["voices"] if voice["name"] == "joe-deep")
    assert joe["provider"] == "piper" and joe["effect"] == "deep"
    assert joe["label"].startswith("joe-deep: ")
    effects = {effect["name"]: effect for effect in body["effects"]}
    assert list(effects) == sorted(PRESETS)
    assert effects["chipmunk"] == {"name": "chipmunk", "pitch_semitones": 8.0,
                                   "formant_ratio": 1.3, "tempo_ratio": 1.1, "stock": True}
    assert effects["robot"]["pitch_semitones"] == 0.0  # the defaults fill in
    assert all(effect["stock"] for effect in effects.values())


async def test_a_users_own_presets_are_listed_for_them_alone(api):
    async with api.client() as http:
        await http.get("/api/me", headers=api.bearer(ADA))
        async with session_scope() as session:
            await save_effect(session, "trickster", "squeaky", {"pitch_semitones": 5.0}, ADA)
            await save_effect(session, "trickster", "giant", {"pitch_semitones": -12.0}, ADA)
        adas = (await http.get("/api/voices", headers=api.bearer(ADA))).json()
        bobs = (await http.get("/api/voices", headers=api.bearer(BOB))).json()
    adas_effects = {effect["name"]: effect for effect in adas["effects"]}
    bobs_effects = {effect["name"]: effect for effect in bobs["effects"]}
    assert adas_effects["squeaky"] == {"name": "squeaky", "pitch_semitones": 5.0,
                                       "formant_ratio": 1.0, "tempo_ratio": 1.0,
                                       "stock": False}
    assert adas_effects["giant"]["pitch_semitones"] == -12.0  # theirs replaces stock's
    assert not adas_effects["giant"]["stock"]
    assert "squeaky" not in bobs_effects
    assert bobs_effects["giant"] == {"name": "giant", "pitch_semitones": -8.0,
                                     "formant_ratio": 0.78, "tempo_ratio": 0.9, "stock": True}


async def test_the_catalogue_needs_a_bearer_token(api):
    async with api.client() as http:
        response = await http.get("/api/voices")
    assert response.status_code == 401


@pytest.mark.usefixtures("prefect_api")
async def test_a_recording_is_named_as_a_voice_for_its_owner_alone(api):
    async with api.client() as http:
        uploaded = await http.post("/api/assets", files={"file": ("me.wav", vowel_wav(1.0))},
                                   headers=api.bearer(ADA))
        assert uploaded.status_code == 201, uploaded.text
        asset_id = uploaded.json()["id"]
        adas = await http.get(f"/api/voices/recordings/{asset_id}", headers=api.bearer(ADA))
        bobs = await http.get(f"/api/voices/recordings/{asset_id}", headers=api.bearer(BOB))
        voice = adas.json()["voice"]
        project = await http.post("/api/projects", json={
            "title": "Mine", "settings": {"voice": voice, "effect": "chipmunk"}},
            headers=api.bearer(ADA))
        borrowed = await http.post("/api/projects", json={
            "title": "Not mine", "settings": {"voice": voice}}, headers=api.bearer(BOB))
    assert adas.status_code == 200, adas.text
    assert voice.startswith(f"recording:assets/{ADA}/audio/") and voice.endswith(".wav")
    assert bobs.status_code == 404
    assert project.status_code == 201, project.text
    assert borrowed.status_code == 422  # another's recording cannot be borrowed by its key
    assert "there is no recording" in borrowed.json()["detail"]


@sqlite_only
@pytest.mark.usefixtures("prefect_api")
async def test_a_photo_is_not_a_recording(api):
    async with api.client() as http:
        uploaded = await http.post("/api/assets", files={"file": ("me.jpg", astronaut_jpeg())},
                                   headers=api.bearer(ADA))
        asset_id = uploaded.json()["id"]
        response = await http.get(f"/api/voices/recordings/{asset_id}",
                                  headers=api.bearer(ADA))
    assert response.status_code == 422
    assert "not a recording" in response.json()["detail"]
