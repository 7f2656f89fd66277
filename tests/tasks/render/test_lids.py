"""Closed lids leave no white of the eye in sight, wherever the mesh put the lids."""

from __future__ import annotations

import cv2
import numpy as np

from tasks.render.lids import ClosedLids

SKIN = (200, 150, 120)
WHITE = (235, 232, 228)
# One eye of eight points: upper lid (0-2), lower lid (3-5), corners (6, 7).
POINTS = np.array([[80, 90], [100, 86], [120, 90], [80, 110], [100, 114], [120, 110],
                   [60, 100], [140, 100]], np.float64)
EYES = (((0, 1, 2), (3, 4, 5), (6, 7)),)


def eye_picture(white_below_the_lid: bool) -> np.ndarray:
    rng = np.random.default_rng(1)
    picture = np.clip(np.array(SKIN) + rng.normal(0, 2, (200, 200, 3)), 0, 255).astype(np.uint8)
    loop = POINTS[[0, 1, 2, 7, 5, 4, 3, 6]].astype(np.int32)
    cv2.fillPoly(picture, [loop], WHITE)
    if white_below_the_lid:  # an eye looking up: white under the mesh's lower lid
        cv2.ellipse(picture, (100, 114), (22, 6), 0, 0, 180, WHITE, -1)
    return picture


def draw(lids: ClosedLids, picture: np.ndarray, blink: float) -> np.ndarray:
    grid_y, grid_x = np.mgrid[0:200, 0:200].astype(np.float32)
    patch = picture.copy()
    lids.draw(patch, grid_x, grid_y, (0, 0), blink)
    return patch


def test_white_under_the_meshs_lower_lid_turns_to_skin_as_the_blink_closes():
    picture = eye_picture(white_below_the_lid=True)
    lids = ClosedLids(picture, POINTS, EYES)
    below = (slice(116, 119), slice(92, 108))
    closed = draw(lids, picture, blink=1.0)
    assert np.abs(closed[below].reshape(-1, 3).mean(axis=0) - SKIN).max() < 15
    assert np.array_equal(draw(lids, picture, blink=0.0), picture)  # open: untouched
    half = draw(lids, picture, blink=0.6)[below].mean()
    assert picture[below].mean() > half > closed[below].mean()


def test_the_eye_itself_and_the_skin_around_it_are_left_to_the_warp():
    picture = eye_picture(white_below_the_lid=True)
    closed = draw(ClosedLids(picture, POINTS, EYES), picture, blink=1.0)
    assert np.array_equal(closed[95:106, 85:116], picture[95:106, 85:116])  # inside the lids
    assert np.array_equal(closed[140:, :], picture[140:, :])


def test_an_eye_whose_lids_the_mesh_found_keeps_all_but_the_ring_at_its_lids():
    picture = eye_picture(white_below_the_lid=False)
    closed = draw(ClosedLids(picture, POINTS, EYES), picture, blink=1.0)
    loop = np.zeros((200, 200), np.uint8)
    cv2.fillPoly(loop, [POINTS[[0, 1, 2, 7, 5, 4, 3, 6]].astype(np.int32)], 1)
    near_the_lids = cv2.dilate(loop, np.ones((9, 9), np.uint8))  # the ring, feathered
    changed = np.abs(closed.astype(int) - picture).max(axis=2) > 1
    assert changed.any() and not (changed & (near_the_lids == 0)).any()


def test_an_eye_without_white_in_sight_is_not_touched():
    picture = eye_picture(white_below_the_lid=False)
    picture[:] = SKIN
    lids = ClosedLids(picture, POINTS, EYES)
    assert lids.box is None
    assert np.array_equal(draw(lids, picture, blink=1.0), picture)
