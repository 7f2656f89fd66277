"""/api/avatars over HTTP, on SQLite and PostgreSQL: stock avatars for everyone, and a
photo that becomes an avatar through the real reconstruct flow, or is refused leaving
nothing behind."""

from __future__ import annotations

import uuid

import cv2
import numpy as np
import pytest
from skimage import data

from core.db import session_scope
from models.tables import ActorDNA
from tests.support.api import ADA, BOB, Api
from tests.support.uploads import (
    astronaut_jpeg,
    cat_png,
    encode,
    group_photo,
    noise,
    one_pixel_png,
    sqlite_only,
    stored_files,
    vowel_wav,
)

pytestmark = pytest.mark.usefixtures("prefect_api")

STOCK = [("Aura", "stock:aura"), ("Ben", "stock:ben"), ("Cleo", "stock:cleo")]


async def create(http, photo: bytes, name: str = "Eileen", user: uuid.UUID = ADA,
                 filename: str = "me.jpg", face: int | str | None = None):  # noqa: ANN001, ANN201
    form = {"name": name} if face is None else {"name": name, "face": str(face)}
    return await http.post("/api/avatars", files={"photo": (filename, photo)},
                           data=form, headers=Api.bearer(user))


async def listed(http, user: uuid.UUID) -> list[tuple[str, str, str]]:  # noqa: ANN001
    response = await http.get("/api/avatars", headers=Api.bearer(user))
    assert response.status_code == 200
    return [(a["name"], a["kind"], a["handle"]) for a in response.json()["items"]]


async def test_a_portrait_becomes_the_callers_avatar_and_goes_with_its_files(api):
    async with api.client() as http:
        response = await create(http, astronaut_jpeg())
        assert response.status_code == 201, response.text
        made = response.json()
        avatar_id = made["avatar_id"]
        files_with_avatar = stored_files()
        got = await http.get(f"/api/avatars/{avatar_id}", headers=api.bearer(ADA))
        photo = await http.get(f"/api/assets/{made['photo_asset_id']}",
                               headers=api.bearer(ADA))
        adas = await listed(http, ADA)
        bobs = await listed(http, BOB)
        deleted = await http.delete(f"/api/avatars/{avatar_id}", headers=api.bearer(ADA))
        gone = await http.get(f"/api/avatars/{avatar_id}", headers=api.bearer(ADA))
        after = await listed(http, ADA)
    (only,) = made["faces"]
    assert made == {"avatar_id": avatar_id, "name": "Eileen", "landmarks": 478,
                    "warnings": [], "photo_asset_id": made["photo_asset_id"], "face": 1,
                    "faces": [{"number": 1, "box": only["box"], "position": "only"}]}
    x0, y0, x1, y1 = only["box"]
    assert 150 < x0 < x1 < 300 and 40 < y0 < y1 < 200  # her face, in the photo's pixels
    assert got.status_code == 200
    assert got.json() | {"created_at": None} == {
        "id": avatar_id, "name": "Eileen", "kind": "photo", "handle": avatar_id,
        "created_at": None, "warnings": [], "photo_asset_id": made["photo_asset_id"]}
    assert photo.json()["kind"] == "photo" and photo.json()["name"] == "me.jpg"
    (photo_key,) = (key for key in files_with_avatar if key.startswith(f"assets/{ADA}/photo/"))
    assert sorted(key.rsplit("/", 2)[0] for key in files_with_avatar - {photo_key}) == [
        "avatars/landmarks", "avatars/texture"]
    assert adas == [(n, "stock", h) for n, h in STOCK] + [("Eileen", "photo", avatar_id)]
    assert bobs == [(n, "stock", h) for n, h in STOCK]
    assert deleted.status_code == 204 and gone.status_code == 404
    assert after == [(n, "stock", h) for n, h in STOCK]
    assert stored_files() == {photo_key}  # the photo stays in the vault until deleted there


async def test_avatars_made_from_one_photo_share_files_until_the_last_is_deleted(api):
    async with api.client() as http:
        adas = (await create(http, astronaut_jpeg(), "Ada's", user=ADA)).json()
        bobs = (await create(http, astronaut_jpeg(), "Bob's", user=BOB)).json()
        shared = {key for key in stored_files() if key.startswith("avatars/")}
        photo_gone = await http.delete(f"/api/assets/{bobs['photo_asset_id']}",
                                       headers=api.bearer(BOB))
        bobs_now = (await http.get(f"/api/avatars/{bobs['avatar_id']}",
                                   headers=api.bearer(BOB))).json()
        by_bob = [await http.get(f"/api/avatars/{adas['avatar_id']}", headers=api.bearer(BOB)),
                  await http.delete(f"/api/avatars/{adas['avatar_id']}",
                                    headers=api.bearer(BOB))]
        await http.delete(f"/api/avatars/{adas['avatar_id']}", headers=api.bearer(ADA))
        left_for_bob = {key for key in stored_files() if key.startswith("avatars/")}
        await http.delete(f"/api/avatars/{bobs['avatar_id']}", headers=api.bearer(BOB))
        left = {key for key in stored_files() if key.startswith("avatars/")}
    assert len(shared) == 2
    assert photo_gone.status_code == 204 and bobs_now["photo_asset_id"] is None
    assert [r.status_code for r in by_bob] == [404, 404]
    assert by_bob[0].json() == {"detail": f"there is no avatar with id {adas['avatar_id']}"}
    assert left_for_bob == shared and left == set()


async def test_an_avatar_whose_request_fails_after_the_flow_is_removed_again(api,
                                                                            monkeypatch):
    async def fail(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the vault is out of order")

    monkeypatch.setattr("api.routers.avatars.record_asset", fail)
    async with api.client() as http:
        with pytest.raises(RuntimeError, match="out of order"):
            await create(http, astronaut_jpeg())
        avatars = await listed(http, ADA)
    assert avatars == [(n, "stock", h) for n, h in STOCK] and stored_files() == set()


def two_faces() -> bytes:
    """The astronaut, and beside her a smaller copy of her (300 px instead of 512)."""
    astronaut = data.astronaut()
    canvas = np.full((512, 832, 3), 255, np.uint8)
    canvas[:, :512] = astronaut
    canvas[100:400, 522:822] = cv2.resize(astronaut, (300, 300), interpolation=cv2.INTER_AREA)
    return encode(canvas)


@sqlite_only
async def test_of_several_faces_the_largest_is_used_with_a_warning(api):
    async with api.client() as http:
        response = await create(http, two_faces(), "Pair")
    assert response.status_code == 201, response.text
    assert response.json()["warnings"] == [
        "found 2 faces: 1 (left, largest, used), 2 (right); another can be chosen by its "
        "number"]
    assert response.json()["face"] == 1 and len(response.json()["faces"]) == 2


def group_jpeg(factor: float = 1.0) -> bytes:
    photo, _ = group_photo()
    return encode(cv2.resize(photo, None, fx=factor, fy=factor,
                             interpolation=cv2.INTER_CUBIC) if factor != 1.0 else photo)


@sqlite_only
async def test_a_face_of_a_group_photo_is_chosen_by_its_number(api):
    _, regions = group_photo()
    factor = 2.0  # 2846 px wide: the working image is smaller, the boxes are not
    async with api.client() as http:
        largest = await create(http, group_jpeg(factor), "Group")
        right = await create(http, group_jpeg(factor), "Right", face=3)
        got = await http.get(f"/api/avatars/{right.json()['avatar_id']}",
                             headers=api.bearer(ADA))
        avatars = await listed(http, ADA)
    assert largest.status_code == 201 and right.status_code == 201, right.text
    made = right.json()
    assert largest.json()["face"] == 2 and made["face"] == 3
    assert largest.json()["warnings"] == [
        "found 3 faces: 1 (left), 2 (middle, largest, used), 3 (right); another can be "
        "chosen by its number"]
    assert made["warnings"] == ["found 3 faces: 1 (left), 2 (middle, largest), 3 (right, used)"]
    assert got.json()["warnings"] == made["warnings"]
    assert [(f["number"], f["position"]) for f in made["faces"]] == [
        (1, "left"), (2, "middle"), (3, "right")]
    for face, region in zip(made["faces"], regions, strict=True):
        x0, y0, x1, y1 = face["box"]
        rx0, ry0, rx1, ry1 = (v * factor for v in region)
        assert rx0 <= x0 < x1 <= rx1 and ry0 <= y0 < y1 <= ry1, (face, region)
    assert [name for name, kind, _ in avatars if kind == "photo"] == ["Group", "Right"]


@sqlite_only
@pytest.mark.parametrize(("face", "says"), [
    (4, "there is no face 4 in the photo: it has 3 faces, numbered 1 to 3 from the left"),
    (0, "greater than or equal to 1"),
    ("two", "valid integer"),
], ids=["beyond", "zero", "not-a-number"])
async def test_a_face_number_that_is_not_there_is_refused_leaving_nothing(api, face, says):
    async with api.client() as http:
        response = await create(http, group_jpeg(), "Nobody", face=face)
        avatars = await listed(http, ADA)
        vault = (await http.get("/api/assets", headers=api.bearer(ADA))).json()
    assert response.status_code == 422, response.text
    assert says in response.text
    assert avatars == [(n, "stock", h) for n, h in STOCK]
    assert vault["total"] == 0 and stored_files() == set()


@sqlite_only
@pytest.mark.parametrize(("filename", "photo", "name", "status", "says"), [
    ("cat.png", cat_png(), "Tom", 422, "no face was found in the photo"),
    ("tiny.png", one_pixel_png(), "Dot", 422, "the photo is 1×1 pixels"),
    ("cut.jpg", astronaut_jpeg()[:5000], "Half", 422, "could not be read as an image"),
    ("photo.jpg", b"just some words, not a face", "Text", 415,
     "the photo is not a type we accept (it seems to be text)"),
    ("noise.jpg", noise(), "Noise", 415, "not a type we accept"),
    ("voice.wav", vowel_wav(), "Voice", 415, "the photo is a WAV audio file, not a picture"),
    ("me.jpg", astronaut_jpeg(), "   ", 422, "the avatar needs a name"),
    ("me.jpg", astronaut_jpeg(), "x" * 201, 422, "name"),
    ("me.jpg", astronaut_jpeg(), "Eve\x00", 422, "name"),
    ("me.jpg", astronaut_jpeg(), "Two\nlines", 422, "name"),
    ("huge.jpg", b"\xff\xd8\xff" + bytes(20 * 1024 * 1024), "Big", 413,
     "the photo is larger than 20 MB"),
], ids=["cat", "1x1", "truncated", "text", "noise", "audio", "blank-name", "long-name",
        "nul-in-name", "newline-in-name", "too-large"])
async def test_a_refused_photo_leaves_no_avatar_asset_or_file(api, filename, photo, name,
                                                              status, says):
    async with api.client() as http:
        response = await create(http, photo, name, filename=filename)
        avatars = await listed(http, ADA)
        vault = (await http.get("/api/assets", headers=api.bearer(ADA))).json()
    assert response.status_code == status, response.text
    assert says in response.text
    assert avatars == [(n, "stock", h) for n, h in STOCK]
    assert vault["total"] == 0 and stored_files() == set()


@sqlite_only
async def test_a_failed_photo_keeps_what_the_vault_already_had(api):
    async with api.client() as http:
        kept = (await http.post("/api/assets", files={"file": ("cat.png", cat_png())},
                                headers=api.bearer(ADA))).json()
        before = stored_files()
        refused = await create(http, cat_png(), "Tom")
        vault = (await http.get("/api/assets", headers=api.bearer(ADA))).json()
    assert refused.status_code == 422
    assert vault["items"] == [kept] and stored_files() == before


async def test_stock_avatars_are_everyones_and_nobody_deletes_them(api):
    async with api.client() as http:
        listing = (await http.get("/api/avatars", headers=api.bearer(BOB))).json()["items"]
        cleo = next(a for a in listing if a["handle"] == "stock:cleo")
        for_ada = await http.get(f"/api/avatars/{cleo['id']}", headers=api.bearer(ADA))
        deleted = await http.delete(f"/api/avatars/{cleo['id']}", headers=api.bearer(ADA))
        still = await listed(http, BOB)
    assert for_ada.status_code == 200 and for_ada.json() == cleo
    assert cleo["kind"] == "stock" and cleo["warnings"] == [] and cleo["photo_asset_id"] is None
    assert deleted.status_code == 403
    assert deleted.json() == {"detail": "stock avatars cannot be deleted"}
    assert still == [(n, "stock", h) for n, h in STOCK]


@sqlite_only
async def test_an_avatar_made_on_the_command_line_is_shared_and_not_deleted(api):
    async with session_scope() as session:
        local = ActorDNA(user_id=None, name="Local", rig={}, neutral_pose={}, style={})
        session.add(local)
    async with api.client() as http:
        deleted = await http.delete(f"/api/avatars/{local.id}", headers=api.bearer(ADA))
        still = await http.get(f"/api/avatars/{local.id}", headers=api.bearer(ADA))
    assert deleted.status_code == 403
    assert "made on the command line" in deleted.json()["detail"]
    assert still.status_code == 200 and still.json()["kind"] == "photo"


@sqlite_only
async def test_unknown_and_malformed_ids_and_missing_fields(api):
    unknown = uuid.UUID(int=7)
    async with api.client() as http:
        answers = [await http.get(f"/api/avatars/{unknown}", headers=api.bearer(ADA)),
                   await http.delete(f"/api/avatars/{unknown}", headers=api.bearer(ADA)),
                   await http.get("/api/avatars/stock:aura", headers=api.bearer(ADA)),
                   await http.delete("/api/avatars/12", headers=api.bearer(ADA)),
                   await http.post("/api/avatars", data={"name": "No photo"},
                                   headers=api.bearer(ADA)),
                   await http.post("/api/avatars", files={"photo": ("a.jpg", b"x")},
                                   headers=api.bearer(ADA)),
                   await http.get("/api/avatars")]
    assert [a.status_code for a in answers] == [404, 404, 422, 422, 422, 422, 401]
