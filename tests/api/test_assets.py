"""/api/assets over HTTP, on SQLite and PostgreSQL: the asset vault, with real files."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import pytest

from tests.support.api import ADA, BOB, Api
from tests.support.s3 import TEST_ACCESS_KEY_ID, TEST_REGION, TEST_SECRET_ACCESS_KEY
from tests.support.uploads import (
    astronaut_jpeg,
    cut_mp4,
    noise,
    one_pixel_png,
    silent_wav,
    sqlite_only,
    stored_files,
    tiny_mp4,
    vowel_wav,
)


async def upload(http: httpx.AsyncClient, payload: bytes, name: str = "file.bin",
                 user: uuid.UUID = ADA, **form: str) -> httpx.Response:
    return await http.post("/api/assets", files={"file": (name, payload)}, data=form,
                           headers=Api.bearer(user))


async def test_a_photo_is_stored_by_content_and_read_back(api):
    photo = astronaut_jpeg()
    async with api.client() as http:
        response = await upload(http, photo, "../../etc/passwd\u202e.jpg")
        assert response.status_code == 201, response.text
        made = response.json()
        got = await http.get(f"/api/assets/{made['id']}", headers=api.bearer(ADA))
        content = await http.get(made["url"], headers=api.bearer(ADA))
    sha256 = hashlib.sha256(photo).hexdigest()
    assert made["kind"] == "photo" and made["content_type"] == "image/jpeg"
    assert made["size_bytes"] == len(photo) and made["sha256"] == sha256
    assert made["name"] == "passwd.jpg"
    assert made["url"] == f"/api/assets/{made['id']}/content"
    assert got.status_code == 200 and got.json() == made
    assert content.status_code == 200 and content.content == photo
    assert content.headers["content-type"] == "image/jpeg"
    assert content.headers["content-disposition"] == 'attachment; filename="passwd.jpg"'
    assert content.headers["x-content-type-options"] == "nosniff"
    assert stored_files() == {f"assets/{ADA}/photo/{sha256[:2]}/{sha256}.jpg"}


async def test_the_same_file_twice_is_one_asset(api):
    async with api.client() as http:
        first = (await upload(http, astronaut_jpeg(), "a.jpg")).json()
        again = await upload(http, astronaut_jpeg(), "b.jpg")
        listing = (await http.get("/api/assets", headers=api.bearer(ADA))).json()
    assert again.status_code == 201 and again.json() == first
    assert listing["total"] == 1 and [a["id"] for a in listing["items"]] == [first["id"]]


@sqlite_only
async def test_recordings_and_videos_are_kept_and_listed_by_kind_a_page_at_a_time(api):
    async with api.client() as http:
        wav = await upload(http, vowel_wav(), "take one.wav")
        video = await upload(http, tiny_mp4(), "clip.mp4", kind="video")
        photo = await upload(http, astronaut_jpeg(), "me.jpg")
        audio_only = (await http.get("/api/assets?kind=audio",
                                     headers=api.bearer(ADA))).json()
        page = (await http.get("/api/assets?limit=2", headers=api.bearer(ADA))).json()
        rest = (await http.get("/api/assets?limit=2&offset=2", headers=api.bearer(ADA))).json()
        bad_kind = await http.get("/api/assets?kind=script", headers=api.bearer(ADA))
        too_big = await http.get("/api/assets?limit=1000", headers=api.bearer(ADA))
    assert [r.status_code for r in (wav, video, photo)] == [201, 201, 201]
    assert (wav.json()["kind"], wav.json()["content_type"]) == ("audio", "audio/wav")
    assert (video.json()["kind"], video.json()["content_type"]) == ("video", "video/mp4")
    assert [a["name"] for a in audio_only["items"]] == ["take one.wav"]
    assert audio_only["total"] == 1
    assert page["total"] == 3 and len(page["items"]) == 2 and len(rest["items"]) == 1
    assert {a["id"] for a in page["items"] + rest["items"]} == {
        r.json()["id"] for r in (wav, video, photo)}
    assert bad_kind.status_code == 422 and too_big.status_code == 422


@sqlite_only
@pytest.mark.parametrize(("name", "payload", "form", "status", "says"), [
    ("photo.jpg", b"Dear diary, today I uploaded a text file.", {}, 415,
     "the file is not a type we accept (it seems to be text)"),
    ("noise.png", noise(), {}, 415, "not a type we accept"),
    ("tiny.png", one_pixel_png(), {}, 422, "the photo is 1×1 pixels"),
    ("cut.jpg", astronaut_jpeg()[:5000], {}, 422, "could not be read as an image"),
    ("hush.wav", silent_wav(), {}, 422, "is silent"),
    ("voice.wav", vowel_wav(), {"kind": "photo"}, 415,
     "the photo is a WAV audio file, not a picture"),
    ("empty.jpg", b"", {}, 422, "the file is empty"),
    ("huge.png", b"\x89PNG\r\n\x1a\n" + bytes(20 * 1024 * 1024), {}, 413,
     "the photo is larger than 20 MB"),
    ("cut.mp4", cut_mp4(), {}, 422, "the video could not be read"),
], ids=["text-named-jpg", "noise", "1x1", "truncated-jpeg", "silent", "wrong-kind", "empty",
        "too-large", "truncated-video"])
async def test_a_bad_upload_is_refused_in_plain_words_and_nothing_is_kept(
        api, name, payload, form, status, says):
    async with api.client() as http:
        response = await upload(http, payload, name, **form)
        listing = (await http.get("/api/assets", headers=api.bearer(ADA))).json()
    assert response.status_code == status, response.text
    assert says in response.json()["detail"]
    assert listing["total"] == 0 and stored_files() == set()


async def test_a_deleted_asset_and_its_file_are_gone(api):
    async with api.client() as http:
        made = (await upload(http, vowel_wav(), "me.wav")).json()
        assert len(stored_files()) == 1
        deleted = await http.delete(f"/api/assets/{made['id']}", headers=api.bearer(ADA))
        again = await http.get(f"/api/assets/{made['id']}", headers=api.bearer(ADA))
        content = await http.get(made["url"], headers=api.bearer(ADA))
    assert deleted.status_code == 204 and deleted.content == b""
    assert again.status_code == 404 and content.status_code == 404
    assert again.json() == {"detail": f"there is no asset with id '{made['id']}'"}
    assert stored_files() == set()


async def test_another_users_asset_is_not_found_whatever_is_asked(api):
    async with api.client() as http:
        made = (await upload(http, astronaut_jpeg(), "mine.jpg", user=ADA)).json()
        path = f"/api/assets/{made['id']}"
        answers = [await http.get(path, headers=api.bearer(BOB)),
                   await http.get(f"{path}/content", headers=api.bearer(BOB)),
                   await http.delete(path, headers=api.bearer(BOB))]
        listing = (await http.get("/api/assets", headers=api.bearer(BOB))).json()
        still = await http.get(f"{path}/content", headers=api.bearer(ADA))
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert all(a.json() == {"detail": f"there is no asset with id '{made['id']}'"}
               for a in answers)
    assert listing == {"items": [], "total": 0, "limit": 20, "offset": 0}
    assert still.status_code == 200 and still.content == astronaut_jpeg()


@sqlite_only
async def test_ids_that_are_not_uuids_and_calls_without_a_token_are_refused(api):
    async with api.client() as http:
        answers = [await http.get("/api/assets/not-an-id", headers=api.bearer(ADA)),
                   await http.get("/api/assets/1/content", headers=api.bearer(ADA)),
                   await http.delete("/api/assets/%2e%2e", headers=api.bearer(ADA))]
        anonymous = await http.post("/api/assets", files={"file": ("a.jpg", b"x")})
        no_file = await http.post("/api/assets", data={"kind": "photo"},
                                  headers=api.bearer(ADA))
    assert [a.status_code for a in answers] == [422, 422, 422]
    assert anonymous.status_code == 401 and no_file.status_code == 422


@sqlite_only
async def test_on_s3_the_url_is_presigned_and_the_content_redirects_to_it(
        api, configure, s3_storage, moto_server):
    configure(STORAGE="s3", S3__BUCKET=s3_storage.bucket, S3__ENDPOINT_URL=moto_server,
              S3__REGION=TEST_REGION, S3__ACCESS_KEY_ID=TEST_ACCESS_KEY_ID,
              S3__SECRET_ACCESS_KEY=TEST_SECRET_ACCESS_KEY)
    photo = astronaut_jpeg()
    async with api.client() as http:
        made = (await upload(http, photo, "me.jpg")).json()
        content = await http.get(f"/api/assets/{made['id']}/content", headers=api.bearer(ADA))
    assert made["url"].startswith(f"{moto_server}/{s3_storage.bucket}/assets/{ADA}/photo/")
    assert "X-Amz-Expires=3600" in made["url"]
    assert content.status_code == 307
    async with httpx.AsyncClient() as outside:
        fetched = await outside.get(content.headers["location"])
    assert fetched.status_code == 200 and fetched.content == photo
