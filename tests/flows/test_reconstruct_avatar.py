"""The reconstruct-avatar flow: a photo becomes an actor_dna row with its files, or
fails in plain words leaving nothing behind; a photo avatar then renders."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data
from sqlalchemy import func, select

from core.db import session_scope
from core.storage import get_storage
from flows.reconstruct_avatar import reconstruct_avatar
from flows.script_to_video import script_to_video
from models.domain import RenderSpec
from models.schema import upgrade_database
from models.tables import ActorDNA
from tasks.avatar.actors import get_actor, load_face
from tasks.avatar.photo import PhotoError
from tasks.avatar.reconstruct import FaceError
from tests.support.media import probe_mp4
from tests.support.uploads import group_photo

pytestmark = pytest.mark.usefixtures("prefect_api")


def png(rgb: np.ndarray) -> bytes:
    return cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


@pytest.fixture
async def store(configure):
    configure()
    await upgrade_database()

    def put(payload: bytes, name: str = "photo") -> str:
        key = f"uploads/test/{name}"
        get_storage().put_bytes(key, payload, "application/octet-stream")
        return key

    return put


def stored_files() -> set[str]:
    root = get_storage().root  # type: ignore[attr-defined]
    return {str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file()}


async def test_a_portrait_becomes_an_avatar_with_its_face_stored(store, tmp_path):
    created = await reconstruct_avatar(store(png(data.astronaut())), "Eileen")
    assert created.landmarks == 478 and created.name == "Eileen"
    async with session_scope() as session:
        row = await get_actor(session, created.avatar_id)
    face = load_face(get_storage(), row)
    assert face.image_rgb.shape == (512, 512, 3) and face.landmarks.shape == (478, 3)
    assert row.rig["kind"] == "photo-warp" and 0.2 < row.neutral_pose["eye_opening"][0] < 0.5

    result = await script_to_video("[joy] Hi, I am Eileen!", RenderSpec(
        aspect="1:1", avatar=str(created.avatar_id)))
    video = tmp_path / "eileen.mp4"
    get_storage().download(result.video.key, video)
    facts = probe_mp4(video)
    assert (facts.width, facts.height) == (720, 720) and facts.video_codec == "h264"


@pytest.mark.parametrize(("payload", "error", "says"), [
    (png(data.chelsea()), FaceError, "no face was found"),
    (png(np.zeros((1, 1, 3), np.uint8)), PhotoError, "1×1 pixels"),
    (b"not a photo at all", PhotoError, "not a photo"),
    (png(data.astronaut())[:2000], PhotoError, "could not be read as an image"),
], ids=["cat", "1x1", "text", "truncated"])
async def test_a_bad_photo_fails_in_plain_words_and_leaves_nothing(store, payload, error,
                                                                    says):
    key = store(payload, "bad")
    before = stored_files()
    with pytest.raises(error, match=says):
        await reconstruct_avatar(key, "nope")
    assert stored_files() == before
    async with session_scope() as session:
        assert await session.scalar(select(func.count()).select_from(ActorDNA)) == 0


async def test_a_chosen_face_of_a_group_photo_is_the_one_stored(store):
    photo, regions = group_photo()
    key = store(png(photo), "group")

    largest = await reconstruct_avatar(key, "Largest")
    right = await reconstruct_avatar(key, "Right", face=3)
    async with session_scope() as session:
        rows = [await get_actor(session, made.avatar_id) for made in (largest, right)]

    assert (largest.face, right.face) == (2, 3)
    assert [f.number for f in right.faces] == [1, 2, 3] and right.faces == largest.faces
    assert [f.position for f in right.faces] == ["left", "middle", "right"]
    for found, (x0, y0, x1, y1) in zip(right.faces, regions, strict=True):
        assert x0 <= found.box[0] < found.box[2] <= x1 and y0 <= found.box[1] < found.box[3] <= y1
    assert largest.warnings[0].startswith("found 3 faces: 1 (left), 2 (middle, largest, used)")
    assert right.warnings == ["found 3 faces: 1 (left), 2 (middle, largest), 3 (right, used)"]
    assert [(r.neutral_pose["face_number"], r.neutral_pose["n_faces"]) for r in rows] == [
        (2, 3), (3, 3)]
    x0, _, x1, _ = rows[1].neutral_pose["face_box"]
    assert regions[2][0] <= x0 < x1 <= regions[2][2]
    marks = load_face(get_storage(), rows[1]).landmarks
    assert regions[2][0] <= marks[:, 0].min() and marks[:, 0].max() <= regions[2][2]


async def test_a_face_number_beyond_those_found_fails_and_leaves_nothing(store):
    key = store(png(group_photo()[0]), "group")
    before = stored_files()
    with pytest.raises(FaceError, match="there is no face 4 in the photo: it has 3 faces"):
        await reconstruct_avatar(key, "Nobody", face=4)
    assert stored_files() == before
    async with session_scope() as session:
        assert await session.scalar(select(func.count()).select_from(ActorDNA)) == 0


async def test_the_stock_avatars_are_actor_dna_rows_that_render(store, tmp_path):
    from tasks.avatar.actors import sync_stock_actors

    async with session_scope() as session:
        stock = await sync_stock_actors(session)
        again = await sync_stock_actors(session)
    assert [row.name for row in stock] == ["Aura", "Ben", "Cleo"]
    assert [row.id for row in again] == [row.id for row in stock]
    assert all(row.is_stock and row.rig["kind"] == "drawn" for row in stock)

    result = await script_to_video("Hello there.", RenderSpec(aspect="1:1",
                                                              avatar=str(stock[2].id)))
    video = tmp_path / "cleo.mp4"
    get_storage().download(result.video.key, video)
    assert probe_mp4(video).width == 720
