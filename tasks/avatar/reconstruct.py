"""Reconstruct: finds the faces in a photo and measures one with MediaPipe's face mesh.

MediaPipe's mesh model expects a face that fills much of its input (REFERENCE.md,
"Visemes and faces"), so faces are found first with MediaPipe face detection (the
full-range model) on the whole working image. Each detected face is cropped with a margin
of one face on every side, the crop is scaled to 512-768 px, meshed (478 points with the
irises), and the points are mapped back to the photo. A box whose crop does not mesh (or
meshes a face that is not in the box) was no face and is dropped. When none meshes, or
several do and all are small for the image (a group photo), a large image is also
searched in overlapping tiles (that finds faces down to about 64 px, which the whole image
misses), and last, when still none is found, the mesh is tried on the whole image (a face
filling the photo) before giving up.

The faces are numbered 1..N from left to right (by the centre of each face's box). The
largest is measured unless another is chosen by its number; when there are several, a
warning lists them all. Meshing is cheap next to the rest (about 6 ms a face on one
core), so every detected face is meshed: that is what tells a face from a badge.

Coordinates are pixels of the image passed in: x to the right, y down, z towards the
back of the head in the same scale as x (MediaPipe's z is relative to the image width).

The MediaPipe graphs are built once per process and are not thread-safe: every use holds
one lock.
"""

from __future__ import annotations

import math
import os
import re
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import cv2
import numpy as np

from core.errors import InputError

# Before mediapipe is imported (lazily, below): glog builds of MediaPipe read this.
os.environ.setdefault("GLOG_minloglevel", "2")
# mediapipe 0.10.14 calls protobuf 4.25's deprecated SymbolDatabase.GetPrototype on every
# process(); only that exact message is silenced (see _silence_protobuf_deprecation).
_PROTOBUF_DEPRECATION = r"SymbolDatabase\.GetPrototype\(\) is deprecated"

N_LANDMARKS = 478
"""468 face-mesh points and 10 iris points (468-477)."""

MIN_FACE_PX = 64
"""The face's box must be at least this long on its short side (working-image pixels)."""

MAX_YAW_DEG = 35.0
"""Faces turned further than this to either side are refused."""

MAX_ROLL_DEG = 30.0
"""Heads tilted further than this towards a shoulder are refused."""

CLOSED_EYE_OPENING = 0.12
"""Below this eye opening (lid gap / eye width) on both eyes the eyes count as closed."""

DETECTION_CONFIDENCE = 0.5
CROP_MARGIN = 1.0
"""Margin around the detected face box, in face-box sizes, on each side of the crop."""

CROP_MIN_PX = 512
CROP_MAX_PX = 768
"""The crop handed to the mesh is scaled so its long side lies in this range."""

_TILE_PX = 768
_TILE_STRIDE_PX = 512  # overlap 256 px: any face up to 256 px lies whole in some tile
_SAME_FACE_IOU = 0.3
_BOX_SLACK = 0.25
"""A mesh belongs to its detection box when the mesh's centre lies in the box widened by
this fraction of its size on each side (a face at the photo's edge, or turned, is boxed
off-centre); a crop's mesh further away is a neighbour's face."""
_SAME_FACE_COVER = 0.6  # a box this much inside another (a face cut by a tile) is that face
_GROUP_FACE_FRACTION = 1 / 6
"""When several faces are found and the largest is shorter than this fraction of a large
image's long side, the image is a group photo and is searched in tiles as well: the
whole-image detector misses faces under about 5% of the image."""

# Landmark indices (REFERENCE.md): eye corners and lids, the person's right eye first.
_RIGHT_EYE = (33, 133, 159, 145, 158, 153)  # outer, inner, upper, lower, upper, lower
_LEFT_EYE = (263, 362, 386, 374, 385, 380)
_MOUTH = (13, 14, 78, 308)  # inner upper, inner lower, inner corners
# (person's right, left): eye corners outer and inner, mouth corners, cheeks.
_SYMMETRIC_PAIRS = ((33, 263), (133, 362), (61, 291), (234, 454))

# What MediaPipe writes to stderr (from C++, past Python) while it builds its graphs.
_NATIVE_NOISE = re.compile(
    r"Created TensorFlow Lite XNNPACK delegate|All log messages before absl::InitializeLog"
    r"|inference_feedback_manager\.cc|Feedback manager requires a model"
)


class FaceError(InputError):
    """No usable face in a photo; the message says why in plain words."""


@dataclass(frozen=True)
class FaceBox:
    """One face found in a photo.

    Attributes:
        number: 1..N, counted from the photo's left (by the centre of the box).
        box: (x0, y0, x1, y1) in pixels, the box around the face's landmarks.
        position: where it is among the faces, in words: "left", "middle", "right" (and
            "far left" / "far right" when there are four or more).
    """

    number: int
    box: tuple[float, float, float, float]
    position: str

    @property
    def size_px(self) -> tuple[int, int]:
        """(width, height) of the box, whole pixels."""
        x0, y0, x1, y1 = self.box
        return math.floor(x1 - x0), math.floor(y1 - y0)

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return (x1 - x0) * (y1 - y0)


@dataclass(frozen=True, eq=False)
class FaceMesh:
    """The face found in a photo, measured.

    Attributes:
        landmarks: read-only float32 array of shape (478, 3): x, y in pixels of the image
            given; z in the same pixel scale as x, smaller is nearer the camera.
        face_box: (x0, y0, x1, y1) in pixels, the box around the landmarks.
        n_faces: how many faces the photo holds (``len(faces)``).
        warnings: plain-language notes, e.g. "found 2 faces: 1 (left, largest, used),
            2 (right); another can be chosen by its number".
        eye_opening: (right, left) eye of the person: lid gap / eye width
            ((|159-145| + |158-153|) / (2 |33-133|)); about 0.25-0.35 when open.
        mouth_opening: inner lip gap / inner mouth width (|13-14| / |78-308|).
        yaw_deg: head turn, positive when the face turns towards the image's right.
        roll_deg: head tilt, positive when the face's right-to-left eye line runs
            down the image (clockwise on screen).
        faces: every face found, numbered from the left (``faces[i].number == i + 1``).
        face_number: the number of the face measured here.
    """

    landmarks: np.ndarray
    face_box: tuple[float, float, float, float]
    n_faces: int
    warnings: tuple[str, ...]
    eye_opening: tuple[float, float]
    mouth_opening: float
    yaw_deg: float
    roll_deg: float
    faces: tuple[FaceBox, ...] = ()
    face_number: int = 1


class _Box(NamedTuple):
    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def area(self) -> float:
        return (self.x1 - self.x0) * (self.y1 - self.y0)


def reconstruct_face(photo_rgb: np.ndarray, face: int | None = None) -> FaceMesh:
    """Find the faces in a photo and measure the face mesh of one of them.

    Args:
        photo_rgb: uint8 array of shape (height, width, 3), RGB; normally
            :attr:`tasks.avatar.photo.Photo.rgb` (at most 2048 px on the long side).
        face: which face to measure, by its number counted from the left (1..N); None
            measures the largest (with a warning listing the others when there are
            several).

    Returns:
        The :class:`FaceMesh`, in pixel coordinates of ``photo_rgb``.

    Raises:
        FaceError: no face, no face numbered ``face``, or the chosen face under
            :data:`MIN_FACE_PX`, or turned or tilted too far to animate.
        ValueError: ``photo_rgb`` is not a uint8 RGB image (a programming error).
    """
    if photo_rgb.dtype != np.uint8 or photo_rgb.ndim != 3 or photo_rgb.shape[2] != 3:
        raise ValueError(f"expected a uint8 (height, width, 3) RGB image, got "
                         f"{photo_rgb.dtype} {photo_rgb.shape}")
    rgb = np.ascontiguousarray(photo_rgb)
    _silence_protobuf_deprecation()
    with _lock:
        found = _find_faces(rgb)
    if not found:
        raise FaceError("no face was found in the photo; use a photo where one face is "
                        "clearly visible")
    found.sort(key=lambda marks: _centre(_landmark_box(marks)))
    faces = _number_faces([_landmark_box(marks) for marks in found])
    largest = max(faces, key=lambda f: f.area).number
    n_faces = len(faces)
    if face is None:
        number = largest
    elif not 1 <= face <= n_faces:
        raise FaceError(_no_such_face(face, n_faces))
    else:
        number = face
    notes = [_faces_note(faces, number, largest, chosen=face is not None)] if n_faces > 1 else []
    other = f", or choose another of the {n_faces} faces" if n_faces > 1 else ""
    landmarks = found[number - 1]
    x0, y0, x1, y1 = _landmark_box(landmarks)
    _check_face_size(x1 - x0, y1 - y0, other)
    yaw_deg, roll_deg = estimate_head_pose(landmarks)
    if abs(yaw_deg) > MAX_YAW_DEG:
        raise FaceError(f"the face is turned too far to the side (about {abs(yaw_deg):.0f}°); "
                        f"use a photo looking at the camera{other}")
    if abs(roll_deg) > MAX_ROLL_DEG:
        raise FaceError(f"the head is tilted too far (about {abs(roll_deg):.0f}°); use a "
                        f"photo looking at the camera with the head upright{other}")
    eyes = (_eye_opening(landmarks, _RIGHT_EYE), _eye_opening(landmarks, _LEFT_EYE))
    if max(eyes) < CLOSED_EYE_OPENING:
        notes.append("the eyes look closed; a photo with open eyes animates better")
    landmarks.flags.writeable = False
    return FaceMesh(landmarks=landmarks, face_box=(x0, y0, x1, y1), n_faces=n_faces,
                    warnings=tuple(notes), eye_opening=eyes,
                    mouth_opening=_mouth_opening(landmarks), yaw_deg=yaw_deg,
                    roll_deg=roll_deg, faces=faces, face_number=number)


def _landmark_box(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    x0, y0 = landmarks[:, :2].min(axis=0)
    x1, y1 = landmarks[:, :2].max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def _centre(box: tuple[float, float, float, float]) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _number_faces(boxes: list[tuple[float, float, float, float]]) -> tuple[FaceBox, ...]:
    """FaceBoxes for boxes already in order from the left, with their positions."""
    n = len(boxes)
    if n == 1:
        return (FaceBox(1, boxes[0], "only"),)
    left = min(box[0] for box in boxes)
    right = max(box[2] for box in boxes)
    faces = []
    for i, box in enumerate(boxes):
        if i == 0:
            position = "far left" if n >= 4 else "left"
        elif i == n - 1:
            position = "far right" if n >= 4 else "right"
        elif n == 3:
            position = "middle"
        else:  # by thirds of the span the faces cover
            at = (_centre(box)[0] - left) / max(right - left, 1e-6)
            position = "left" if at < 1 / 3 else "right" if at > 2 / 3 else "middle"
        faces.append(FaceBox(i + 1, box, position))
    return tuple(faces)


def _faces_note(faces: tuple[FaceBox, ...], number: int, largest: int, *,
                chosen: bool) -> str:
    """E.g. "found 3 faces: 1 (left), 2 (middle, largest, used), 3 (right); another can
    be chosen by its number"."""
    listed = []
    for f in faces:
        words = [f.position] + ["largest"] * (f.number == largest) + ["used"] * (
            f.number == number)
        listed.append(f"{f.number} ({', '.join(words)})")
    note = f"found {len(faces)} faces: {', '.join(listed)}"
    return note if chosen else note + "; another can be chosen by its number"


def _no_such_face(face: int, n_faces: int) -> str:
    if n_faces == 1:
        return f"there is no face {face} in the photo: it has one face (face 1)"
    return (f"there is no face {face} in the photo: it has {n_faces} faces, numbered 1 to "
            f"{n_faces} from the left")


def estimate_head_pose(landmarks: np.ndarray) -> tuple[float, float]:
    """Yaw and roll of a face mesh in degrees, from the mesh's own 3D points.

    The face's left-right axis is the sum of the vectors from the person's right to left
    eye corners, mouth corners and cheeks; roll is its angle in the image, yaw how far it
    leans in depth (MediaPipe's z). Several pairs average out the jitter of any one.

    Args:
        landmarks: float array of shape (478, 3) or (468, 3); x, y, z in one scale.

    Returns:
        (yaw_deg, roll_deg), signed as documented on :class:`FaceMesh`.
    """
    points = landmarks.astype(np.float64)
    right, left = np.array(_SYMMETRIC_PAIRS).T
    across = (points[left] - points[right]).sum(axis=0)
    norm = float(np.linalg.norm(across))
    if norm == 0.0:
        return 0.0, 0.0
    dx, dy, dz = across / norm
    return math.degrees(math.asin(dz)), math.degrees(math.atan2(dy, dx))


_lock = threading.Lock()  # the MediaPipe graphs are built once and are not thread-safe
_graphs: tuple[Any, Any] | None = None


def _silence_protobuf_deprecation() -> None:
    """Add the warning filter for MediaPipe's protobuf call unless it is in place.

    Checked on every call rather than once at import because code that wraps work in
    ``warnings.catch_warnings()`` (pytest does, per test) throws filters away afterwards.
    """
    for action, message, category, _module, _lineno in warnings.filters:
        if (action == "ignore" and category is UserWarning and message is not None
                and message.pattern == _PROTOBUF_DEPRECATION):
            return
    warnings.filterwarnings("ignore", message=_PROTOBUF_DEPRECATION, category=UserWarning)


def _models() -> tuple[Any, Any]:
    """The face detector and face mesh, built on first use (call with ``_lock`` held)."""
    global _graphs
    if _graphs is None:
        with _native_noise_filtered():
            import mediapipe as mp

            detector = mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=DETECTION_CONFIDENCE)
            mesher = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True, refine_landmarks=True, max_num_faces=1,
                min_detection_confidence=DETECTION_CONFIDENCE)
            # The graphs open their models on worker threads; one run makes sure they
            # have (and have logged) before stderr is handed back.
            blank = np.zeros((64, 64, 3), np.uint8)
            detector.process(blank)
            mesher.process(blank)
        _graphs = (detector, mesher)
    return _graphs


@contextmanager
def _native_noise_filtered() -> Iterator[None]:
    """Hold back what is written to file descriptor 2 meanwhile; pass on all but noise.

    MediaPipe's C++ logging (absl) ignores GLOG_minloglevel and Python's warnings, so
    its start-up chatter is caught at the descriptor and every other line, including
    errors and anything other threads wrote, is written out afterwards.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable descriptor 2: nothing to do
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            held.seek(0)
            lines = held.read().decode(errors="replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not _NATIVE_NOISE.search(line))
            if kept:
                os.write(2, kept.encode())


def _find_faces(rgb: np.ndarray) -> list[np.ndarray]:
    """The landmarks of every face in the photo, in no particular order.

    Call with ``_lock`` held. Every detection box is meshed: one whose crop does not mesh,
    or meshes a face that is not in the box, was not a face (the full-range detector now
    and then boxes a badge or a patterned shirt). Raises :class:`FaceError` when faces
    were seen but none could be measured because they are too small.
    """
    detector, mesher = _models()
    tried: list[_Box] = []
    faces = _mesh_boxes(mesher, rgb, _detect_in(detector, rgb, 0, 0), [], tried)
    if max(rgb.shape[:2]) > _TILE_PX and (not faces or _is_group(rgb, faces)):
        boxes = [box for box in _detect_in_tiles(detector, rgb)
                 if all(_iou(box, other) < _SAME_FACE_IOU for other in tried)]
        faces = _mesh_boxes(mesher, rgb, boxes, faces, tried)
    if not faces:
        landmarks = _mesh_region(mesher, rgb, 0, 0, rgb.shape[1], rgb.shape[0])
        if landmarks is not None:
            faces = [landmarks]
    if not faces and tried:
        # A face was seen but could not be measured: most often because it is tiny.
        largest = max(tried, key=lambda box: box.area)
        _check_face_size(largest.x1 - largest.x0, largest.y1 - largest.y0)
    return faces


def _is_group(rgb: np.ndarray, faces: list[np.ndarray]) -> bool:
    """Several faces, all small for the image: a group photo, where the whole-image
    detector may have missed more (a single small face is not searched further, so a
    portrait taken from afar costs no more than before)."""
    boxes = [_landmark_box(marks) for marks in faces]
    largest = max(min(x1 - x0, y1 - y0) for x0, y0, x1, y1 in boxes)
    return len(faces) > 1 and largest < max(rgb.shape[:2]) * _GROUP_FACE_FRACTION


def _mesh_boxes(mesher: Any, rgb: np.ndarray, boxes: list[_Box], faces: list[np.ndarray],
                tried: list[_Box]) -> list[np.ndarray]:
    """``faces`` and the faces in ``boxes`` that mesh and are not among them already."""
    faces = list(faces)
    known = [_Box(*_landmark_box(marks), 1.0) for marks in faces]
    for box in sorted(boxes, key=lambda box: box.area, reverse=True):
        if any(_same_face(box, other) for other in known):
            continue  # a face measured already (boxed twice, or cut by a tile)
        tried.append(box)
        landmarks = _mesh_around(mesher, rgb, box)
        if landmarks is None:
            continue
        marks_box = _Box(*_landmark_box(landmarks), box.score)
        cx, cy = _centre(marks_box[:4])
        slack_x = _BOX_SLACK * (box.x1 - box.x0)
        slack_y = _BOX_SLACK * (box.y1 - box.y0)
        if not (box.x0 - slack_x <= cx <= box.x1 + slack_x
                and box.y0 - slack_y <= cy <= box.y1 + slack_y):
            continue  # the crop's face is a neighbour's: this box was no face
        if any(_same_face(marks_box, other) for other in known):
            continue
        faces.append(landmarks)
        known.append(marks_box)
    return faces


def _same_face(a: _Box, b: _Box) -> bool:
    """Boxes that overlap much, or one mostly inside the other (a face cut by a tile)."""
    if _iou(a, b) >= _SAME_FACE_IOU:
        return True
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w > 0 and h > 0 and w * h >= _SAME_FACE_COVER * min(a.area, b.area)


def _detect_in_tiles(detector: Any, rgb: np.ndarray) -> list[_Box]:
    """Faces too small for detection on the whole image, found in overlapping tiles."""
    height, width = rgb.shape[:2]
    boxes: list[_Box] = []
    for top in _tile_starts(height):
        for left in _tile_starts(width):
            tile = np.ascontiguousarray(rgb[top:top + _TILE_PX, left:left + _TILE_PX])
            boxes += _detect_in(detector, tile, left, top)
    return _distinct(boxes)


def _tile_starts(length: int) -> list[int]:
    if length <= _TILE_PX:
        return [0]
    starts = list(range(0, length - _TILE_PX, _TILE_STRIDE_PX))
    return [*starts, length - _TILE_PX]


def _detect_in(detector: Any, rgb: np.ndarray, left: int, top: int) -> list[_Box]:
    height, width = rgb.shape[:2]
    result = detector.process(rgb)
    boxes = []
    for detection in result.detections or ():
        rel = detection.location_data.relative_bounding_box
        x0 = max(0.0, rel.xmin) * width
        y0 = max(0.0, rel.ymin) * height
        x1 = min(1.0, rel.xmin + rel.width) * width
        y1 = min(1.0, rel.ymin + rel.height) * height
        if x1 > x0 and y1 > y0:
            boxes.append(_Box(x0 + left, y0 + top, x1 + left, y1 + top,
                              float(detection.score[0])))
    return boxes


def _distinct(boxes: list[_Box]) -> list[_Box]:
    """One box per face: of overlapping boxes (from overlapping tiles) the surest."""
    kept: list[_Box] = []
    for box in sorted(boxes, key=lambda b: b.score, reverse=True):
        if all(_iou(box, other) < _SAME_FACE_IOU for other in kept):
            kept.append(box)
    return kept


def _iou(a: _Box, b: _Box) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (a.area + b.area - inter)


def _mesh_around(mesher: Any, rgb: np.ndarray, face: _Box) -> np.ndarray | None:
    """Mesh a square crop around a detected face, CROP_MARGIN face sizes on each side."""
    height, width = rgb.shape[:2]
    side = max(face.x1 - face.x0, face.y1 - face.y0) * (1.0 + 2.0 * CROP_MARGIN)
    cx, cy = (face.x0 + face.x1) / 2, (face.y0 + face.y1) / 2
    x0, y0 = max(0, math.floor(cx - side / 2)), max(0, math.floor(cy - side / 2))
    x1, y1 = min(width, math.ceil(cx + side / 2)), min(height, math.ceil(cy + side / 2))
    return _mesh_region(mesher, rgb, x0, y0, x1, y1)


def _mesh_region(mesher: Any, rgb: np.ndarray, x0: int, y0: int, x1: int,
                 y1: int) -> np.ndarray | None:
    """Mesh rgb[y0:y1, x0:x1] scaled to CROP_MIN_PX-CROP_MAX_PX; points in rgb's pixels."""
    crop = rgb[y0:y1, x0:x1]
    long_side = max(crop.shape[:2])
    factor = min(max(long_side, CROP_MIN_PX), CROP_MAX_PX) / long_side
    if factor != 1.0:
        size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if factor < 1 else
                          cv2.INTER_CUBIC)
    crop = np.ascontiguousarray(crop)
    result = mesher.process(crop)
    if not result.multi_face_landmarks:
        return None
    points = result.multi_face_landmarks[0].landmark
    norm = np.array([(p.x, p.y, p.z) for p in points], dtype=np.float64)
    crop_h, crop_w = crop.shape[:2]
    # z is relative to the crop's width, like x; dividing by the same factor keeps the
    # scales equal in the photo's pixels.
    landmarks = np.empty((len(points), 3), dtype=np.float32)
    landmarks[:, 0] = norm[:, 0] * crop_w / factor + x0
    landmarks[:, 1] = norm[:, 1] * crop_h / factor + y0
    landmarks[:, 2] = norm[:, 2] * crop_w / factor
    if landmarks.shape[0] != N_LANDMARKS:
        raise RuntimeError(f"the face mesh gave {landmarks.shape[0]} points, not "
                           f"{N_LANDMARKS}; is refine_landmarks on?")
    return landmarks


def _check_face_size(width_px: float, height_px: float, other: str = "") -> None:
    if min(width_px, height_px) < MIN_FACE_PX:
        raise FaceError(f"the face is only {math.floor(width_px)}×{math.floor(height_px)} "
                        f"pixels; at least "
                        f"{MIN_FACE_PX} on its short side is needed (use a photo taken closer "
                        f"or at a higher resolution{other})")


def _distance(landmarks: np.ndarray, a: int, b: int) -> float:
    return float(np.linalg.norm(landmarks[a, :2] - landmarks[b, :2]))


def _eye_opening(landmarks: np.ndarray, eye: tuple[int, ...]) -> float:
    """(|upper-lower| + |upper2-lower2|) / (2 |outer-inner|), in the image plane."""
    outer, inner, up1, low1, up2, low2 = eye
    width = _distance(landmarks, outer, inner)
    if width == 0.0:
        return 0.0
    return (_distance(landmarks, up1, low1) + _distance(landmarks, up2, low2)) / (2 * width)


def _mouth_opening(landmarks: np.ndarray) -> float:
    """|13-14| / |78-308|: inner lip gap over inner mouth width."""
    upper, lower, right, left = _MOUTH
    width = _distance(landmarks, right, left)
    return _distance(landmarks, upper, lower) / width if width else 0.0
