"""Backgrounds: a colour or a stored picture behind the stock or photo avatar."""

from __future__ import annotations

import cv2
import numpy as np
import pydantic
import pytest
from skimage import data

from core.errors import InputError
from core.storage import LocalStorage
from models.domain import RenderSpec, check_background
from tasks.avatar.photo import PhotoError
from tasks.render import load_background
from tasks.render.background import backdrop, colour_rgb, cover, person_matte
from tasks.render.photo import PhotoFace
from tasks.render.raster import LOOKS, StockFace
from tasks.render.rig import PoseTrack
from tests.support.avatars import astronaut_face

WIDTH, HEIGHT = 360, 640


def first_frame(drawer) -> np.ndarray:  # noqa: ANN001
    return next(iter(drawer.frames(PoseTrack.still(1, 30))))


@pytest.mark.parametrize(("given", "kept"), [
    (None, None), ("", None), ("#1E90FF", "#1e90ff"), ("#abc", "#aabbcc"),
    (" #102030 ", "#102030"), ("image:uploads/sky.png", "image:uploads/sky.png"),
])
def test_a_background_is_a_colour_a_stored_picture_or_the_avatars_own(given, kept):
    assert check_background(given) == kept
    assert RenderSpec(background=given).background == kept


@pytest.mark.parametrize("given", ["blue", "#12345", "#ggg", "sky.png", "image:../etc/pw"])
def test_anything_else_is_refused_saying_what_is_accepted(given):
    with pytest.raises(pydantic.ValidationError) as caught:
        RenderSpec(background=given)
    message = str(caught.value)
    assert "background" in message or "key" in message


def test_a_colour_backdrop_fills_the_frame_with_that_colour():
    out = backdrop("#1e90ff", WIDTH, HEIGHT)
    assert out.shape == (HEIGHT, WIDTH, 3) and out.dtype == np.uint8
    assert (out == colour_rgb("#1e90ff")).all()
    assert backdrop(None, WIDTH, HEIGHT) is None


def test_a_picture_is_scaled_to_cover_the_frame_and_cropped_in_the_middle():
    picture = np.zeros((100, 400, 3), np.uint8)
    picture[:, 190:210] = 255          # a white stripe in the middle
    out = cover(picture, WIDTH, HEIGHT)
    assert out.shape == (HEIGHT, WIDTH, 3)
    # Scaled by 6.4 to cover the height; the stripe (128 px wide) stays centred.
    row = out[HEIGHT // 2, :, 0]
    assert row[WIDTH // 2] == 255 and row[0] == 0 and row[-1] == 0
    assert abs(np.flatnonzero(row > 128).mean() - WIDTH / 2) < 2


def test_a_stored_picture_backdrop_needs_its_picture():
    with pytest.raises(ValueError, match="needs its picture"):
        backdrop("image:uploads/sky.png", WIDTH, HEIGHT)


def test_the_matte_separates_the_astronaut_from_the_sky_behind_her():
    photo = data.astronaut()
    matte = person_matte(photo)
    assert matte.shape == photo.shape[:2] and matte.dtype == np.float32
    assert matte[130:150, 210:240].mean() > 0.95      # her face
    assert matte[20:80, 400:500].mean() < 0.05        # the backdrop, top right


def test_the_photo_avatar_stands_in_front_of_the_chosen_colour():
    face = astronaut_face()
    plain = first_frame(PhotoFace(face.image_rgb, face.landmarks, WIDTH, HEIGHT))
    green = first_frame(PhotoFace(face.image_rgb, face.landmarks, WIDTH, HEIGHT,
                                  backdrop("#20a040", WIDTH, HEIGHT)))
    drawer = PhotoFace(face.image_rgb, face.landmarks, WIDTH, HEIGHT)
    x, y = drawer.points[4].astype(int)           # the nose tip, in the frame
    assert np.abs(green[y - 5:y + 5, x - 5:x + 5].astype(int)
                  - plain[y - 5:y + 5, x - 5:x + 5]).max() <= 2
    # Beside her head, the photo's backdrop is gone and the colour is there.
    side_x = int(drawer.points[:, 0].max() + 0.4 * drawer.face_h)
    side = green[y - 10:y + 10, min(side_x, WIDTH - 20):min(side_x, WIDTH - 20) + 10]
    assert np.abs(side.astype(int) - (0x20, 0xa0, 0x40)).max() <= 6
    assert np.abs(plain[y - 10:y + 10, min(side_x, WIDTH - 20)].astype(int)
                  - (0x20, 0xa0, 0x40)).max() > 40


def test_the_stock_avatar_is_painted_over_the_picture():
    picture = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    picture[..., 2] = np.linspace(0, 255, WIDTH, dtype=np.uint8)[None, :]
    frame = first_frame(StockFace(WIDTH, HEIGHT, LOOKS["ben"], picture))
    own = first_frame(StockFace(WIDTH, HEIGHT, LOOKS["ben"]))
    assert (frame[:20, :20] == picture[:20, :20]).all()
    assert (frame[HEIGHT // 2 - 30:HEIGHT // 2 + 30, WIDTH // 2 - 10:WIDTH // 2 + 10]
            == own[HEIGHT // 2 - 30:HEIGHT // 2 + 30, WIDTH // 2 - 10:WIDTH // 2 + 10]).all()


def test_a_background_picture_is_read_from_storage(tmp_path):
    storage = LocalStorage(tmp_path)
    png = cv2.imencode(".png", cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR))[1].tobytes()
    storage.put_bytes("uploads/coffee.png", png)
    picture = load_background(storage, "image:uploads/coffee.png")
    assert picture.shape == data.coffee().shape
    assert load_background(storage, "#102030") is None
    assert load_background(storage, None) is None


def test_a_missing_or_broken_background_picture_is_a_clear_input_error(tmp_path):
    storage = LocalStorage(tmp_path)
    with pytest.raises(InputError, match="does not exist; upload it first"):
        load_background(storage, "image:uploads/nothing.png")
    storage.put_bytes("uploads/notes.png", b"these are not pixels")
    with pytest.raises(PhotoError):
        load_background(storage, "image:uploads/notes.png")
