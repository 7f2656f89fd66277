"""The photo renderer: a warp of the photo along its face mesh, driven by the rig."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from tasks.avatar.reconstruct import reconstruct_face
from tasks.lipsync.visemes import VISEMES
from tasks.render.photo import (
    INNER_LIP_LOOP,
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
    assert gap.max() > 5  # the astronaut smiles with parted lips
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


def test_only_the_face_region_changes_and_an_open_mouth_shows_a_dark_cavity(astronaut):
    face = PhotoFace(*astronaut, 720, 1280)
    frame = face.base.copy()
    face.draw(pose(jaw_open=0.9), frame)
    x0, y0, x1, y1 = face._roi
    outside = np.ones(frame.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(frame[outside], face.base[outside])
    loop = face.points + face.displacements(pose(jaw_open=0.9))
    inner = loop[list(INNER_LIP_LOOP)].mean(axis=0).round().astype(int)
    assert frame[inner[1] + 3, inner[0]].mean() < 0.6 * face.base[inner[1], inner[0]].mean()


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
