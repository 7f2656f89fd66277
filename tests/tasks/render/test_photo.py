"""The photo renderer: a warp of the photo along its face mesh, driven by the rig."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from tasks.avatar.reconstruct import reconstruct_face
from tasks.lipsync.visemes import VISEMES
from tasks.render.photo import (
    EYE_CORNERS,
    GAZE_MIN_SQUEEZE,
    GAZE_TURN_X,
    IRISES,
    LID_CREASES,
    LOWER_INNER_LIP,
    LOWER_LIDS,
    UPPER_INNER_LIP,
    UPPER_LIDS,
    PhotoFace,
    place_face,
)
from tasks.render.rig import POSE_CHANNELS, build_pose_track


@pytest.fixture(scope="module")
def astronaut() -> tuple[np.ndarray, np.ndarray]:
    photo = data.astronaut()
    return photo, reconstruct_face(photo).landmarks


def pose(**values: float) -> np.ndarray:
    row = np.zeros(len(POSE_CHANNELS))
    for name, value in values.items():
        row[POSE_CHANNELS.index(name)] = value
    return row


def test_the_photo_covers_the_frame_with_the_face_centred_and_large(astronaut):
    photo, landmarks = astronaut
    for size in ((720, 1280), (1280, 720), (720, 720)):
        placement = place_face((512, 512), landmarks, size)
        corners = np.array([[0, 0], [512, 512]]) * placement.scale + placement.offset
        assert corners[0, 0] <= 0 and corners[0, 1] <= 0
        assert corners[1, 0] >= size[0] and corners[1, 1] >= size[1]
        face = PhotoFace(photo, landmarks, *size)
        assert face.face_h >= 0.36 * min(size) - 1
        assert abs(face.points[:, 0].mean() - size[0] / 2) < 0.1 * size[0]


def test_parted_lips_close_at_rest_and_open_with_the_jaw(astronaut):
    face = PhotoFace(*astronaut, 720, 1280)
    gap = face.points[list(LOWER_INNER_LIP), 1] - face.points[list(UPPER_INNER_LIP), 1]
    assert gap.max() > 5  # the astronaut smiles with parted lips, showing her teeth
    assert face._interior.own_teeth
    rest = face.points + face.displacements(pose())
    assert np.abs(rest[list(LOWER_INNER_LIP), 1] - rest[list(UPPER_INNER_LIP), 1]).max() < 1e-6
    open_ = face.points + face.displacements(pose(jaw_open=1.0))
    assert (open_[list(LOWER_INNER_LIP[1:-1]), 1] - open_[list(UPPER_INNER_LIP[1:-1]), 1]
            ).min() > 0.05 * face.face_h


def test_pressed_lips_stay_shut_even_when_the_jaw_drops(astronaut):
    face = PhotoFace(*astronaut, 720, 1280)
    shut = face.points + face.displacements(pose(jaw_open=0.6, lips_pressed=1.0))
    assert np.abs(shut[list(LOWER_INNER_LIP), 1] - shut[list(UPPER_INNER_LIP), 1]).max() < 1e-6


def test_a_blink_brings_each_upper_lid_onto_the_lower_one(astronaut):
    face = PhotoFace(*astronaut, 720, 1280)
    closed = face.points + face.displacements(pose(blink=1.0))
    for upper, lower in zip(UPPER_LIDS, LOWER_LIDS, strict=True):
        opening = closed[list(lower), 1] - closed[list(upper), 1]
        assert opening.max() <= 0.0  # met (a hair of overlap)


def test_gaze_turns_both_irises_alike_between_still_lids(astronaut):
    face = PhotoFace(*astronaut, 720, 1280)
    p = face.points
    width = np.mean([np.linalg.norm(p[b] - p[a]) for a, b in EYE_CORNERS])
    # The designed turn, unless the tightest corner (the white between an iris and its
    # corner) leaves less room.
    room = min(min(p[list(iris), 0].min() - p[list(corners), 0].min(),
                   p[list(corners), 0].max() - p[list(iris), 0].max())
               for iris, corners in zip(IRISES, EYE_CORNERS, strict=True))
    turn = min(GAZE_TURN_X * width, (1 - GAZE_MIN_SQUEEZE) * room)
    assert turn > 0.12 * width  # a visible turn for this face
    for gaze_x in (1.0, -1.0):
        moved = p + face.displacements(pose(gaze_x=gaze_x))
        for iris, upper, lower in zip(IRISES, UPPER_LIDS, LOWER_LIDS, strict=True):
            np.testing.assert_allclose(moved[iris[0]] - p[iris[0]], [gaze_x * turn, 0],
                                       atol=0.05 * turn)
            centre = moved[list(iris)].mean(axis=0) - p[list(iris)].mean(axis=0)
            assert centre[0] == pytest.approx(gaze_x * turn, rel=0.1)
            # The lids' edges keep their height (they may slide along themselves).
            lids = list(upper + lower)
            np.testing.assert_allclose(moved[lids, 1], p[lids, 1], atol=1e-9)
    down = p + face.displacements(pose(gaze_y=1.0))
    for iris, upper in zip(IRISES, UPPER_LIDS, strict=True):
        iris_dy = down[iris[0], 1] - p[iris[0], 1]
        lid_dy = down[list(upper), 1] - p[list(upper), 1]
        assert iris_dy > 0.08 * width and 0 < lid_dy.max() < iris_dy  # the lid follows


def test_gaze_moves_the_iris_pixels_and_nothing_away_from_the_eyes(astronaut):
    face = PhotoFace(*astronaut, 720, 1280)
    ahead, turned = face.base.copy(), face.base.copy()
    face.draw(pose(), ahead)
    face.draw(pose(gaze_x=1.0), turned)
    changed = np.abs(turned.astype(int) - ahead).max(axis=-1) > 0
    eyes = face.points[[i for group in UPPER_LIDS + LOWER_LIDS + LID_CREASES for i in group]]
    margin = 0.1 * face.face_h
    (x0, y0), (x1, y1) = (eyes.min(axis=0) - margin).astype(int), (eyes.max(axis=0) + margin
                                                                    ).astype(int)
    near_eyes = np.zeros_like(changed)
    near_eyes[y0:y1, x0:x1] = True
    assert not (changed & ~near_eyes).any()
    turn = face.displacements(pose(gaze_x=1.0))[IRISES[0][0], 0]
    for iris, upper, lower in zip(IRISES, UPPER_LIDS, LOWER_LIDS, strict=True):
        cx, cy = face.points[iris[0]].round().astype(int)
        r = int(0.02 * face.face_h)
        assert changed[cy - r:cy + r, cx - r:cx + r].mean() > 0.5
        # The darkest tenth of the eye (pupil and iris) moves right with the iris.
        lids = face.points[list(upper + lower)]
        box = (*lids.min(axis=0).astype(int), *lids.max(axis=0).astype(int))
        assert darkest_x(turned, box) - darkest_x(ahead, box) == pytest.approx(turn, rel=0.3)


def darkest_x(frame: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Mean column (px, from the box's left) of the darkest tenth of the pixels in a box."""
    x0, y0, x1, y1 = box
    grey = frame[y0:y1, x0:x1].astype(float).mean(axis=-1)
    return float(np.nonzero(grey <= np.percentile(grey, 10))[1].mean())


def test_only_the_face_region_changes_and_an_open_mouth_shows_teeth_above_a_dark_cavity(
        astronaut):
    face = PhotoFace(*astronaut, 720, 1280)
    frame = face.base.copy()
    face.draw(pose(jaw_open=0.9), frame)
    x0, y0, x1, y1 = face._roi
    outside = np.ones(frame.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(frame[outside], face.base[outside])
    moved = face.points + face.displacements(pose(jaw_open=0.9))
    top, bottom = moved[13], moved[14]
    assert bottom[1] - top[1] > 0.1 * face.face_h  # a speech-sized opening
    x = int(round((top[0] + bottom[0]) / 2))
    column = frame[int(top[1]) + 2:int(bottom[1]) - 2, x].astype(float).mean(axis=1)
    upper_third = column[: len(column) // 3]
    assert upper_third.max() > 150  # teeth, just below the upper lip
    assert column[len(column) // 2:].min() < 0.5 * upper_third.max()  # the cavity behind


def test_the_neck_stays_still_while_the_jaw_drops_wide(astronaut):
    face = PhotoFace(*astronaut, 720, 1280)
    frame = face.base.copy()
    face.draw(pose(jaw_open=1.0), frame)
    chin = face.points + face.displacements(pose(jaw_open=1.0))
    below = int(chin[:, 1].max() + 0.15 * face.face_h)  # under the dropped chin: the neck
    assert np.array_equal(frame[below:], face.base[below:])


def test_a_closed_mouth_keeps_the_photos_own_lips_and_borrows_photographed_teeth():
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as image:
        photo = np.asarray(image.convert("RGB"))
    face = PhotoFace(photo, reconstruct_face(photo).landmarks, 720, 1280)
    assert not face._interior.own_teeth
    frame = face.base.copy()
    face.draw(pose(), frame)
    lips = face.points[list(UPPER_INNER_LIP + LOWER_INNER_LIP)]
    (lx0, ly0), (lx1, ly1) = lips.min(axis=0).astype(int) - 4, lips.max(axis=0).astype(int) + 4
    # At rest nothing is painted over the lips: the warp only resamples the photo's
    # pixels where it brings the inner edges together (a painted seam or lip colour would
    # change whole rows of them by tens of levels).
    diff = np.abs(frame[ly0:ly1, lx0:lx1].astype(int) - face.base[ly0:ly1, lx0:lx1].astype(int))
    assert diff.mean() < 1.5 and np.percentile(diff, 99) <= 8, (diff.mean(), diff.max())
    face.draw(pose(jaw_open=0.8), frame)
    moved = face.points + face.displacements(pose(jaw_open=0.8))
    x = int(round(moved[13, 0]))
    column = frame[int(moved[13, 1]) + 2:int(moved[14, 1]) - 2, x].astype(float).mean(axis=1)
    lip = face.base[int(face.points[0, 1]):int(face.points[13, 1]), x].astype(float).mean()
    teeth = column[: len(column) // 3].max()
    assert teeth > lip  # the bundled teeth show, lighter than her lip...
    assert column[len(column) // 2:].min() < 0.5 * teeth  # ...above the dark cavity


def test_frames_follow_the_pose_track(astronaut):
    face = PhotoFace(*astronaut, 720, 720)
    weights = np.zeros((10, len(VISEMES)), np.float32)
    weights[:, VISEMES.index("aa")] = 1.0
    frames = [f.copy() for f in face.frames(build_pose_track(weights, [], 30))]
    assert len(frames) == 10 and frames[0].shape == (720, 720, 3)
    assert frames[0].dtype == np.uint8


def test_a_4k_frame_is_drawn_at_full_size(astronaut):
    from models.domain import RenderSpec

    width, height = RenderSpec(resolution="4k").size_px
    assert (width, height) == (2160, 3840)
    face = PhotoFace(*astronaut, width, height)
    frame = face.base.copy()
    face.draw(pose(jaw_open=0.5, smile=0.5), frame)
    assert frame.shape == (3840, 2160, 3) and face.face_h >= 0.36 * 2160 - 1


def test_quality_picks_the_encoder_effort():
    from tasks.render import encoder_settings

    assert encoder_settings("draft", "veryfast", 20) == ("ultrafast", 26)
    assert encoder_settings("standard", "veryfast", 20) == ("veryfast", 20)
    assert encoder_settings("high", "veryfast", 20) == ("medium", 18)
