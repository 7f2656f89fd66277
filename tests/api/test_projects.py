"""/api/projects over HTTP, on SQLite and PostgreSQL: a user's scripts and settings."""

from __future__ import annotations

import uuid

import pytest

from tests.support.api import ADA, BOB, Api

SCRIPT = "[joy] Hello there! Today we build a bridge."


async def create(http, user=ADA, **body) -> dict:  # noqa: ANN001
    response = await http.post("/api/projects", json={"title": "Bridge", **body},
                               headers=Api.bearer(user))
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_new_project_is_stored_with_default_settings_and_read_back(api):
    async with api.client() as http:
        made = await create(http, script=SCRIPT)
        assert made["title"] == "Bridge" and made["script"] == SCRIPT
        assert made["settings"]["avatar"] == "stock:aura"
        assert made["settings"]["aspect"] == "9:16" and made["settings"]["voice"] is None
        got = await http.get(f"/api/projects/{made['id']}", headers=api.bearer(ADA))
    assert got.status_code == 200 and got.json() == made


async def test_settings_name_the_avatar_voice_and_look_of_the_video(api):
    settings = {"avatar": "stock:cleo", "voice": "joe-deep", "effect": "robot",
                "aspect": "16:9", "resolution": "1080p", "quality": "high",
                "captions": True, "background": "#1E90FF"}
    async with api.client() as http:
        made = await create(http, settings=settings)
    assert made["settings"] == {**settings, "background": "#1e90ff", "fps": 30}


@pytest.mark.parametrize(("body", "words"), [
    ({"title": ""}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"title": "A", "owner": "someone"}, "owner"),
    ({"title": "A", "script": "x" * 100_001}, "script"),
    ({"title": "A", "settings": {"aspect": "4:3"}}, "aspect"),
    ({"title": "A", "settings": {"background": "blue"}}, "neither a colour"),
    ({"title": "A", "settings": {"fps": 0}}, "fps"),
    ({"title": "A\x00B"}, "title"),
    ({"title": "A", "script": "Hello\x00there."}, "script"),
    ({"title": "A", "settings": {"voice": "joe\x00"}}, "voice"),
])
async def test_a_malformed_project_is_refused_naming_the_field(api, body, words):
    async with api.client() as http:
        response = await http.post("/api/projects", json=body, headers=api.bearer(ADA))
    assert response.status_code == 422
    assert words in response.text


@pytest.mark.parametrize(("settings", "detail"), [
    ({"avatar": "stock:zed"}, "avatar 'stock:zed' does not exist; stock avatars: "),
    ({"avatar": str(uuid.UUID(int=7))}, "does not exist"),
    ({"voice": "nobody"}, "nobody"),
    ({"effect": "kazoo"}, "kazoo"),
])
async def test_an_avatar_voice_or_effect_that_does_not_exist_is_refused(api, settings, detail):
    async with api.client() as http:
        response = await http.post("/api/projects", json={"title": "A", "settings": settings},
                                   headers=api.bearer(ADA))
    assert response.status_code == 422
    assert detail in response.json()["detail"]


async def test_projects_are_listed_newest_change_first_a_page_at_a_time(api):
    async with api.client() as http:
        first = await create(http, title="One")
        await create(http, title="Two")
        await create(http, title="Three")
        await http.patch(f"/api/projects/{first['id']}", json={"script": "Changed."},
                         headers=api.bearer(ADA))
        page = (await http.get("/api/projects?limit=2", headers=api.bearer(ADA))).json()
        rest = (await http.get("/api/projects?limit=2&offset=2",
                               headers=api.bearer(ADA))).json()
        too_big = await http.get("/api/projects?limit=1000", headers=api.bearer(ADA))
    assert [p["title"] for p in page["items"]] == ["One", "Three"]
    assert page["total"] == 3 and page["limit"] == 2 and page["offset"] == 0
    assert [p["title"] for p in rest["items"]] == ["Two"]
    assert too_big.status_code == 422


async def test_an_update_changes_only_the_fields_it_names(api):
    async with api.client() as http:
        made = await create(http, script=SCRIPT)
        changed = await http.patch(f"/api/projects/{made['id']}", json={"title": "Tunnel"},
                                   headers=api.bearer(ADA))
        assert changed.status_code == 200
        assert changed.json()["title"] == "Tunnel" and changed.json()["script"] == SCRIPT
        nulled = await http.patch(f"/api/projects/{made['id']}", json={"script": None},
                                  headers=api.bearer(ADA))
        bad = await http.patch(f"/api/projects/{made['id']}",
                               json={"settings": {"avatar": "stock:zed"}},
                               headers=api.bearer(ADA))
        after = (await http.get(f"/api/projects/{made['id']}", headers=api.bearer(ADA))).json()
    assert nulled.status_code == 422
    assert nulled.json()["detail"] == "script cannot be null; leave a field out to keep it"
    assert bad.status_code == 422
    assert after["script"] == SCRIPT and after["settings"]["avatar"] == "stock:aura"


async def test_a_deleted_project_is_gone(api):
    async with api.client() as http:
        made = await create(http)
        deleted = await http.delete(f"/api/projects/{made['id']}", headers=api.bearer(ADA))
        again = await http.get(f"/api/projects/{made['id']}", headers=api.bearer(ADA))
    assert deleted.status_code == 204 and deleted.content == b""
    assert again.status_code == 404
    assert again.json() == {"detail": f"there is no project with id '{made['id']}'"}


async def test_another_users_project_is_not_found_whatever_is_asked(api):
    async with api.client() as http:
        made = await create(http, user=ADA, script=SCRIPT)
        path = f"/api/projects/{made['id']}"
        answers = [
            await http.get(path, headers=api.bearer(BOB)),
            await http.patch(path, json={"title": "Mine now"}, headers=api.bearer(BOB)),
            await http.delete(path, headers=api.bearer(BOB)),
        ]
        listing = (await http.get("/api/projects", headers=api.bearer(BOB))).json()
        still = await http.get(path, headers=api.bearer(ADA))
    assert [a.status_code for a in answers] == [404, 404, 404]
    unknown = {"detail": f"there is no project with id '{made['id']}'"}
    assert [a.json() for a in answers[:2]] == [unknown, unknown]
    assert listing == {"items": [], "total": 0, "limit": 20, "offset": 0}
    assert still.json()["title"] == "Bridge"


async def test_projects_need_a_token(api):
    async with api.client() as http:
        response = await http.get("/api/projects")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
