"""The teeth strip: cut from a photo that shows teeth, bundled from the astronaut, matched
to other photos' eye whites."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib import cbook
from PIL import Image
from skimage import data

from tasks.avatar.reconstruct import reconstruct_face
from tasks.render.teeth import (
    bundled_strip,
    cut_bundled_strip,
    eye_white,
    match_to_photo,
    reference_white,
    shows_teeth,
    teeth_strip,
)


@pytest.fixture(scope="module")
def hopper() -> tuple[np.ndarray, np.ndarray]:
    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as image:
        photo = np.asarray(image.convert("RGB"))
    return photo, reconstruct_face(photo).landmarks[:, :2].astype(np.float64)


def test_the_bundled_strip_is_what_cutting_the_astronaut_gives():
    strip, white = cut_bundled_strip()
    assert np.abs(strip - bundled_strip()).max() <= 1.0
    assert np.allclose(white, reference_white(), atol=0.5)
    assert shows_teeth(bundled_strip())


def test_a_closed_mouth_shows_no_teeth_to_take(hopper):
    assert not shows_teeth(teeth_strip(*hopper))


def test_teeth_take_the_colour_of_the_photos_eye_whites(hopper):
    photo, points = hopper
    white = eye_white(photo, points)
    assert white is not None and 60 < white.mean() < 255
    matched = match_to_photo(bundled_strip(), white, reference_white())
    teeth = bundled_strip()[..., 3] > 200
    ratio = matched[teeth, :3].mean(axis=0) / np.maximum(bundled_strip()[teeth, :3].mean(axis=0), 1)
    expected = white / reference_white()
    assert np.allclose(ratio, expected, rtol=0.1)


def test_a_photo_whose_eyes_cannot_be_read_keeps_the_strips_colour_dimmed():
    dimmed = match_to_photo(bundled_strip(), None, reference_white())
    assert np.allclose(dimmed[..., :3], 0.85 * bundled_strip()[..., :3])
    assert np.array_equal(dimmed[..., 3], bundled_strip()[..., 3])


def test_the_astronaut_shows_her_own_teeth():
    photo = data.astronaut()
    points = reconstruct_face(photo).landmarks[:, :2].astype(np.float64)
    assert shows_teeth(teeth_strip(photo, points))
