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
   ``cv2.remap``. Where the lips part, a mouth interior (dark cavity, upper teeth, a hint
   of tongue) is painted inside the current inner-lip outline, feathered at its edge.

Only the ROI changes from frame to frame, so x264 spends its bits on the face.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import sparse
from scipy.spatial import Delaunay

from tasks.render.rig import POSE_CHANNELS, PoseTrack

# MediaPipe face-mesh indices (canonical topology).
FOREHEAD, CHIN = 10, 152
UPPER_INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_INNER_LIP = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
UPPER_OUTER_LIP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LOWER_OUTER_LIP = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
MOUTH_CORNERS = (61, 291, 78, 308)
INNER_LIP_LOOP = UPPER_INNER_LIP + LOWER_INNER_LIP[-2:0:-1]
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

JAW_DROP = 0.11
"""How far the chin drops at ``jaw_open`` 1, in face heights (forehead to chin)."""
JAW_GAMMA = 0.7
"""The jaw drops by ``jaw_open ** JAW_GAMMA`` of :data:`JAW_DROP`."""
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
_CAVITY = np.array([74, 28, 30], np.float32)
_CAVITY_DEEP = np.array([30, 10, 12], np.float32)
_TEETH = np.array([226, 218, 204], np.float32)
_TEETH_SHADE = np.array([168, 156, 146], np.float32)
_TONGUE = np.array([168, 82, 86], np.float32)
_SEAM = np.array([96, 42, 44], np.float32)


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
        self.base = self._fill_open_mouth(self.base)
        self.face_h = float(np.linalg.norm(self.points[CHIN] - self.points[FOREHEAD]))
        self._roi = self._region()
        x0, y0, x1, y1 = self._roi
        anchors = self._anchors()
        self._nodes = np.vstack([self.points, anchors])
        self._n_points = len(self._nodes)
        self._mesh = Delaunay(self._nodes)
        self._B = self._interpolation()
        self._zones = self._exact_zones()
        gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        self._grid_x, self._grid_y = gx, gy
        self._shapes = self._author_shapes()  # (len(POSE_CHANNELS), 478, 2)
        self._lower_lip = list(LOWER_INNER_LIP[1:-1] + LOWER_OUTER_LIP[1:-1])
        self._upper_lip = list(UPPER_INNER_LIP[1:-1] + UPPER_OUTER_LIP[1:-1])
        self._rest = self._closure()          # (478, 2): lips together at rest

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
        angles = np.linspace(0, 2 * np.pi, 36, endpoint=False)
        ring = center + np.stack([np.cos(angles) * radius[0], np.sin(angles) * radius[1]], 1)
        x0, y0, x1, y1 = self._roi
        xs, ys = np.linspace(x0, x1 - 1, 12), np.linspace(y0, y1 - 1, 12)
        border = np.vstack([np.stack([xs, np.full_like(xs, y0)], 1),
                            np.stack([xs, np.full_like(xs, y1 - 1)], 1),
                            np.stack([np.full_like(ys, x0), ys], 1),
                            np.stack([np.full_like(ys, x1 - 1), ys], 1)])
        return np.vstack([ring, border])

    def _interpolation(self) -> sparse.csr_matrix:
        """B: ROI pixels × nodes, barycentric weights of each pixel's triangle."""
        x0, y0, x1, y1 = self._roi
        gy, gx = np.mgrid[y0:y1, x0:x1]
        pixels = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float64)
        mesh = self._mesh
        simplex = mesh.find_simplex(pixels)
        inside = simplex >= 0
        transform = mesh.transform[simplex[inside]]
        bary2 = np.einsum("nij,nj->ni", transform[:, :2], pixels[inside] - transform[:, 2])
        bary = np.column_stack([bary2, 1 - bary2.sum(axis=1)])
        rows = np.repeat(np.flatnonzero(inside), 3)
        cols = mesh.simplices[simplex[inside]].ravel()
        return sparse.csr_matrix((bary.ravel(), (rows, cols)),
                                 shape=(pixels.shape[0], self._n_points))

    def _exact_zones(self) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
        """Boxes (ROI coordinates) around the mouth and the eyes, where skin folds away
        (lips meet, lids close) and the smooth backward map would show what should be
        hidden; there each pixel is mapped exactly through its deformed triangle."""
        x0, y0, x1, y1 = self._roi
        f = self.face_h
        groups = [(UPPER_OUTER_LIP + LOWER_OUTER_LIP + UPPER_INNER_LIP + LOWER_INNER_LIP,
                   (0.06 * f, 0.05 * f, 0.06 * f, 0.05 * f + JAW_DROP * f))]
        groups += [(upper + lower + crease, (0.03 * f, 0.04 * f, 0.03 * f, 0.02 * f))
                   for upper, lower, crease in zip(UPPER_LIDS, LOWER_LIDS, LID_CREASES,
                                                   strict=True)]
        zones = []
        for indices, (left, top, right, bottom) in groups:
            pts = self.points[list(indices)]
            bx0 = int(max(x0, pts[:, 0].min() - left)) - x0
            by0 = int(max(y0, pts[:, 1].min() - top)) - y0
            bx1 = int(min(x1, pts[:, 0].max() + right)) - x0
            by1 = int(min(y1, pts[:, 1].max() + bottom)) - y0
            corners = np.array([[bx0, by0], [bx1, by0], [bx0, by1], [bx1, by1]]) + [x0, y0]
            # Every triangle that reaches into the box (by a vertex or a box corner).
            inside = ((self._nodes[:, 0] >= bx0 + x0) & (self._nodes[:, 0] <= bx1 + x0)
                      & (self._nodes[:, 1] >= by0 + y0) & (self._nodes[:, 1] <= by1 + y0))
            touching = inside[self._mesh.simplices].any(axis=1)
            touching[self._mesh.find_simplex(corners.astype(np.float64))] = True
            zones.append(((bx0, by0, bx1, by1), np.flatnonzero(touching)))
        return zones

    def _exact_maps(self, deformed: np.ndarray, map_x: np.ndarray,
                    map_y: np.ndarray) -> None:
        """Overwrite the maps inside each zone with the exact piecewise-affine inverse."""
        x0, y0 = self._roi[:2]
        for (bx0, by0, bx1, by1), triangles in self._zones:
            h, w = by1 - by0, bx1 - bx0
            if h <= 0 or w <= 0:
                continue
            ids = np.full((h, w), -1, np.float32)  # triangle numbers (exact in float32)
            vertices = self._mesh.simplices[triangles]
            shifted = deformed[vertices] - [x0 + bx0, y0 + by0]
            for k, tri in enumerate(np.round(shifted * 16).astype(np.int32)):
                cv2.fillConvexPoly(ids, tri, k, cv2.LINE_8, 4)
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
            ys, xs = np.nonzero(covered)
            k = ids[ys, xs]
            px = xs + bx0 + x0
            py = ys + by0 + y0
            sx = px * maps[k, 0, 0] + py * maps[k, 1, 0] + maps[k, 2, 0]
            sy = px * maps[k, 0, 1] + py * maps[k, 1, 1] + maps[k, 2, 1]
            ok = np.isfinite(sx) & np.isfinite(sy)
            map_x[ys[ok] + by0, xs[ok] + bx0] = sx[ok]
            map_y[ys[ok] + by0, xs[ok] + bx0] = sy[ok]

    def _fill_open_mouth(self, frame: np.ndarray) -> np.ndarray:
        """The photo with its own mouth opening (teeth, darkness) painted over from the
        lips around it: the warp closes the lips at rest and the renderer draws its own
        mouth interior, so nothing of the photo's interior should be dragged along."""
        loop = self.points[list(INNER_LIP_LOOP)]
        gap = self.points[list(LOWER_INNER_LIP[1:-1]), 1] - self.points[
            list(UPPER_INNER_LIP[1:-1]), 1]
        if gap.max() < 1.0:
            return frame
        mask = np.zeros(frame.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(loop).astype(np.int32)], 255)
        mask = cv2.dilate(mask, np.ones((3, 3), np.uint8), iterations=2)
        return cv2.inpaint(frame, mask, 5, cv2.INPAINT_TELEA)

    def _closure(self) -> np.ndarray:
        """Moves that bring parted lips together (a photo may show an open mouth)."""
        rest = np.zeros((478, 2))
        for upper, lower in zip(UPPER_INNER_LIP[1:-1], LOWER_INNER_LIP[1:-1], strict=True):
            gap = self.points[lower, 1] - self.points[upper, 1]
            if gap > 0:
                rest[upper, 1] += 0.5 * gap
                rest[lower, 1] -= 0.5 * gap
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
        chin_y = p[CHIN, 1]
        # Jaw: everything below the upper lip drops, most at the chin, less to the sides.
        below = np.clip((p[:, 1] - upper_y) / max(chin_y - upper_y, 1.0), 0, 1)
        side = np.clip(1 - ((p[:, 0] - mouth_c[0]) / (0.55 * f)) ** 2, 0.15, 1)
        jaw = below ** 0.6 * side
        jaw[list(LOWER_INNER_LIP[1:-1])] = np.maximum(jaw[list(LOWER_INNER_LIP[1:-1])], 0.9)
        jaw[list(UPPER_INNER_LIP)] = 0.0
        shapes["jaw_open"][:, 1] = JAW_DROP * f * jaw
        shapes["jaw_open"][list(UPPER_INNER_LIP[1:-1]), 1] -= 0.008 * f
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
        # lips_pressed has no shape of its own: it holds the lips together against the
        # jaw (see displacements).
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
        weights[_JAW] = max(weights[_JAW], 0.0) ** JAW_GAMMA
        delta = np.tensordot(weights, self._shapes, axes=1) + self._rest
        # Pressed lips stay together however far the jaw has dropped (p, b, m).
        pressed = min(max(channels["lips_pressed"], 0.0), 1.0)
        if pressed:
            jaw = weights[_JAW] * self._shapes[_JAW]
            delta[self._lower_lip] -= pressed * jaw[self._lower_lip]
            delta[self._upper_lip] -= pressed * jaw[self._upper_lip]
        self._keep_irises_open(delta, weights[_GAZE_Y])
        # Head motion: a small rotation about the chin and a shift, fading at the anchors.
        angle = np.deg2rad(channels["head_roll_deg"])
        pivot = self.points[CHIN]
        rel = self.points - pivot
        rotated = np.stack([rel[:, 0] * np.cos(angle) - rel[:, 1] * np.sin(angle),
                            rel[:, 0] * np.sin(angle) + rel[:, 1] * np.cos(angle)], 1)
        delta += rotated - rel
        delta += np.array([channels["head_dx"], channels["head_dy"]]) * self.face_h
        return delta

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
        nodes = np.zeros((self._n_points, 2), np.float64)
        nodes[:478] = delta
        x0, y0, x1, y1 = self._roi
        shape = (y1 - y0, x1 - x0)
        field = (self._B @ nodes).astype(np.float32)
        dx, dy = field[:, 0].reshape(shape), field[:, 1].reshape(shape)
        # One fixed-point step of the backward map: src = dst - D(dst - D(dst)).
        mx, my = self._grid_x - dx - x0, self._grid_y - dy - y0
        dx2 = cv2.remap(dx, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        dy2 = cv2.remap(dy, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        map_x, map_y = self._grid_x - dx2, self._grid_y - dy2
        self._exact_maps(self._nodes + nodes, map_x, map_y)
        patch = cv2.remap(self.base, map_x, map_y, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)
        self._draw_mouth(patch, self.points + delta, (x0, y0))
        out[y0:y1, x0:x1] = patch

    def _draw_mouth(self, patch: np.ndarray, points: np.ndarray,
                    origin: tuple[int, int]) -> None:
        """Cavity, upper teeth and tongue inside the current inner-lip outline."""
        upper = points[list(UPPER_INNER_LIP)]
        lower = points[list(LOWER_INNER_LIP)]
        opening = float((lower[1:-1, 1] - upper[1:-1, 1]).max())
        if opening < 0.6:
            self._draw_lip_seam(patch, upper - np.array(origin))
            return
        loop = points[list(INNER_LIP_LOOP)] - np.array(origin)
        box = _box_around(loop, patch.shape, 2)
        if box is None:
            return
        bx0, by0, bx1, by1 = box
        h, w = by1 - by0, bx1 - bx0

        def mask(poly: np.ndarray) -> np.ndarray:
            return _coverage(box, lambda big, to_px: cv2.fillPoly(
                big, [to_px(poly)], 255, cv2.LINE_AA))

        inside = cv2.GaussianBlur(mask(loop), (3, 3), 0)
        region = patch[by0:by1, bx0:bx1].astype(np.float32)
        ys = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        cavity = _CAVITY * (1 - ys) + _CAVITY_DEEP * ys
        color = np.broadcast_to(cavity, (h, w, 3)).copy()
        up = upper - np.array(origin)
        lo = lower - np.array(origin)
        teeth_h = min(0.22 * opening, 0.02 * self.face_h)
        teeth = 0.75 * mask(np.vstack([up, (up + [0, teeth_h])[::-1]]))[..., None]
        teeth_color = _TEETH * (1 - 0.6 * ys) + _TEETH_SHADE * (0.6 * ys)
        color = color * (1 - teeth) + teeth_color * teeth
        # The tongue: the top of an ellipse resting on the lower lip.
        t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        center = lo[len(lo) // 2] - [0, 0.12 * opening]
        axes = (0.32 * (lo[-1, 0] - lo[0, 0]), 0.32 * opening)
        tongue = mask(np.stack([center[0] + axes[0] * np.cos(t),
                                center[1] + axes[1] * np.sin(t)], 1))[..., None]
        color = color * (1 - 0.8 * tongue) + _TONGUE * (0.8 * tongue)
        alpha = inside[..., None]
        patch[by0:by1, bx0:bx1] = np.clip(region * (1 - alpha) + color * alpha, 0, 255).astype(
            np.uint8)

    def _draw_lip_seam(self, patch: np.ndarray, upper: np.ndarray) -> None:
        """The thin shadow where closed lips meet (the photo's own was painted over)."""
        box = _box_around(upper, patch.shape, 3)
        if box is None:
            return
        x0, y0, x1, y1 = box
        thickness = max(1, int(round(self.face_h / 160 * _SUPERSAMPLE)))
        line = _coverage(box, lambda big, to_px: cv2.polylines(
            big, [to_px(upper)], False, 255, thickness, cv2.LINE_AA))
        alpha = 0.55 * line[..., None]
        region = patch[y0:y1, x0:x1].astype(np.float32)
        patch[y0:y1, x0:x1] = (region * (1 - alpha) + _SEAM * alpha).astype(np.uint8)

    def frames(self, pose: PoseTrack) -> Iterator[np.ndarray]:
        """One RGB24 frame per pose. The same buffer is reused: consume each frame before
        asking for the next (the encoder copies it)."""
        matrix = np.stack([getattr(pose, name) for name in POSE_CHANNELS], axis=1)
        out = self.base.copy()
        for row in matrix:
            self.draw(row.astype(np.float64), out)
            yield out


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


def _box_around(points: np.ndarray, shape: tuple[int, ...], margin: int,
                ) -> tuple[int, int, int, int] | None:
    """The pixel box around ``points`` with a margin, inside an image of ``shape``."""
    x0, y0 = np.floor(points.min(axis=0)).astype(int) - margin
    x1, y1 = np.ceil(points.max(axis=0)).astype(int) + margin + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, shape[1]), min(y1, shape[0])
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


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
