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
    MAX_TINT,
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


def _teeth_gain(matched: np.ndarray) -> np.ndarray:
    teeth = bundled_strip()[..., 3] > 200
    return (matched[teeth, :3].mean(axis=0)
            / np.maximum(bundled_strip()[teeth, :3].mean(axis=0), 1))


def test_teeth_take_the_light_and_colour_cast_of_the_photos_eye_whites():
    white = reference_white() * np.array([0.75, 0.7, 0.65])  # dimmer and a little warmer
    matched = match_to_photo(bundled_strip(), white, reference_white())
    assert np.allclose(_teeth_gain(matched), [0.75, 0.7, 0.65], rtol=0.02)


def test_eyes_read_through_skin_tint_the_teeth_by_at_most_fifteen_percent(hopper):
    # Grace Hopper smiles with narrowed eyes behind glasses: her "eye whites" read as skin.
    photo, points = hopper
    white = eye_white(photo, points)
    assert white is not None and 60 < white.mean() < 255
    gain = _teeth_gain(match_to_photo(bundled_strip(), white, reference_white()))
    tint = gain / gain.mean()
    assert tint.max() <= 1 + MAX_TINT + 0.01 and tint.min() >= 1 - MAX_TINT - 0.01
    assert gain.mean() == pytest.approx((white / reference_white()).mean(), rel=0.05)


def test_a_photo_whose_eyes_cannot_be_read_keeps_the_strips_colour_dimmed():
    dimmed = match_to_photo(bundled_strip(), None, reference_white())
    assert np.allclose(dimmed[..., :3], 0.85 * bundled_strip()[..., :3])
    assert np.array_equal(dimmed[..., 3], bundled_strip()[..., 3])


def test_the_astronaut_shows_her_own_teeth():
    photo = data.astronaut()
    points = reconstruct_face(photo).landmarks[:, :2].astype(np.float64)
    assert shows_teeth(teeth_strip(photo, points))
