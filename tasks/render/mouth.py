"""The inside of a photo avatar's mouth: what shows where the warped lips part.

The lips themselves are never painted: they are the photo's own pixels, carried by the
warp (tasks/render/photo.py). Where they part, this layer shows through, drawn from
photographed parts, not flat colours:

- the **upper teeth**, fixed to the head (they never move with the jaw), running on up
  under the upper lip, so that they show as soon as the lips part;
- the **lower teeth**, riding the jaw just behind the lower lip, so that they show only
  as the jaw drops wide;
- a **cavity** darkened from the photo's own lip colour, deepest at its middle and back,
  and a tongue resting on its floor;
- all of it shaded (the upper lip's shadow on the teeth, the darker sides of the mouth),
  blurred to the photo's own sharpness and given its grain, and laid in with a soft edge.

The teeth are the photo's own when it shows them, else the bundled strip matched to the
photo (tasks/render/teeth.py).
"""

from __future__ import annotations

import cv2
import numpy as np

from tasks.render.teeth import (
    STRIP_HEIGHT_OF_WIDTH,
    MouthChord,
    bundled_strip,
    eye_white,
    grain_sigma,
    lip_edge,
    match_to_photo,
    reference_white,
    shows_teeth,
    teeth_strip,
)

UPPER_INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_INNER_LIP = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
UPPER_OUTER_LIP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LOWER_OUTER_LIP = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
INNER_LIP_LOOP = UPPER_INNER_LIP + LOWER_INNER_LIP[-2:0:-1]
LIP_LOOP = UPPER_OUTER_LIP + LOWER_OUTER_LIP[-2:0:-1]

CAVITY_EDGE = 0.34
"""The cavity's colour at the lips' edge, as a share of the lips' own colour..."""
CAVITY_DEEP = 0.07
"""...and at its deepest."""
TEETH_OVER_LIPS = 1.2
"""Borrowed teeth are at least this much lighter than the photo's lips."""
LOWER_TEETH_SHOW = 0.08
"""The lower teeth's tips stand this share of the lips' opening above the lower lip."""
LOWER_TEETH_SHADE = 0.8
"""The lower teeth get less light than the upper ones."""
SIDE_SHADE = 0.55
"""The teeth darken by up to this share towards the mouth's corners."""
LIP_SHADOW = 0.3
"""Just below the upper lip the teeth are this much darker..."""
LIP_SHADOW_DEPTH = 0.08
"""...fading over this share of the mouth's width."""


class MouthInterior:
    """What shows inside the mouth of one photo avatar, set up once per render.

    Args:
        base_rgb: the frame-sized photo the warp samples (uint8 RGB).
        points: the 478 landmarks (x, y) in the frame.
        rest_points: the landmarks with the lips closed at rest (the photo may show an
            open mouth); the teeth hang from this upper lip.
        face_h: the face's height in pixels (forehead to chin).
    """

    def __init__(self, base_rgb: np.ndarray, points: np.ndarray, rest_points: np.ndarray,
                 face_h: float, scale: float):
        self.face_h = face_h
        self._rest = rest_points
        lips = np.zeros(base_rgb.shape[:2], np.uint8)
        cv2.fillPoly(lips, [np.round(points[list(LIP_LOOP)]).astype(np.int32)], 255)
        cv2.fillPoly(lips, [np.round(points[list(INNER_LIP_LOOP)]).astype(np.int32)], 0)
        lip_pixels = base_rgb[lips > 0].astype(np.float32)
        self.lip_rgb = (lip_pixels.mean(axis=0) if len(lip_pixels)
                        else np.array([150, 90, 90], np.float32))
        own = teeth_strip(base_rgb, points)
        if shows_teeth(own):
            self.strip, self.own_teeth = own, True
        else:
            self.strip = match_to_photo(bundled_strip(), eye_white(base_rgb, points),
                                        reference_white())
            self.own_teeth = False
            # Eyes in shadow (deep-set, under a brim) read darker than the teeth would
            # be: teeth are never darker than the lips around them.
            weights = np.array([0.299, 0.587, 0.114], np.float32)
            solid_teeth = self.strip[..., 3] > 127
            teeth_luma = float((self.strip[solid_teeth, :3] @ weights).mean())
            lift = TEETH_OVER_LIPS * float(self.lip_rgb @ weights) / max(teeth_luma, 1.0)
            if lift > 1.0:
                self.strip = self.strip.copy()
                self.strip[..., :3] = np.clip(self.strip[..., :3] * lift, 0, 255)
        middle = self.strip[:, self.strip.shape[1] // 4: 3 * self.strip.shape[1] // 4, 3]
        solid = np.flatnonzero(middle.mean(axis=1) > 127)
        self._tip_row = float(solid.max()) if len(solid) else self.strip.shape[0] / 2
        self._lower_strip = self.strip.copy()
        self._lower_strip[..., :3] *= LOWER_TEETH_SHADE
        # The photo's sharpness: a photo scaled up for the frame is that much softer.
        self._blur_sigma = 0.35 * max(scale, 1.0)
        gray = cv2.cvtColor(base_rgb, cv2.COLOR_RGB2GRAY)
        x0, y0 = np.floor(points.min(axis=0)).astype(int)
        x1, y1 = np.ceil(points.max(axis=0)).astype(int)
        self._grain = min(grain_sigma(gray[max(y0, 0):y1, max(x0, 0):x1]), 6.0)
        self._noise = np.random.default_rng(7).normal(0.0, 1.0, base_rgb.shape[:2]).astype(
            np.float32)

    def draw(self, patch: np.ndarray, points: np.ndarray, origin: tuple[int, int],
             head: np.ndarray, coverage) -> None:  # noqa: ANN001
        """Lay the interior into ``patch`` (the ROI of the frame at ``origin``) inside the
        lips' current inner outline.

        Args:
            points: the landmarks of this frame (frame pixels).
            head: this frame's head motion as a 2×3 affine matrix (frame pixels).
            coverage: ``tasks.render.photo._coverage``: anti-aliased polygon masks.
        """
        upper = points[list(UPPER_INNER_LIP)]
        lower = points[list(LOWER_INNER_LIP)]
        opening = float((lower[1:-1, 1] - upper[1:-1, 1]).max())
        if opening < 0.4:
            return
        ox, oy = origin
        loop = points[list(INNER_LIP_LOOP)] - [ox, oy]
        x0, y0 = np.floor(loop.min(axis=0)).astype(int) - 2
        x1, y1 = np.ceil(loop.max(axis=0)).astype(int) + 3
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, patch.shape[1]), min(y1, patch.shape[0])
        if x1 <= x0 or y1 <= y0:
            return
        box = (x0, y0, x1, y1)
        hole = coverage(box, lambda big, to_px: cv2.fillPoly(big, [to_px(loop)], 255,
                                                              cv2.LINE_AA))
        hole = cv2.GaussianBlur(hole, (3, 3), 0)
        # Per pixel in float32: this runs on every open-mouthed frame.
        gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        xy = np.stack([gx + ox, gy + oy], axis=-1)

        # Cavity: darker the farther from the lips.
        inside = (hole > 0.5).astype(np.uint8)
        depth = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
        depth = np.clip(depth / max(float(depth.max()), 1.0), 0, 1)[..., None]
        shade = CAVITY_EDGE + (CAVITY_DEEP - CAVITY_EDGE) * np.sqrt(depth)
        color = self.lip_rgb * shade
        # The tongue rests on the floor of the mouth, behind the lower teeth.
        now = MouthChord.of(points)
        t_now, b_now = now.coordinates(xy)
        floor = lip_edge(now, points, LOWER_INNER_LIP, np.clip(t_now, 0, 1)).astype(np.float32)
        tongue_top = floor - 0.45 * opening
        tongue = (np.clip((b_now - tongue_top) / max(0.25 * opening, 1.0), 0, 1)
                  * np.clip(1 - (2 * np.abs(t_now - 0.5) / 0.8) ** 2, 0, 1))[..., None]
        tongue_rgb = self.lip_rgb * np.array([0.62, 0.42, 0.45], np.float32)
        color = color * (1 - 0.85 * tongue) + tongue_rgb * (0.85 * tongue) * (1 - 0.5 * depth)

        # Teeth: the strip's coordinates of every pixel, upper ones fixed to the head.
        rest = self._rest @ head[:, :2].T + head[:, 2]
        fixed = MouthChord.of(rest)
        t_head, b_head = fixed.coordinates(xy)
        row_px = fixed.length * STRIP_HEIGHT_OF_WIDTH / (self.strip.shape[0] - 1)
        top = lip_edge(fixed, rest, UPPER_INNER_LIP, np.clip(t_head, 0, 1)).astype(np.float32)
        cols = (t_head * (self.strip.shape[1] - 1)).astype(np.float32)
        rows = ((b_head - top) / row_px).astype(np.float32)
        upper_teeth = cv2.remap(self.strip, cols, rows, cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
        tips = floor - LOWER_TEETH_SHOW * opening
        lower_rows = (self._tip_row - (b_now - tips) / row_px).astype(np.float32)
        lower_cols = (np.clip(t_now, 0, 1) * (self.strip.shape[1] - 1)).astype(np.float32)
        lower_teeth = cv2.remap(self._lower_strip, lower_cols, lower_rows, cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
        lower_teeth[..., 3] *= (lower_rows <= self._tip_row + 2)
        sides = (1 - SIDE_SHADE * np.clip(2 * np.abs(t_head - 0.5), 0, 1) ** 2)[..., None]
        upper_edge = lip_edge(now, points, UPPER_INNER_LIP,
                              np.clip(t_now, 0, 1)).astype(np.float32)
        shadow = 1 - LIP_SHADOW * np.clip(
            1 - (b_now - upper_edge) / (LIP_SHADOW_DEPTH * now.length), 0, 1)[..., None]
        for layer, light in ((lower_teeth, sides), (upper_teeth, sides * shadow)):
            alpha = layer[..., 3:] / 255.0
            color = color * (1 - alpha) + layer[..., :3] * light * alpha

        if self._blur_sigma > 0.5:
            color = cv2.GaussianBlur(color.astype(np.float32), (0, 0), self._blur_sigma)
        color = color + self._grain * self._noise[y0 + oy:y1 + oy, x0 + ox:x1 + ox, None]
        alpha = hole[..., None]
        region = patch[y0:y1, x0:x1].astype(np.float32)
        patch[y0:y1, x0:x1] = np.clip(region * (1 - alpha) + color * alpha, 0, 255).astype(
            np.uint8)
