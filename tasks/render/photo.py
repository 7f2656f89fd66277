"""Photo avatars: a person's photo, animated by warping it along its face mesh.

The approach of RENDERING.md, measured to cost a few milliseconds a frame:

1. **Once.** The photo is placed in the frame (cover fit, face centred); its 478 MediaPipe
   landmarks and a ring of fixed anchor points around the face are triangulated
   (Delaunay), and every pixel of the face's region of interest (ROI) gets the triangle
   that contains it and its barycentric weights: a sparse matrix **B** (ROI pixels ×
   points) that interpolates landmark displacements to pixels.
2. **Rig shapes** are landmark displacement fields authored from the face's own
   geometry: the jaw opens the lower face, the lips close at rest, corners move for
   smiles and frowns, brows and lids move, blinks bring each upper lid down onto the
   lower lid, the irises turn with the gaze between the lids. A pose
   (tasks/render/rig.py) is a weighted sum of shapes, plus a small head motion that fades
   out towards the anchors.
3. **Per frame.** D = B · Δ gives each ROI pixel's displacement; the backward map
   ``src = dst − D(dst − D(dst))`` (one fixed-point step) draws the ROI with one
   ``cv2.remap``. The lips are never repainted: they keep the photo's pixels. Where they
   part, the mouth's inside shows through (tasks/render/mouth.py: photographed teeth, a
   cavity darkened from the lips' own colour, a tongue).

Only the ROI changes from frame to frame, so x264 spends its bits on the face.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import sparse
from scipy.spatial import Delaunay

from tasks.render.lids import ClosedLids
from tasks.render.mouth import (
    INNER_LIP_LOOP,
    LOWER_INNER_LIP,
    LOWER_OUTER_LIP,
    UPPER_INNER_LIP,
    UPPER_OUTER_LIP,
    MouthInterior,
)
from tasks.render.rig import POSE_CHANNELS, PoseTrack
from tasks.render.teeth import MouthChord

__all__ = ["INNER_LIP_LOOP", "LOWER_INNER_LIP", "UPPER_INNER_LIP", "PhotoFace", "place_face"]

# MediaPipe face-mesh indices (canonical topology).
FOREHEAD, CHIN = 10, 152
MOUTH_CORNERS = (61, 291, 78, 308)
# Each lip's rings of landmarks from its inner edge outwards (corner to corner).
UPPER_LIP_RINGS = (UPPER_INNER_LIP, (62, 183, 42, 41, 38, 12, 268, 271, 272, 407, 292),
                   (76, 184, 74, 73, 72, 11, 302, 303, 304, 408, 306))
LOWER_LIP_RINGS = (LOWER_INNER_LIP, (62, 96, 89, 179, 86, 15, 316, 403, 319, 325, 292),
                   (76, 77, 90, 180, 85, 16, 315, 404, 320, 307, 306), LOWER_OUTER_LIP)
# Upper and lower lid of each eye, point for point (right eye on screen left first).
UPPER_LIDS = ((246, 161, 160, 159, 158, 157, 173), (466, 388, 387, 386, 385, 384, 398))
LOWER_LIDS = ((7, 163, 144, 145, 153, 154, 155), (249, 390, 373, 374, 380, 381, 382))
LID_CREASES = ((247, 30, 29, 27, 28, 56, 190), (467, 260, 259, 257, 258, 286, 414))
IRISES = ((468, 469, 470, 471, 472), (473, 474, 475, 476, 477))
# Each iris's centre and side points (its top and bottom points lie on the lids), and each
# eye's corners (outer, inner, as the lids run).
IRIS_MIDLINES = ((468, 469, 471), (473, 474, 476))
EYE_CORNERS = ((33, 133), (263, 362))
BROWS = ((46, 53, 52, 65, 55, 70, 63, 105, 66, 107), (276, 283, 282, 295, 285, 300, 293,
                                                      334, 296, 336))
INNER_BROWS = ((55, 65, 107, 66), (285, 295, 336, 296))
CHEEKS = (50, 280, 205, 425, 187, 411)

JAW_DROP = 0.28
"""How far the lower lip drops at ``jaw_open`` 1, in face heights (forehead to chin); the
chin follows most of the way. Real speakers' open vowels part the lips by more than half
the mouth's width (RENDERING.md)."""
SEAM_SHADE = 0.45
"""Where a photo's parted lips close, the fold shows the lips' colour this dark."""
UPPER_LIP_LIFT = 0.02
"""The upper lip's inner edge rises this many face heights at ``jaw_open`` 1."""
JAW_GAMMA = 0.7
"""The jaw drops by ``jaw_open ** JAW_GAMMA`` of :data:`JAW_DROP`..."""
JAW_AT_REST = 0.06
"""...counting ``jaw_open`` from this value up: below it (the tail of a word smoothed into
a pause) the lips stay shut, as a speaker's do between phrases."""


def jaw_drop_share(jaw_open):
    """How much of :data:`JAW_DROP` the jaw drops at the rig's ``jaw_open`` (a number or
    an array): nothing up to :data:`JAW_AT_REST`, then ``** JAW_GAMMA`` of the rest."""
    return np.maximum((np.asarray(jaw_open) - JAW_AT_REST) / (1 - JAW_AT_REST),
                      0.0) ** JAW_GAMMA


OPENED_FOR_MESH = 1.1
"""The mesh is triangulated with the jaw open this far (1: the widest speech opening)."""
FACE_OF_SHORT_SIDE = 0.36
"""The face (forehead to chin) fills at least this share of the frame's short side."""
ROI_MARGIN = 0.45
"""The animated region reaches this many face heights beyond the face on each side."""
GAZE_TURN_X = 0.22
"""At ``gaze_x`` ±1 the irises move this many eye widths (corner to corner) sideways, as
far as the tightest corner allows (:data:`GAZE_MIN_SQUEEZE`)..."""
GAZE_TURN_Y = 0.12
"""...and at ``gaze_y`` ±1 this many eye widths down or up."""
GAZE_MIN_SQUEEZE = 0.3
"""The white between an iris and the corner it turns to keeps at least this share of its
width."""
GAZE_FALLOFF = 0.06
"""The skin above and below the lids goes sideways with the irises, less and less up to
this many face heights away from them."""
GAZE_LID_FOLLOW = (0.6, 0.3)
"""The upper and the lower lids follow the irises up and down by these shares of their
move."""
GAZE_IRIS_INSIDE = 0.1
"""An iris's centre and side points keep this share of the opening from either lid."""

_JAW = POSE_CHANNELS.index("jaw_open")
_GAZE_X = POSE_CHANNELS.index("gaze_x")
_GAZE_Y = POSE_CHANNELS.index("gaze_y")
_BLINK = POSE_CHANNELS.index("blink")


@dataclass(frozen=True)
class Placement:
    """Where the photo sits in the frame: ``frame = scale · photo + offset``."""

    scale: float
    offset: tuple[float, float]

    def matrix(self) -> np.ndarray:
        return np.array([[self.scale, 0, self.offset[0]], [0, self.scale, self.offset[1]]],
                        np.float64)


def place_face(photo_size: tuple[int, int], landmarks: np.ndarray,
               frame_size: tuple[int, int]) -> Placement:
    """Cover the frame with the photo, the face large enough and centred (not past the
    photo's edges where it can be helped)."""
    (pw, ph), (fw, fh) = photo_size, frame_size
    face_h = float(np.linalg.norm(landmarks[CHIN, :2] - landmarks[FOREHEAD, :2]))
    scale = max(fw / pw, fh / ph, FACE_OF_SHORT_SIDE * min(fw, fh) / max(face_h, 1.0))
    cx, cy = landmarks[:, 0].mean(), landmarks[:, 1].mean()
    ox = fw / 2 - scale * cx
    oy = 0.44 * fh - scale * cy
    ox = min(0.0, max(fw - scale * pw, ox))
    oy = min(0.0, max(fh - scale * ph, oy))
    return Placement(scale=scale, offset=(ox, oy))


class PhotoFace:
    """Draws a photo avatar for every pose of a :class:`PoseTrack`, as RGB24 frames."""

    def __init__(self, photo_rgb: np.ndarray, landmarks: np.ndarray, width_px: int,
                 height_px: int, backdrop_rgb: np.ndarray | None = None):
        """``backdrop_rgb``: a frame-sized picture to put behind the person (cut out of
        the photo by :func:`tasks.render.background.person_matte`); None keeps the photo's
        own surroundings."""
        if landmarks.shape[0] < 478:
            raise ValueError(f"need the 478 MediaPipe landmarks, got {landmarks.shape[0]}")
        self.width, self.height = width_px, height_px
        ph, pw = photo_rgb.shape[:2]
        self.placement = place_face((pw, ph), landmarks, (width_px, height_px))
        self.base = cv2.warpAffine(photo_rgb, self.placement.matrix(), (width_px, height_px),
                                   flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        if backdrop_rgb is not None:
            from tasks.render.background import lay_over, person_matte

            matte = cv2.warpAffine(person_matte(photo_rgb), self.placement.matrix(),
                                   (width_px, height_px), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REPLICATE)
            self.base = lay_over(self.base, matte, backdrop_rgb)
        s, (ox, oy) = self.placement.scale, self.placement.offset
        self.points = (landmarks[:478, :2] * s + np.array([ox, oy])).astype(np.float64)
        self.face_h = float(np.linalg.norm(self.points[CHIN] - self.points[FOREHEAD]))
        self._roi = self._region()
        x0, y0, x1, y1 = self._roi
        anchors = self._anchors()
        # Nodes: the landmarks, points along the lips' inner edges (so that no triangle
        # crosses an edge: the lips part exactly along them) and the fixed anchors.
        # ``_node_moves`` (nodes × 478) gives every node's displacement from the
        # landmarks'.
        along_lips = _along_polylines((UPPER_INNER_LIP, LOWER_INNER_LIP), LIP_EDGE_SAMPLES)
        self._node_moves = sparse.vstack([
            sparse.identity(478, format="csr"), along_lips,
            sparse.csr_matrix((len(anchors), 478))]).tocsr()
        self._nodes = np.vstack([self.points, along_lips @ self.points, anchors])
        self._n_points = len(self._nodes)
        self._shapes = self._author_shapes()  # (len(POSE_CHANNELS), 478, 2)
        self._triangles = self._triangulate()
        self._triangle_ids = self._rasterise_triangles()
        inner_edge = np.zeros(self._n_points, bool)
        inner_edge[list(UPPER_INNER_LIP + LOWER_INNER_LIP)] = True
        inner_edge[478:478 + along_lips.shape[0]] = True
        self._between_lips = inner_edge[self._triangles].all(axis=1)
        self._field_step = FIELD_STEP_PX
        self._B = self._interpolation().astype(np.float32)  # sub-pixel, half the memory
        self._zones = self._exact_zones()
        gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        self._grid_x, self._grid_y = gx, gy
        self._rest = self._closure()          # (478, 2): lips together at rest
        self._interior = MouthInterior(self.base, self.points, self.points + self._rest,
                                       self.face_h, self.placement.scale)
        self.base = self._hide_open_mouth(self.base)
        self._lids = ClosedLids(self.base, self.points,
                                tuple(zip(UPPER_LIDS, LOWER_LIDS, EYE_CORNERS, strict=True)))

    def _hide_open_mouth(self, frame: np.ndarray) -> np.ndarray:
        """The photo with what shows between parted lips (teeth, darkness) filled in from
        the lips around it. The warp closes such lips at rest and the mouth's inside is
        drawn apart from the photo (its teeth were taken already), so those pixels may
        only ever peek through where the closing lips fold; the lips themselves are not
        touched (the fill stays a pixel inside their inner edge)."""
        gap = (self.points[list(LOWER_INNER_LIP[1:-1]), 1]
               - self.points[list(UPPER_INNER_LIP[1:-1]), 1])
        if gap.max() < 2.0:
            return frame
        mask = np.zeros(frame.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(self.points[list(INNER_LIP_LOOP)]).astype(np.int32)], 255)
        alpha = cv2.GaussianBlur(mask, (3, 3), 0)[..., None].astype(np.float32) / 255
        shadow = self._interior.lip_rgb * SEAM_SHADE
        return np.clip(frame * (1 - alpha) + shadow * alpha, 0, 255).astype(np.uint8)

    # -- set-up ---------------------------------------------------------------------

    def _region(self) -> tuple[int, int, int, int]:
        margin = ROI_MARGIN * self.face_h
        x0 = int(max(0, self.points[:, 0].min() - margin))
        x1 = int(min(self.width, self.points[:, 0].max() + margin))
        y0 = int(max(0, self.points[:, 1].min() - margin))
        y1 = int(min(self.height, self.points[:, 1].max() + 1.4 * margin))
        return x0, y0, x1, y1

    def _anchors(self) -> np.ndarray:
        """Fixed points: a ring around the face, and the ROI's border."""
        center = self.points.mean(axis=0)
        radius = np.abs(self.points - center).max(axis=0) * 1.35 + 0.05 * self.face_h
        # Below, the ring clears the chin however far the jaw drops (the mesh is
        # triangulated open, :meth:`_triangulate`), and by no more than that: the neck
        # stays still.
        below = (self.points[CHIN, 1] - center[1]
                 + (OPENED_FOR_MESH * JAW_DROP + 0.06) * self.face_h)
        angles = np.linspace(0, 2 * np.pi, 36, endpoint=False)
        down = np.where(np.sin(angles) > 0, below, radius[1])
        ring = center + np.stack([np.cos(angles) * radius[0], np.sin(angles) * down], 1)
        x0, y0, x1, y1 = self._roi
        xs, ys = np.linspace(x0, x1 - 1, 12), np.linspace(y0, y1 - 1, 12)
        border = np.vstack([np.stack([xs, np.full_like(xs, y0)], 1),
                            np.stack([xs, np.full_like(xs, y1 - 1)], 1),
                            np.stack([np.full_like(ys, x0), ys], 1),
                            np.stack([np.full_like(ys, x1 - 1), ys], 1)])
        return np.vstack([ring, border])

    def _triangulate(self) -> np.ndarray:
        """The mesh's triangles (n, 3), node numbers.

        Delaunay of the nodes *with the mouth wide open*: in a closed mouth the two
        lips' inner edges lie a pixel apart, and a triangulation of the neutral points
        would join the upper lip to the lower one across the seam, so that opening would
        smear a lip's texture over the other. Opened, every triangle lies in one lip or
        in the gap between them (which the mouth's inside covers)."""
        opened = self._nodes.copy()
        opened += self._node_moves @ (self._closure()
                                      + self._shapes[_JAW] * OPENED_FOR_MESH)
        return Delaunay(opened).simplices

    def _rasterise_triangles(self) -> np.ndarray:
        """For every ROI pixel the neutral triangle that holds it (-1 for none)."""
        x0, y0, x1, y1 = self._roi
        ids = np.full((y1 - y0, x1 - x0), -1, np.float32)  # exact in float32
        corners = np.round((self._nodes[self._triangles] - [x0, y0]) * 16).astype(np.int32)
        for k, tri in enumerate(corners):
            cv2.fillConvexPoly(ids, tri, k, cv2.LINE_8, 4)
        return ids.astype(np.int32)

    def _interpolation(self) -> sparse.csr_matrix:
        """B: ROI pixels (every FIELD_STEP_PX-th of each row and column) × nodes,
        barycentric weights of each pixel's triangle."""
        x0, y0, x1, y1 = self._roi
        step = self._field_step
        gy, gx = np.mgrid[y0:y1:step, x0:x1:step]
        # Each sample stands at the middle of its step × step block, where an
        # upscaling (cv2.resize) takes it to lie.
        pixels = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float64) + (step - 1) / 2
        simplex = self._triangle_ids[::step, ::step].ravel()
        inside = simplex >= 0
        vertices = self._nodes[self._triangles[simplex[inside]]]  # (n, 3, 2)
        edges = np.stack([vertices[:, 0] - vertices[:, 2], vertices[:, 1] - vertices[:, 2]],
                         axis=2)
        with np.errstate(all="ignore"):
            inverse = np.linalg.inv(edges + np.eye(2) * 1e-9)
        bary2 = np.einsum("nij,nj->ni", inverse, pixels[inside] - vertices[:, 2])
        bary2 = np.nan_to_num(np.clip(bary2, 0, 1))
        bary = np.column_stack([bary2, np.clip(1 - bary2.sum(axis=1), 0, 1)])
        rows = np.repeat(np.flatnonzero(inside), 3)
        cols = self._triangles[simplex[inside]].ravel()
        return sparse.csr_matrix((bary.ravel(), (rows, cols)),
                                 shape=(pixels.shape[0], self._n_points))

    def _exact_zones(self) -> list[tuple[tuple[int, int, int, int], np.ndarray, list[int],
                                         tuple[float, float, float, float]]]:
        """Boxes (ROI coordinates) around the mouth and the eyes, where skin folds away
        (lips meet, lids close) and the smooth backward map would show what should be
        hidden; there each pixel is mapped exactly through its deformed triangle. Each
        comes with the triangles that reach into it, its points and their margins (each
        frame maps only the part of the box around where the points are then)."""
        x0, y0, x1, y1 = self._roi
        f = self.face_h
        # Per zone: its points, its margins around them, and how far below them it may
        # reach as they move (the lower lip drops with the jaw).
        groups = [(UPPER_OUTER_LIP + LOWER_OUTER_LIP + UPPER_INNER_LIP + LOWER_INNER_LIP,
                   (0.06 * f, 0.05 * f, 0.06 * f, 0.05 * f), OPENED_FOR_MESH * JAW_DROP * f)]
        groups += [(upper + lower + crease, (0.03 * f, 0.04 * f, 0.03 * f, 0.02 * f), 0.0)
                   for upper, lower, crease in zip(UPPER_LIDS, LOWER_LIDS, LID_CREASES,
                                                   strict=True)]
        zones = []
        for indices, margins, reach in groups:
            # The boxes fade into the smooth map over ZONE_FEATHER_PX outside their
            # margins, so that what must be mapped exactly (a closing lid) is.
            left, top, right, bottom = (m + ZONE_FEATHER_PX for m in margins)
            pts = self.points[list(indices)]
            bx0 = int(max(x0, pts[:, 0].min() - left)) - x0
            by0 = int(max(y0, pts[:, 1].min() - top)) - y0
            bx1 = int(min(x1, pts[:, 0].max() + right)) - x0
            by1 = int(min(y1, pts[:, 1].max() + bottom + reach)) - y0
            corners = np.array([[bx0, by0], [bx1, by0], [bx0, by1], [bx1, by1]]) + [x0, y0]
            # Every triangle that reaches into the box (by a vertex or a box corner).
            inside = ((self._nodes[:, 0] >= bx0 + x0) & (self._nodes[:, 0] <= bx1 + x0)
                      & (self._nodes[:, 1] >= by0 + y0) & (self._nodes[:, 1] <= by1 + y0))
            touching = inside[self._triangles].any(axis=1)
            ids = self._triangle_ids[np.clip(corners[:, 1] - y0, 0, y1 - y0 - 1),
                                     np.clip(corners[:, 0] - x0, 0, x1 - x0 - 1)]
            touching[ids[ids >= 0]] = True
            zones.append(((bx0, by0, bx1, by1), np.flatnonzero(touching), list(indices),
                          (left, top, right, bottom)))
        return zones

    def _exact_maps(self, deformed: np.ndarray, map_x: np.ndarray, map_y: np.ndarray,
                    against_head_px: np.ndarray) -> None:
        """Overwrite the maps inside each zone with the exact piecewise-affine inverse,
        where the zone's points move against the head by more than
        :data:`EXACT_FROM_PX` (``against_head_px``: per landmark); elsewhere the skin
        moves with the head and the smooth map is exact enough."""
        x0, y0 = self._roi[:2]
        for (sx0, sy0, sx1, sy1), triangles, indices, margins in self._zones:
            if against_head_px[indices].max() < EXACT_FROM_PX:
                continue
            # Inside the box that holds the zone however it moves, only where its
            # points are now (a closed mouth needs no room for the dropped jaw).
            now = deformed[indices]
            left, top, right, bottom = margins
            bx0 = max(sx0, int(now[:, 0].min() - left) - x0)
            by0 = max(sy0, int(now[:, 1].min() - top) - y0)
            bx1 = min(sx1, int(now[:, 0].max() + right) - x0)
            by1 = min(sy1, int(now[:, 1].max() + bottom) - y0)
            h, w = by1 - by0, bx1 - bx0
            if h <= 0 or w <= 0:
                continue
            ids = np.full((h, w), -1, np.float32)  # triangle numbers (exact in float32)
            vertices = self._triangles[triangles]
            shifted = deformed[vertices] - [x0 + bx0, y0 + by0]
            # A triangle folded flat (parted lips that met) would still be drawn as a
            # line, mapping it to whatever it held: leave it out.
            # So would one turned over (the eye's inside, when the upper lid comes down
            # past the lower one): it would show the eye mirrored in a sliver.
            area = _signed_areas(shifted) * np.sign(_signed_areas(self._nodes[vertices]))
            # Triangles between the lips first: where closing lips still leave them a
            # sliver, the lips drawn over them win.
            # (and those wholly outside this frame's box need not be drawn).
            low, high = shifted.min(axis=1), shifted.max(axis=1)
            drawn = np.flatnonzero((area > 0.5) & (high[:, 0] >= 0) & (high[:, 1] >= 0)
                                   & (low[:, 0] < w) & (low[:, 1] < h))
            fixed_point = np.round(shifted * 16).astype(np.int32)  # 4 fractional bits
            for k in drawn[np.argsort(~self._between_lips[triangles[drawn]], kind="stable")]:
                cv2.fillConvexPoly(ids, fixed_point[k], int(k), cv2.LINE_8, 4)
            covered = ids >= 0
            if not covered.any():
                continue
            if not covered.all():
                # Where skin folded to nothing (lips met, a lid closed), borrow the
                # neighbouring triangle, so the seam shows lip or lid, not what is behind.
                grown = cv2.dilate(ids, np.ones((3, 3), np.uint8), iterations=2)
                ids = np.where(covered, ids, grown)
                covered = ids >= 0
            ids = ids.astype(np.int32)
            # Affine maps deformed -> neutral for every triangle: [x y 1] @ M (3x2).
            src = self._nodes[vertices]
            dst_h = np.concatenate([deformed[vertices], np.ones((len(vertices), 3, 1))], 2)
            with np.errstate(all="ignore"):
                maps = np.linalg.solve(dst_h + np.eye(3) * 1e-9, src)  # (n, 3, 2)
            maps = maps.reshape(len(maps), 6).astype(np.float32)
            finite = np.isfinite(maps).all(axis=1)
            maps[~finite] = 0.0
            m = maps[np.maximum(ids, 0)]  # (h, w, 6): every pixel's triangle's map
            px = (np.arange(w, dtype=np.float32) + (bx0 + x0))[None, :]
            py = (np.arange(h, dtype=np.float32) + (by0 + y0))[:, None]
            sx = px * m[..., 0] + py * m[..., 2] + m[..., 4]
            sy = px * m[..., 1] + py * m[..., 3] + m[..., 5]
            # Near the box's edges, fade from the exact map into the smooth one: where
            # they differ (a turned face's corner, a dropping chin) no edge shows.
            weight = self._zone_ramp(h, w) * (covered & finite[np.maximum(ids, 0)])
            box_x = map_x[by0:by1, bx0:bx1]
            box_y = map_y[by0:by1, bx0:bx1]
            box_x += weight * (sx - box_x)
            box_y += weight * (sy - box_y)

    @staticmethod
    @functools.lru_cache(maxsize=256)
    def _zone_ramp(h: int, w: int) -> np.ndarray:
        """(h, w) weights: 1 inside, falling to 0 over ZONE_FEATHER_PX at the edges."""
        feather = max(1.0, min(ZONE_FEATHER_PX, h / 4, w / 4))
        ys = np.minimum(np.arange(h), np.arange(h)[::-1])[:, None]
        xs = np.minimum(np.arange(w), np.arange(w)[::-1])[None, :]
        return np.clip((np.minimum(ys, xs) + 1) / feather, 0.0, 1.0).astype(np.float32)

    def _closure(self) -> np.ndarray:
        """Moves that bring parted lips together (a photo may show an open mouth)."""
        rest = np.zeros((478, 2))
        # The lower lip does most of the closing (the jaw rises), the upper lip stretches
        # down over the teeth; the lips' inner rings follow their edges part of the way,
        # so that no lip folds over itself.
        for k, (upper, lower) in enumerate(zip(UPPER_INNER_LIP[1:-1], LOWER_INNER_LIP[1:-1],
                                               strict=True)):
            gap = self.points[lower, 1] - self.points[upper, 1]
            if gap <= 0:
                continue
            for ring, share in zip(UPPER_LIP_RINGS, (0.35, 0.22, 0.1), strict=True):
                rest[ring[k + 1], 1] += share * gap
            for ring, share in zip(LOWER_LIP_RINGS, (0.65, 0.55, 0.45, 0.35), strict=True):
                rest[ring[k + 1], 1] -= share * gap
        return rest

    def _falloff(self, index: int | tuple[int, ...], sigma: float) -> np.ndarray:
        """Weight of every landmark by its distance to the given ones (Gaussian)."""
        targets = self.points[list(np.atleast_1d(index))]
        d2 = ((self.points[:, None, :] - targets[None]) ** 2).sum(-1).min(axis=1)
        return np.exp(-d2 / (2 * (sigma * self.face_h) ** 2))

    def _author_shapes(self) -> np.ndarray:
        p, f = self.points, self.face_h
        shapes = {name: np.zeros((478, 2)) for name in POSE_CHANNELS}
        mouth_c = p[list(MOUTH_CORNERS)].mean(axis=0)
        upper_y = p[list(UPPER_INNER_LIP)][:, 1].mean()
        # Jaw: everything below the upper lip drops, less to the sides.
        # The jaw is a rigid block from the lower lip down: the skin under the lip does
        # not stretch; the cheeks and the jaw line give way to the sides.
        lower_y = p[list(LOWER_OUTER_LIP[2:-2]), 1].mean()
        below = np.clip((p[:, 1] - upper_y) / max(lower_y - upper_y, 1.0), 0, 1)
        side = np.clip(1 - ((p[:, 0] - mouth_c[0]) / (0.55 * f)) ** 2, 0.15, 1)
        jaw = below ** 0.8 * side
        # The lips part in an oval: most at the middle, little near the corners.
        chord = MouthChord.of(p)
        for lip, floor in ((LOWER_INNER_LIP[1:-1], 0.0), (LOWER_OUTER_LIP[1:-1], 0.6)):
            t, _ = chord.coordinates(p[list(lip)])
            jaw[list(lip)] = floor + (1 - floor) * np.sin(np.pi * np.clip(t, 0, 1)) ** 0.8
        jaw[list(UPPER_INNER_LIP)] = 0.0
        shapes["jaw_open"][:, 1] = JAW_DROP * f * jaw
        t, _ = chord.coordinates(p)
        lift = self._falloff(UPPER_INNER_LIP[2:-2], 0.025) * (jaw == 0)
        shapes["jaw_open"][:, 1] -= (UPPER_LIP_LIFT * f * lift
                                     * np.sin(np.pi * np.clip(t, 0, 1)) ** 0.8)
        # As the jaw drops the corners draw in a little.
        for corner in (61, 291, 78, 308):
            w = self._falloff(corner, 0.05)
            shapes["jaw_open"][:, 0] -= 0.02 * f * w * np.sign(p[corner, 0] - mouth_c[0])
        # Mouth corners: wider / narrower and rounder.
        for corner in (61, 291):
            w = self._falloff(corner, 0.09)
            direction = np.sign(p[corner, 0] - mouth_c[0])
            shapes["mouth_width"][:, 0] += 0.035 * f * w * direction
            shapes["lip_round"][:, 0] -= 0.03 * f * w * direction
            shapes["smile"][:, 0] += 0.025 * f * w * direction
            shapes["smile"][:, 1] -= 0.035 * f * w
            shapes["mouth_corner_down"][:, 1] += 0.03 * f * w
        cheeks = self._falloff(CHEEKS, 0.08)
        shapes["smile"][:, 1] -= 0.012 * f * cheeks
        # lips_pressed has no shape of its own: it closes the jaw (see displacements).
        upper_lip = self._falloff(UPPER_OUTER_LIP[2:-2], 0.04)
        shapes["upper_lip_raise"][:, 1] -= 0.018 * f * upper_lip
        shapes["nose_wrinkle"][:, 1] -= 0.01 * f * self._falloff((5, 4, 195), 0.05)
        # Brows.
        for brow, inner in zip(BROWS, INNER_BROWS, strict=True):
            whole = self._falloff(brow, 0.05)
            ends = self._falloff(inner, 0.04)
            shapes["brow_raise"][:, 1] -= 0.05 * f * whole
            shapes["brow_inner_up"][:, 1] -= 0.04 * f * ends
            shapes["brow_furrow"][:, 1] += 0.025 * f * ends
            toward = np.sign(mouth_c[0] - p[list(inner), 0].mean())
            shapes["brow_furrow"][:, 0] += 0.015 * f * ends * toward
        # Lids: blink brings each upper-lid point onto its lower-lid partner, and the
        # iris points down with it (so that no triangle folds over).
        for upper, lower, crease, iris in zip(UPPER_LIDS, LOWER_LIDS, LID_CREASES, IRISES,
                                              strict=True):
            gap = p[list(lower)] - p[list(upper)]
            # The lids overlap a little and the crease follows: read back with MediaPipe,
            # the eye opening falls from about 0.33 to below 0.1.
            shapes["blink"][list(upper)] = gap
            shapes["blink"][list(lower)] = -0.1 * gap
            shapes["blink"][list(crease)] = 0.6 * gap
            lower_pts = p[list(lower)]
            for i in iris:
                nearest = lower_pts[np.argmin(np.abs(lower_pts[:, 0] - p[i, 0]))]
                shapes["blink"][i, 1] = 0.95 * (nearest[1] - p[i, 1])
            shapes["lid_droop"][list(upper)] = 0.45 * gap
            shapes["eye_wide"][list(upper), 1] -= 0.012 * f
            shapes["eye_squint"][list(lower), 1] -= 0.35 * gap[:, 1]
        # Gaze sideways: a field carries the iris, the lids' edges and (fading over
        # GAZE_FALLOFF) the skin beyond them; it is 1 across the iris and tapers to 0 at
        # the corners, so the white ahead of the iris is squeezed, never folded. Both eyes
        # turn by the same amount.
        widths, rooms, carried = [], [], np.zeros(len(p))
        for corners, upper, lower, iris in zip(EYE_CORNERS, UPPER_LIDS, LOWER_LIDS, IRISES,
                                               strict=True):
            (left, right), iris_x = np.sort(p[list(corners), 0]), p[list(iris), 0]
            near, far = iris_x.min() - left, right - iris_x.max()
            widths.append(float(np.linalg.norm(p[corners[1]] - p[corners[0]])))
            rooms += [near, far]
            across = np.minimum((p[:, 0] - left) / max(near, 1e-6),
                                (right - p[:, 0]) / max(far, 1e-6))
            beyond = (np.clip(_along_lid(p, p[:, 1], corners, upper, p[:, 0]) - p[:, 1], 0, None)
                      + np.clip(p[:, 1] - _along_lid(p, p[:, 1], corners, lower, p[:, 0]), 0,
                                None))
            carried += np.clip(across, 0, 1) * np.clip(1 - beyond / (GAZE_FALLOFF * f), 0, 1)
        width = float(np.mean(widths))
        turn_x = min(GAZE_TURN_X * width, (1 - GAZE_MIN_SQUEEZE) * max(min(rooms), 0.0))
        shapes["gaze_x"][:, 0] = turn_x * carried
        # Gaze up and down: the lids follow part of the way (most where the eye is most
        # open, not at the corners), the iris's midline all of it (see _keep_irises_open).
        turn_y = GAZE_TURN_Y * width
        for upper, lower, crease in zip(UPPER_LIDS, LOWER_LIDS, LID_CREASES, strict=True):
            opening = p[list(lower), 1] - p[list(upper), 1]
            follow = turn_y * np.clip(opening / max(opening.max(), 1e-6), 0, 1)
            shapes["gaze_y"][list(upper), 1] = GAZE_LID_FOLLOW[0] * follow
            shapes["gaze_y"][list(crease), 1] = 0.6 * GAZE_LID_FOLLOW[0] * follow
            shapes["gaze_y"][list(lower), 1] = GAZE_LID_FOLLOW[1] * follow
        # The irises keep their place between moving lids (their top and bottom points
        # lie on the lids).
        for name in ("lid_droop", "eye_wide", "eye_squint", "gaze_y"):
            self._irises_follow_lids(shapes[name])
        for midline in IRIS_MIDLINES:
            shapes["gaze_y"][list(midline), 1] = turn_y
        return np.stack([shapes[name] for name in POSE_CHANNELS])

    def _irises_follow_lids(self, shape: np.ndarray) -> None:
        """Move the iris points of ``shape`` (478, 2) with its lids, in place: each keeps its
        share of the way from the upper lid to the lower one."""
        p = self.points
        for corners, upper, lower, iris in zip(EYE_CORNERS, UPPER_LIDS, LOWER_LIDS, IRISES,
                                               strict=True):
            idx = list(iris)
            x = p[idx, 0]
            top = _along_lid(p, p[:, 1], corners, upper, x)
            bottom = _along_lid(p, p[:, 1], corners, lower, x)
            share = ((p[idx, 1] - top) / np.maximum(bottom - top, 1e-6))[:, None]
            shape[idx] = ((1 - share) * _along_lid(p, shape, corners, upper, x)
                          + share * _along_lid(p, shape, corners, lower, x))

    # -- per frame --------------------------------------------------------------------

    def displacements(self, pose: np.ndarray) -> np.ndarray:
        """Landmark displacements (478, 2) for one pose (values in POSE_CHANNELS order)."""
        channels = dict(zip(POSE_CHANNELS, pose, strict=True))
        weights = pose.copy()
        for name in ("head_dx", "head_dy", "head_roll_deg"):
            weights[POSE_CHANNELS.index(name)] = 0.0
        weights[[_GAZE_X, _GAZE_Y]] = np.clip(weights[[_GAZE_X, _GAZE_Y]], -1.0, 1.0)
        # Small openings show: the lips part visibly early in an opening, as in speech.
        weights[_JAW] = jaw_drop_share(weights[_JAW])
        delta = np.tensordot(weights, self._shapes, axes=1) + self._rest
        # Pressed lips (p, b, m) close the jaw, however far it had dropped.
        pressed = min(max(channels["lips_pressed"], 0.0), 1.0)
        if pressed:
            delta -= pressed * weights[_JAW] * self._shapes[_JAW]
        self._keep_irises_open(delta, weights[_GAZE_Y])
        # Head motion: a small rotation about the chin and a shift, fading at the anchors.
        head = self.head_matrix(pose)
        delta += self.points @ head[:, :2].T + head[:, 2] - self.points
        return delta

    def head_matrix(self, pose: np.ndarray) -> np.ndarray:
        """The head motion of a pose as a 2×3 affine matrix of frame pixels: a rotation
        by ``head_roll_deg`` about the chin, then the shift ``head_dx``, ``head_dy``."""
        channels = dict(zip(POSE_CHANNELS, pose, strict=True))
        angle = np.deg2rad(channels["head_roll_deg"])
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        pivot = self.points[CHIN]
        shift = np.array([channels["head_dx"], channels["head_dy"]]) * self.face_h
        return np.column_stack([rotation, pivot - rotation @ pivot + shift])

    def _keep_irises_open(self, delta: np.ndarray, gaze_y: float) -> None:
        """Hold back the up-and-down gaze where the lids narrow the eye (a squint, a
        blink), so that each iris's midline stays between its lids (``delta`` in place)."""
        if not gaze_y:
            return
        moved = self.points + delta
        for corners, upper, lower, midline in zip(EYE_CORNERS, UPPER_LIDS, LOWER_LIDS,
                                                  IRIS_MIDLINES, strict=True):
            idx = list(midline)
            x, y = moved[idx, 0], moved[idx, 1]
            top = _along_lid(moved, moved[:, 1], corners, upper, x)
            bottom = _along_lid(moved, moved[:, 1], corners, lower, x)
            margin = GAZE_IRIS_INSIDE * (bottom - top)
            without = y - gaze_y * self._shapes[_GAZE_Y][idx, 1]
            kept = np.clip(y, np.minimum(without, top + margin),
                           np.maximum(without, bottom - margin))
            delta[idx, 1] += kept - y

    def draw(self, pose: np.ndarray, out: np.ndarray) -> None:
        """Draw one frame into ``out`` (the base frame, changed only inside the ROI)."""
        delta = self.displacements(pose)
        nodes = self._node_moves @ delta
        x0, y0, x1, y1 = self._roi
        shape = (y1 - y0, x1 - x0)
        # (dx, dy) per pixel: the field is linear inside each triangle, so it is
        # computed at every FIELD_STEP_PX-th pixel and filled in between.
        step = self._field_step
        rows, cols = -(-shape[0] // step), -(-shape[1] // step)
        coarse = (self._B @ nodes.astype(np.float32)).reshape(rows, cols, 2)
        field = cv2.resize(coarse, (cols * step, rows * step),
                           interpolation=cv2.INTER_LINEAR)[:shape[0], :shape[1]]
        # One fixed-point step of the backward map: src = dst - D(dst - D(dst)).
        mx, my = self._grid_x - field[..., 0] - x0, self._grid_y - field[..., 1] - y0
        d2 = cv2.remap(field, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        map_x, map_y = self._grid_x - d2[..., 0], self._grid_y - d2[..., 1]
        head = self.head_matrix(pose)
        # How far each landmark moves against the head (the head's own motion is rigid).
        against_head = np.abs(self.points + delta - (self.points @ head[:, :2].T + head[:, 2]))
        self._exact_maps(self._nodes + nodes, map_x, map_y, against_head.max(axis=1))
        patch = cv2.remap(self.base, map_x, map_y, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)
        self._lids.draw(patch, map_x, map_y, (x0, y0), float(pose[_BLINK]))
        self._interior.draw(patch, self.points + delta, (x0, y0), head, _coverage)
        out[y0:y1, x0:x1] = patch

    def frames(self, pose: PoseTrack) -> Iterator[np.ndarray]:
        """One RGB24 frame per pose. The same buffer is reused: consume each frame before
        asking for the next (the encoder copies it)."""
        matrix = np.stack([getattr(pose, name) for name in POSE_CHANNELS], axis=1)
        out = self.base.copy()
        for row in matrix:
            self.draw(row.astype(np.float64), out)
            yield out


LIP_EDGE_SAMPLES = 3
"""Extra nodes between every two landmarks of a lip's inner edge."""
FIELD_STEP_PX = 2
"""The smooth displacement field is computed at every this many pixels (a quarter of the
work) and filled in linearly: inside a triangle it is exactly linear, and across a
triangle's edge it is off by a fraction of a pixel."""
EXACT_FROM_PX = 3.0
"""A zone is mapped exactly when one of its points moves this far against the head.
Below, the smooth map's one fixed-point step is off by about the displacement times its
gradient squared: a quarter pixel for a squint or a glance (a blink moves the lids by
ten times this and is mapped exactly)."""
ZONE_FEATHER_PX = 10
"""The exact maps of the mouth and eyes fade into the smooth map over this many pixels."""


def _signed_areas(triangles: np.ndarray) -> np.ndarray:
    """Twice the signed area of each of (n, 3, 2) triangles (positive counter-clockwise
    in image coordinates' sense of x right, y down)."""
    edges = triangles[:, 1:] - triangles[:, :1]
    return edges[:, 0, 0] * edges[:, 1, 1] - edges[:, 0, 1] * edges[:, 1, 0]


def _along_polylines(lines: tuple[tuple[int, ...], ...], per_segment: int) -> sparse.csr_matrix:
    """Weights (samples × 478) of points spaced evenly between consecutive landmarks of
    each line (the landmarks themselves excluded)."""
    rows, cols, values = [], [], []
    n = 0
    for line in lines:
        for a, b in zip(line[:-1], line[1:], strict=True):
            for k in range(1, per_segment + 1):
                f = k / (per_segment + 1)
                rows += [n, n]
                cols += [a, b]
                values += [1 - f, f]
                n += 1
    return sparse.csr_matrix((values, (rows, cols)), shape=(n, 478))


_SUPERSAMPLE = 4
"""Mouth shapes are drawn this many times larger and averaged down (smooth edges)."""


def _along_lid(points: np.ndarray, values: np.ndarray, corners: tuple[int, int],
               lid: tuple[int, ...], x: np.ndarray) -> np.ndarray:
    """``values`` (per landmark: (478,) or (478, k)) read along a lid's edge at ``x``: the
    edge runs from corner to corner through the lid's ``points``, straight between them."""
    edge = [corners[0], *lid, corners[1]]
    order = np.argsort(points[edge, 0])
    xs, vs = points[edge, 0][order], np.asarray(values)[edge][order]
    if vs.ndim == 1:
        return np.interp(x, xs, vs)
    return np.stack([np.interp(x, xs, v) for v in vs.T], axis=-1)


def _coverage(box: tuple[int, int, int, int], draw) -> np.ndarray:  # noqa: ANN001
    """Anti-aliased coverage (0..1, float32) of what ``draw(canvas, to_px)`` paints in
    white on a supersampled canvas of ``box``; ``to_px`` maps points to its pixels."""
    x0, y0, x1, y1 = box
    canvas = np.zeros(((y1 - y0) * _SUPERSAMPLE, (x1 - x0) * _SUPERSAMPLE), np.uint8)

    def to_px(points: np.ndarray) -> np.ndarray:
        return np.round((points - [x0, y0]) * _SUPERSAMPLE).astype(np.int32)

    draw(canvas, to_px)
    small = cv2.resize(canvas, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255.0
