"""Reading a rendered video back with an independent tracker: dlib's 68-point shape
predictor (the iBUG 300-W layout), which shares nothing with the renderer's MediaPipe rig.

The rig is built from MediaPipe's mesh, so MediaPipe reading its own geometry back is
fooled by it; dlib finds the face again from pixels with another model trained on other
data. Figures follow the iBUG numbering (0-based): jaw 0-16, eyes 36-41 and 42-47, outer
lips 48-59, inner lips 60-67.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

# Inner-lip gap: the three pairs of inner-lip points facing each other across the mouth;
# mouth width: the inner corners (60, 64). RENDERING.md's figures for real speech (p50
# 0.20, p90 0.61 while speaking) are this measure.
_INNER_GAPS = ((61, 67), (62, 66), (63, 65))
_INNER_CORNERS = (60, 64)
# Eye aspect ratio (Soukupova and Cech 2016): (|p2-p6| + |p3-p5|) / (2 |p1-p4|) per eye.
_EYES = (((37, 41), (38, 40), (36, 39)), ((43, 47), (44, 46), (42, 45)))

DETECT_WIDTH_PX = 640
"""Frames are searched for a face at this width (the HOG detector's cost grows with the
pixel count); the shape predictor then runs on the full-size frame."""


@dataclass(frozen=True)
class Reading68:
    """Per video frame: whether dlib found a face, and its 68 points (NaN where none)."""

    fps: float
    width: int
    height: int
    points: np.ndarray
    """(frames, 68, 2) pixel coordinates."""

    @property
    def found(self) -> np.ndarray:
        return ~np.isnan(self.points[:, 0, 0])

    @property
    def mouth_opening(self) -> np.ndarray:
        """Inner-lip gap over inner mouth width, per frame."""
        p = self.points
        gap = np.mean([np.linalg.norm(p[:, a] - p[:, b], axis=1) for a, b in _INNER_GAPS],
                      axis=0)
        return gap / np.linalg.norm(p[:, _INNER_CORNERS[0]] - p[:, _INNER_CORNERS[1]], axis=1)

    @property
    def eye_opening(self) -> np.ndarray:
        """Eye aspect ratio, both eyes averaged, per frame (about 0.25-0.35 open, below
        0.15 shut)."""
        p = self.points

        def dist(a: int, b: int) -> np.ndarray:
            return np.linalg.norm(p[:, a] - p[:, b], axis=1)

        return np.mean([(dist(*u) + dist(*v)) / (2 * dist(*c)) for u, v, c in _EYES], axis=0)


CROP_FACE_PX = 120
"""Crops around the last face are searched with the face at about this size (the detector
finds faces from 80 px up)."""
BOX_JUMP = 0.2
"""A face box whose width changes by more than this share from the last frame's is
searched for again in the whole frame."""


def _models():
    import dlib
    import face_recognition_models

    return (dlib.get_frontal_face_detector(),
            dlib.shape_predictor(face_recognition_models.pose_predictor_model_location()))


def _largest(rects):
    return max(rects, key=lambda r: r.width() * r.height()) if len(rects) else None


def read_face_68(video: Path) -> Reading68:
    """Find the face in every frame of ``video`` and place dlib's 68 points on it.

    Each frame is searched on its own (no tracking that would carry a shape across
    frames): first in a crop around the last face found, which is cheap, then, when that
    fails, in the whole frame scaled to DETECT_WIDTH_PX."""
    import dlib

    detector, predictor = _models()
    frames: list[np.ndarray] = []
    last = None  # the last face's box in full-frame pixels: (left, top, right, bottom)
    crop_zoom = 1.0
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        width, height = stream.codec_context.width, stream.codec_context.height
        for frame in container.decode(stream):
            gray = frame.to_ndarray(format="gray")
            box = _find(detector, gray, last, crop_zoom) if last else None
            if box is None:
                box = _find_in_frame(detector, gray)
                # The crops are searched at one zoom, set by the face of a whole-frame
                # search: a zoom that followed the last box would feed the detector's
                # box size back into the next search (it drifts by 4% a frame).
                crop_zoom = min(1.0, CROP_FACE_PX / max(box[2] - box[0], 1)) if box else 1.0
            if box is None:
                frames.append(np.full((68, 2), np.nan))
                continue
            last = box
            shape = predictor(gray, dlib.rectangle(*box))
            frames.append(np.array([(q.x, q.y) for q in shape.parts()], dtype=float))
    return Reading68(fps=fps, width=width, height=height, points=np.array(frames))


def _find(detector, gray: np.ndarray, last: tuple[int, int, int, int], zoom: float):
    """The face near ``last`` in a crop around it, searched at ``zoom``; None when it is
    not found there or its box jumped (then the whole frame is searched)."""
    h, w = gray.shape
    left, top, right, bottom = last
    side = max(right - left, bottom - top)
    x0, y0 = max(0, left - side), max(0, top - side)
    x1, y1 = min(w, right + side), min(h, bottom + side)
    small = cv2.resize(gray[y0:y1, x0:x1], None, fx=zoom, fy=zoom,
                       interpolation=cv2.INTER_AREA)
    found = _largest(detector(small, 0 if side * zoom >= 80 else 1))
    if found is None:
        return None
    box = (x0 + int(found.left() / zoom), y0 + int(found.top() / zoom),
           x0 + int(found.right() / zoom), y0 + int(found.bottom() / zoom))
    # A head does not grow or shrink by a fifth from one frame to the next: a box that
    # does would misplace every point.
    if abs((box[2] - box[0]) / max(right - left, 1) - 1) > BOX_JUMP:
        return None
    return box


def _find_in_frame(detector, gray: np.ndarray):
    """The largest face in the whole frame, searched at DETECT_WIDTH_PX."""
    zoom = min(1.0, DETECT_WIDTH_PX / gray.shape[1])
    small = cv2.resize(gray, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_AREA)
    found = _largest(detector(small, 1))
    if found is None:
        return None
    return (int(found.left() / zoom), int(found.top() / zoom),
            int(found.right() / zoom), int(found.bottom() / zoom))
