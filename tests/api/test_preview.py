"""/api/preview over HTTP: a project's live-preview rig data and its signed media links."""

from __future__ import annotations

import uuid

import pytest

from tests.support.api import ADA, BOB, Api, make_project

pytestmark = pytest.mark.usefixtures("prefect_api")

SCRIPT = "[joy] Hello there! [pause 0.5] Today we build a bridge."


async def project(http, user=ADA, script=SCRIPT, **settings) -> str:  # noqa: ANN001
    return await make_project(http, script, user, **settings)


async def preview(http, project_id: str, user=ADA):  # noqa: ANN001
    return await http.post("/api/preview", json={"project_id": project_id},
                           headers=Api.bearer(user))


async def test_a_preview_is_the_mesh_the_channels_and_signed_media(api):
    async with api.client() as http:
        response = await preview(http, await project(http, avatar="stock:cleo"))
        assert response.status_code == 200, response.text
        body = response.json()
        audio = await http.get(body["audio_url"])
        texture = await http.get(body["texture_url"])
        forged = await http.get(body["audio_url"].replace("signature=", "signature=0"))
        bare = await http.get(body["texture_url"].split("?")[0])
        other = await http.get(body["audio_url"].replace("/audio/", "/texture/"))
    assert body["fps"] == 30 and body["n_frames"] == round(body["duration_s"] * 30)
    assert len(body["mesh"]["vertices"]) == 478 * 3 and len(body["mesh"]["uvs"]) == 478 * 2
    assert len(body["mesh"]["triangles"]) % 3 == 0 and max(body["mesh"]["triangles"]) < 478
    jaw = body["channels"][body["mouth_channel"]]
    assert len(jaw["basis"]) == 478 * 3 and len(jaw["weights"]) == body["n_frames"]
    assert max(jaw["weights"]) > 0.3 and "blink" in body["channels"]
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    assert audio.content[:4] == b"RIFF"
    assert texture.status_code == 200 and texture.headers["content-type"] == "image/png"
    assert texture.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert forged.status_code == bare.status_code == other.status_code == 403


async def test_a_photo_avatar_is_previewed_with_its_own_photo_and_landmarks(api):
    from tests.support.uploads import astronaut_jpeg

    async with api.client() as http:
        made = await http.post("/api/avatars", files={"photo": ("me.jpg", astronaut_jpeg())},
                               data={"name": "Eileen"}, headers=Api.bearer(ADA))
        assert made.status_code == 201, made.text
        avatar = (await http.get(f"/api/avatars/{made.json()['avatar_id']}",
                                 headers=Api.bearer(ADA))).json()
        response = await preview(http, await project(http, avatar=avatar["handle"]))
        assert response.status_code == 200, response.text
        body = response.json()
        texture = await http.get(body["texture_url"])
    assert "/avatars/texture/" in body["texture_url"]
    assert texture.headers["content-type"] == "image/png"
    assert body["texture_size"] == [512, 512]
    xs = body["mesh"]["vertices"][0::3]
    assert 0.2 < min(xs) < max(xs) < 0.8  # the face, in the middle of the portrait


async def test_only_the_owner_can_preview(api):
    async with api.client() as http:
        project_id = await project(http)
        stranger = await preview(http, project_id, user=BOB)
        missing = await preview(http, str(uuid.uuid4()))
        anonymous = await http.post("/api/preview", json={"project_id": project_id})
    assert stranger.status_code == missing.status_code == 404
    assert stranger.json()["detail"] == f"there is no project with id '{project_id}'"
    assert anonymous.status_code == 401


@pytest.mark.parametrize(("script", "detail"), [
    ("", "the project has no script to preview"),
    ("  \n ", "the project has no script to preview"),
    ("Fine.\nStill fine. [joy:2] Not fine.",
     "line 2, column 13: intensity 2 in [joy:2] is outside 0..1"),
])
async def test_a_project_that_cannot_be_previewed_is_refused(api, script, detail):
    async with api.client() as http:
        response = await preview(http, await project(http, script=script))
    assert response.status_code == 422
    assert response.json()["detail"] == detail
