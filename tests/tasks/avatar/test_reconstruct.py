"""Specifications of face reconstruction, measured on real photos (skimage's astronaut,
and a group photo of her beside matplotlib's Grace Hopper).

Landmark indices (REFERENCE.md): eye corners 33/133 (the person's right eye, on the
image's left) and 263/362 (left eye), inner lips 13/14, mouth corners 61/291.
"""

from __future__ import annotations

import io
import math
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from core.errors import InputError
from tasks.avatar import reconstruct
from tasks.avatar.photo import load_photo
from tasks.avatar.reconstruct import (
    FaceBox,
    FaceError,
    FaceMesh,
    estimate_head_pose,
    reconstruct_face,
)
from tests.support.uploads import group_photo

RIGHT_EYE = (33, 133)
LEFT_EYE = (263, 362)
MOUTH = (13, 14, 61, 291)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def astronaut_face(astronaut) -> FaceMesh:
    return reconstruct_face(astronaut)


@pytest.fixture(scope="module")
def group() -> tuple[np.ndarray, tuple[tuple[int, int, int, int], ...]]:
    """The astronaut, Grace Hopper (the largest face) and the astronaut mirrored, side
    by side, with the region each was pasted into (tests/support/uploads.py)."""
    return group_photo()


def centre(mesh: FaceMesh, indices: tuple[int, ...]) -> np.ndarray:
    return mesh.landmarks[list(indices), :2].mean(axis=0)


def assert_upright_face(mesh: FaceMesh) -> None:
    right_eye, left_eye, mouth = (centre(mesh, RIGHT_EYE), centre(mesh, LEFT_EYE),
                                  centre(mesh, MOUTH))
    assert right_eye[0] < mouth[0] < left_eye[0]  # the person's right eye on our left
    assert max(right_eye[1], left_eye[1]) < mouth[1]  # eyes above the mouth


def paste(canvas_size: tuple[int, int], pieces: list[tuple[np.ndarray, int, int]],
          fill: int = 200) -> np.ndarray:
    height, width = canvas_size
    canvas = np.full((height, width, 3), fill, np.uint8)
    for image, left, top in pieces:
        canvas[top:top + image.shape[0], left:left + image.shape[1]] = image
    return canvas


def scaled(image: np.ndarray, factor: float) -> np.ndarray:
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


def inside(box: tuple[float, ...], region: tuple[float, float, float, float]) -> bool:
    x0, y0, x1, y1 = box
    return region[0] <= x0 < x1 <= region[2] and region[1] <= y0 < y1 <= region[3]


def test_the_astronaut_has_478_landmarks_inside_her_face_box(astronaut_face):
    mesh = astronaut_face
    x0, y0, x1, y1 = mesh.face_box

    assert mesh.landmarks.shape == (478, 3) and mesh.landmarks.dtype == np.float32
    xy = mesh.landmarks[:, :2]
    assert (xy[:, 0] >= x0).all() and (xy[:, 0] <= x1).all()
    assert (xy[:, 1] >= y0).all() and (xy[:, 1] <= y1).all()
    # Her face, in the 512 px photo, is about 95 px wide, left of centre and high.
    assert 150 < x0 < x1 < 300 and 40 < y0 < y1 < 200
    assert 70 < x1 - x0 < 130
    assert mesh.n_faces == 1 and mesh.warnings == ()
    assert mesh.face_number == 1 and mesh.faces == (FaceBox(1, mesh.face_box, "only"),)


def test_the_astronaut_eyes_and_mouth_are_where_a_face_has_them(astronaut_face):
    assert_upright_face(astronaut_face)
    eye_distance = np.linalg.norm(centre(astronaut_face, LEFT_EYE)
                                  - centre(astronaut_face, RIGHT_EYE))
    face_width = astronaut_face.face_box[2] - astronaut_face.face_box[0]
    assert 0.3 < eye_distance / face_width < 0.6


def test_the_astronaut_looks_at_the_camera_with_open_eyes_and_a_smile(astronaut_face):
    mesh = astronaut_face
    assert abs(mesh.yaw_deg) < 10 and abs(mesh.roll_deg) < 10
    assert all(0.2 < opening < 0.5 for opening in mesh.eye_opening)
    assert 0.05 < mesh.mouth_opening < 0.5  # she smiles with parted lips


def test_z_is_in_pixels_like_x(astronaut_face):
    nose_tip_z = astronaut_face.landmarks[1, 2]
    eye_corner_z = astronaut_face.landmarks[[33, 263], 2].mean()
    # The nose tip is nearer the camera than the eye corners, by a fraction of the face.
    assert 10 < eye_corner_z - nose_tip_z < 60


def test_the_mesh_cannot_be_changed(astronaut_face):
    with pytest.raises(ValueError):
        astronaut_face.landmarks[0, 0] = 0


@pytest.mark.parametrize(("orientation", "stored_turn_deg"), [(6, 90), (8, 270)])
def test_a_photo_taken_sideways_comes_back_upright(astronaut, orientation, stored_turn_deg):
    stored = Image.fromarray(astronaut).rotate(stored_turn_deg, expand=True)
    exif = stored.getexif()
    exif[0x0112] = orientation
    jpeg = io.BytesIO()
    stored.save(jpeg, "JPEG", exif=exif.tobytes())

    mesh = reconstruct_face(load_photo(jpeg.getvalue()).rgb)

    assert_upright_face(mesh)
    assert abs(mesh.roll_deg) < 10


def test_a_downscaled_photo_keeps_the_face_in_working_pixels(astronaut, astronaut_face):
    big = cv2.resize(astronaut, (3000, 3000), interpolation=cv2.INTER_CUBIC)
    png = io.BytesIO()
    Image.fromarray(big).save(png, "PNG", compress_level=1)
    photo = load_photo(png.getvalue())

    mesh = reconstruct_face(photo.rgb)

    assert (photo.width, photo.height) == (2048, 2048)
    expected = np.array(astronaut_face.face_box) * 3000 / 512 * photo.scale
    np.testing.assert_allclose(mesh.face_box, expected, atol=0.05 * (expected[2] - expected[0]))


def test_a_small_face_in_a_big_photo_is_found(astronaut):
    small = scaled(astronaut, 1.45)  # her face becomes about 140 px wide
    left, top = 300, 1150
    photo = paste((2000, 2000), [(small, left, top)])

    mesh = reconstruct_face(photo)

    region = (left, top, left + small.shape[1], top + small.shape[0])
    assert inside(mesh.face_box, region)
    assert 100 < mesh.face_box[2] - mesh.face_box[0] < 200
    assert_upright_face(mesh)


def test_a_face_of_80_px_in_a_2000_px_photo_is_found(astronaut):
    small = scaled(astronaut, 0.78)  # her face becomes about 75 px wide
    photo = paste((2000, 2000), [(small, 300, 1200)])

    mesh = reconstruct_face(photo)

    assert inside(mesh.face_box, (300, 1200, 300 + small.shape[1], 1200 + small.shape[0]))
    assert_upright_face(mesh)


def test_a_face_filling_the_photo_is_found(astronaut, astronaut_face):
    x0, y0, x1, y1 = (round(v) for v in astronaut_face.face_box)
    close_up = cv2.resize(astronaut[y0 - 8:y1 + 8, x0 - 8:x1 + 8], (600, 700),
                          interpolation=cv2.INTER_CUBIC)

    mesh = reconstruct_face(close_up)

    assert mesh.face_box[2] - mesh.face_box[0] > 400
    assert_upright_face(mesh)


def test_of_two_faces_the_larger_is_used_with_a_warning(astronaut):
    smaller = scaled(astronaut, 0.7)
    photo = paste((1024, 1024), [(astronaut, 0, 0), (smaller, 1024 - smaller.shape[1],
                                                     1024 - smaller.shape[0])], fill=90)

    mesh = reconstruct_face(photo)

    assert mesh.n_faces == 2 and mesh.face_number == 1
    assert mesh.warnings == ("found 2 faces: 1 (left, largest, used), 2 (right); another can "
                             "be chosen by its number",)
    assert inside(mesh.face_box, (0, 0, 512, 512))


def test_the_faces_of_a_group_photo_are_numbered_from_the_left(group):
    photo, regions = group

    mesh = reconstruct_face(photo)

    assert [face.number for face in mesh.faces] == [1, 2, 3]
    assert [face.position for face in mesh.faces] == ["left", "middle", "right"]
    for face, region in zip(mesh.faces, regions, strict=True):
        assert inside(face.box, region), (face, region)
    widths = [face.size_px[0] for face in mesh.faces]
    assert widths[1] > 1.4 * max(widths[0], widths[2])  # Grace Hopper is the largest
    assert min(widths) > 64


def test_by_default_the_largest_face_is_used_and_the_others_are_listed(group):
    photo, regions = group

    mesh = reconstruct_face(photo)

    assert mesh.face_number == 2 and mesh.n_faces == 3
    assert mesh.face_box == mesh.faces[1].box and inside(mesh.face_box, regions[1])
    assert mesh.warnings == ("found 3 faces: 1 (left), 2 (middle, largest, used), 3 (right); "
                             "another can be chosen by its number",)
    assert_upright_face(mesh)


@pytest.mark.parametrize("number", [1, 3])
def test_another_face_is_used_when_chosen_by_its_number(group, number):
    photo, regions = group

    mesh = reconstruct_face(photo, face=number)

    assert mesh.face_number == number
    assert inside(mesh.face_box, regions[number - 1])
    assert_upright_face(mesh)
    assert abs(mesh.yaw_deg) < 15 and abs(mesh.roll_deg) < 10
    used = ["left", "middle, largest", "right"]
    used[number - 1] += ", used"
    assert mesh.warnings == (f"found 3 faces: 1 ({used[0]}), 2 ({used[1]}), 3 ({used[2]})",)


def test_a_chosen_face_is_measured_as_it_is_alone(group, astronaut_face):
    photo, regions = group
    left, top = regions[0][:2]

    mesh = reconstruct_face(photo, face=1)  # the astronaut as she is in her own photo

    shifted = astronaut_face.landmarks[:, :2] + (left, top)
    assert np.abs(mesh.landmarks[:, :2] - shifted).max() < 3


@pytest.mark.parametrize(("photo_of", "number", "says"), [
    ("group", 4, "there is no face 4 in the photo: it has 3 faces, numbered 1 to 3 from the "
                 "left"),
    ("group", 0, "there is no face 0 in the photo: it has 3 faces"),
    ("astronaut", 2, r"there is no face 2 in the photo: it has one face \(face 1\)"),
])
def test_a_face_number_beyond_those_found_is_refused(request, photo_of, number, says):
    photo = request.getfixturevalue(photo_of)
    photo = photo[0] if isinstance(photo, tuple) else photo

    with pytest.raises(FaceError, match=says):
        reconstruct_face(photo, face=number)


def test_the_only_face_can_be_chosen_as_face_1(astronaut, astronaut_face):
    mesh = reconstruct_face(astronaut, face=1)

    np.testing.assert_allclose(mesh.landmarks, astronaut_face.landmarks, atol=1e-3)
    assert mesh.warnings == ()


def beside(landmarks: np.ndarray, dx: float, factor: float = 1.0) -> np.ndarray:
    """The same face moved ``dx`` to the right and scaled about its top-left corner."""
    out = landmarks.copy()
    origin = out[:, :2].min(axis=0)
    out[:, :2] = origin + (out[:, :2] - origin) * factor + (dx, 0)
    out[:, 2] *= factor
    return out


def test_a_group_face_that_cannot_be_used_says_another_may_be_chosen(astronaut,
                                                                     astronaut_face,
                                                                     monkeypatch):
    marks = astronaut_face.landmarks
    faces = [turned(beside(marks, 600, 1.2), 50), beside(marks, 0), beside(marks, 300, 0.4)]
    monkeypatch.setattr(reconstruct, "_find_faces", lambda rgb: [f.copy() for f in faces])

    with pytest.raises(FaceError, match=r"turned too far to the side \(about \d+°\); use a "
                                        r"photo looking at the camera, or choose another of "
                                        r"the 3 faces"):
        reconstruct_face(astronaut)  # the largest, face 3, looks away
    with pytest.raises(FaceError, match=r"the face is only \d+×\d+ pixels; at least 64 .* or "
                                        r"choose another of the 3 faces\)"):
        reconstruct_face(astronaut, face=2)
    mesh = reconstruct_face(astronaut, face=1)
    assert mesh.face_number == 1 and mesh.warnings == (
        "found 3 faces: 1 (left, used), 2 (middle), 3 (right, largest)",)


def test_four_or_more_faces_are_placed_from_far_left_to_far_right(astronaut, astronaut_face,
                                                                  monkeypatch):
    marks = astronaut_face.landmarks
    faces = [beside(marks, dx, 1.3 if dx == 400 else 1.0) for dx in (800, 0, 400, 200, 1000)]
    monkeypatch.setattr(reconstruct, "_find_faces", lambda rgb: [f.copy() for f in faces])

    mesh = reconstruct_face(astronaut)

    assert [f.position for f in mesh.faces] == ["far left", "left", "middle", "right",
                                                "far right"]
    assert mesh.face_number == 3
    assert mesh.warnings[0].startswith("found 5 faces: 1 (far left), 2 (left), 3 (middle, "
                                       "largest, used), 4 (right), 5 (far right); ")


def test_face_errors_are_input_errors():
    assert issubclass(FaceError, InputError)


def test_a_cat_has_no_face():
    with pytest.raises(FaceError, match="no face was found in the photo"):
        reconstruct_face(data.chelsea())


def test_noise_has_no_face():
    noise = np.random.default_rng(7).integers(0, 256, (800, 1200, 3), dtype=np.uint8)

    with pytest.raises(FaceError, match="no face was found in the photo"):
        reconstruct_face(noise)


def test_a_tiny_face_is_too_small_and_its_size_is_given(astronaut):
    photo = paste((2000, 2000), [(scaled(astronaut, 0.6), 300, 1200)])

    with pytest.raises(FaceError, match=r"the face is only \d+×\d+ pixels; at least 64"):
        reconstruct_face(photo)


def test_a_head_tilted_60_degrees_is_refused(astronaut):
    turn = cv2.getRotationMatrix2D((256, 256), 60, 1.0)
    tilted = cv2.warpAffine(astronaut, turn, (512, 512), borderMode=cv2.BORDER_REFLECT)

    with pytest.raises(FaceError, match=r"tilted too far \(about \d+°\)"):
        reconstruct_face(tilted)


def test_a_head_tilted_a_little_is_measured(astronaut, astronaut_face):
    turn = cv2.getRotationMatrix2D((256, 256), 15, 1.0)  # counter-clockwise on screen
    tilted = cv2.warpAffine(astronaut, turn, (512, 512), borderMode=cv2.BORDER_REFLECT)

    mesh = reconstruct_face(tilted)

    assert mesh.roll_deg == pytest.approx(astronaut_face.roll_deg - 15, abs=4)


def turned(landmarks: np.ndarray, yaw_deg: float) -> np.ndarray:
    """The landmarks of the same head turned about the vertical axis."""
    t = math.radians(yaw_deg)
    centre_xyz = landmarks.mean(axis=0)
    d = landmarks - centre_xyz
    out = landmarks.copy()
    out[:, 0] = centre_xyz[0] + d[:, 0] * math.cos(t) - d[:, 2] * math.sin(t)
    out[:, 2] = centre_xyz[2] + d[:, 0] * math.sin(t) + d[:, 2] * math.cos(t)
    return out


@pytest.mark.parametrize("yaw_deg", [-50, -20, 20, 50])
def test_the_head_pose_follows_a_turn_of_the_mesh(astronaut_face, yaw_deg):
    base_yaw, base_roll = estimate_head_pose(astronaut_face.landmarks)

    yaw, roll = estimate_head_pose(turned(astronaut_face.landmarks, yaw_deg))

    assert yaw == pytest.approx(base_yaw + yaw_deg, abs=3)
    assert roll == pytest.approx(base_roll, abs=3)


def test_a_face_turned_far_to_the_side_is_refused(astronaut, astronaut_face, monkeypatch):
    # No turned-away face photo ships with the test data: the mesh is turned instead.
    landmarks = turned(astronaut_face.landmarks, 50)
    monkeypatch.setattr(reconstruct, "_find_faces", lambda rgb: [landmarks.copy()])

    with pytest.raises(FaceError, match=r"turned too far to the side \(about \d+°\); use a "
                                        "photo looking at the camera"):
        reconstruct_face(astronaut)


def test_closed_eyes_are_a_warning_not_an_error(astronaut, astronaut_face, monkeypatch):
    landmarks = astronaut_face.landmarks.copy()
    for upper, lower in ((159, 145), (158, 153), (386, 374), (385, 380)):
        landmarks[upper] = landmarks[lower]  # lids shut
    monkeypatch.setattr(reconstruct, "_find_faces", lambda rgb: [landmarks.copy()])

    mesh = reconstruct_face(astronaut)

    assert max(mesh.eye_opening) < 0.12
    assert mesh.warnings == ("the eyes look closed; a photo with open eyes animates better",)


def test_calls_from_several_threads_agree(astronaut, astronaut_face):
    with ThreadPoolExecutor(max_workers=4) as pool:
        meshes = list(pool.map(reconstruct_face, [astronaut] * 8))

    for mesh in meshes:
        np.testing.assert_allclose(mesh.landmarks, astronaut_face.landmarks, atol=1e-3)


def test_an_image_that_is_not_rgb_uint8_is_a_programming_error(astronaut):
    with pytest.raises(ValueError, match="uint8"):
        reconstruct_face(astronaut[..., 0])
