"""Raster: draws the default stock avatar ("stock:aura") from a :class:`PoseTrack`.

Frames are RGB24: ``(height, width, 3)`` uint8 arrays, channels in R, G, B order, which
is what :func:`tasks.render.encode.encode_mp4` expects.

Budget (see RENDERING.md): everything that does not move is drawn once. The base image
holds the background, shoulders and neck. The head (hair, ears, face, nose, the whites
of the open eyes) is drawn once into an RGBA "sprite" covering the head's region of
interest (ROI). Per frame only the ROI is touched: the sprite is copied, the moving
features (irises, eyelids, brows, mouth) are painted into it, and the sprite is placed
over the base with one affine warp (head motion) and an alpha blend.

Shapes are anti-aliased by drawing their masks 4× supersampled in a small box and
averaging down (OpenCV's own ``LINE_AA`` polygon fill leaves steps along gently curving
edges). Geometry is authored in *head units*: 1.0 is the head's height (crown to chin),
the origin is the middle of the head, +x is to the right of the screen and +y is down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from tasks.render.rig import POSE_CHANNELS, PoseTrack

PIXEL_FORMAT = "rgb24"
"""The layout of the frames :meth:`StockFace.frames` yields (PyAV's name for it)."""

HEAD_HEIGHT_OF_SHORT_SIDE = 0.5
"""The head (crown to chin) is this fraction of the frame's short side."""

_COV_SS = 4  # supersampling of shape masks
_SHIFT = 4  # fixed-point bits of OpenCV drawing coordinates (1/16 px)

# Palette (RGB).
_LID_TINT = (0.975, 0.945, 0.945)
_LASH = (38, 25, 23)
_SCLERA = (250, 247, 243)
_PUPIL = (22, 15, 14)
_LIP_SHINE = (236, 168, 164)
_LIP_LINE = (116, 46, 54)
_CAVITY_TOP = (40, 11, 16)
_CAVITY_BOTTOM = (96, 34, 42)
_TEETH = (246, 242, 234)
_TONGUE = (208, 106, 112)


@dataclass(frozen=True)
class Look:
    """The colours of a drawn stock avatar (RGB); the defaults are Aura's."""

    bg_top: tuple[int, int, int] = (244, 224, 214)
    bg_bottom: tuple[int, int, int] = (188, 202, 232)
    bg_glow: tuple[int, int, int] = (255, 246, 236)
    skin_shade: tuple[int, int, int] = (204, 146, 122)
    skin: tuple[int, int, int] = (240, 196, 168)
    crease: tuple[int, int, int] = (190, 130, 112)
    blush: tuple[int, int, int] = (240, 140, 138)
    hair_back: tuple[int, int, int] = (60, 37, 30)
    hair_shine: tuple[int, int, int] = (156, 108, 80)
    hair_strand: tuple[int, int, int] = (52, 32, 26)
    hair: tuple[int, int, int] = (84, 53, 41)
    brow: tuple[int, int, int] = (74, 47, 38)
    iris_dark: tuple[int, int, int] = (66, 42, 28)
    iris_light: tuple[int, int, int] = (182, 134, 80)
    iris: tuple[int, int, int] = (122, 82, 50)
    nostril: tuple[int, int, int] = (160, 98, 84)
    lip_upper: tuple[int, int, int] = (184, 90, 96)
    lip_lower: tuple[int, int, int] = (204, 110, 114)
    shirt_shade: tuple[int, int, int] = (34, 86, 98)
    shirt: tuple[int, int, int] = (52, 118, 130)
    collar: tuple[int, int, int] = (86, 152, 162)


LOOKS: dict[str, Look] = {
    "aura": Look(),
    "ben": Look(skin=(150, 102, 74), skin_shade=(112, 72, 52), crease=(104, 66, 48),
                blush=(170, 92, 80), hair=(28, 22, 20), hair_back=(18, 14, 13),
                hair_shine=(84, 70, 62), hair_strand=(12, 10, 9), brow=(26, 20, 18),
                iris_dark=(34, 22, 14), iris=(70, 44, 26), iris_light=(118, 82, 50),
                nostril=(96, 58, 44), lip_upper=(120, 62, 60), lip_lower=(138, 76, 72),
                shirt=(180, 120, 46), shirt_shade=(140, 88, 30), collar=(214, 164, 84),
                bg_top=(222, 232, 240), bg_bottom=(168, 188, 206), bg_glow=(244, 248, 252)),
    "cleo": Look(skin=(248, 214, 192), skin_shade=(222, 168, 146), crease=(206, 150, 130),
                 blush=(246, 150, 146), hair=(178, 74, 34), hair_back=(128, 50, 24),
                 hair_shine=(236, 138, 82), hair_strand=(110, 40, 18), brow=(150, 70, 40),
                 iris_dark=(40, 78, 54), iris=(70, 128, 86), iris_light=(130, 182, 126),
                 nostril=(196, 126, 110), lip_upper=(198, 100, 108), lip_lower=(216, 120, 126),
                 shirt=(92, 70, 150), shirt_shade=(64, 48, 112), collar=(140, 118, 196),
                 bg_top=(236, 240, 226), bg_bottom=(196, 214, 190), bg_glow=(250, 252, 240)),
}
"""The drawn stock avatars' looks, by name (``stock:NAME``)."""

# Features, in head units.
_EYE_X = 0.150          # distance of each eye's centre from the middle
_EYE_Y = 0.005
_EYE_HALF_W = 0.078
_EYE_UP_MAX = 0.060     # height of the upper lid above the corner line, widest open
_EYE_DOWN = 0.028       # depth of the lower lid below the corner line
_EYE_REST_OPEN = 0.74   # resting opening as a fraction of the widest
_IRIS_R = 0.039
_IRIS_TURN_X = 0.034    # the iris's move at gaze_x ±1 (0.22 eye widths)...
_IRIS_TURN_Y = 0.019    # ...and at gaze_y ±1 (0.12 eye widths)
_LID_FOLLOW = 0.6       # the upper lid follows this share of the iris's move up or down
_LID_SHADOW = (120, 88, 88)
_BROW_Y = -0.100
_MOUTH_Y = 0.285
_MOUTH_HALF_W = 0.088
_MOUTH_MAX_GAP = 0.13   # lip gap at jaw_open = 1
_NOSE_TIP_Y = 0.165
_PIVOT = (0.0, 0.45)    # the head rotates about the top of the neck

# The sprite's extent around the head (head units), margin for head motion included.
_ROI = (-0.60, -0.71, 0.60, 0.60)


# ---------------------------------------------------------------------- drawing helpers
def _chaikin(points: np.ndarray, iterations: int = 3, closed: bool = True) -> np.ndarray:
    """Corner-cutting smoothing of a polyline; ``points`` (n, 2) -> (m, 2) float64."""
    p = np.asarray(points, dtype=np.float64)
    for _ in range(iterations):
        a = p if closed else p[:-1]
        q = np.roll(p, -1, axis=0) if closed else p[1:]
        new = np.empty((2 * len(a), 2))
        new[0::2] = 0.75 * a + 0.25 * q
        new[1::2] = 0.25 * a + 0.75 * q
        p = new if closed else np.vstack([p[:1], new, p[-1:]])
    return p


def _mirror(points: np.ndarray) -> np.ndarray:
    """A right half-outline (top to bottom) joined with its mirror image (bottom to top)."""
    p = np.asarray(points, dtype=np.float64)
    return np.vstack([p, (p * [-1.0, 1.0])[::-1]])


def _ellipse(center: Sequence[float], axes: Sequence[float], angle_deg: float = 0.0,
             n: int = 64) -> np.ndarray:
    """Polygon (n, 2) of an ellipse; ``axes`` are the semi-axes."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    pts = np.stack([np.cos(t) * axes[0], np.sin(t) * axes[1]], axis=1)
    c, s = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    return pts @ np.array([[c, s], [-s, c]]) + np.asarray(center, dtype=np.float64)


def _fix(points_px: np.ndarray) -> np.ndarray:
    """Float pixel coordinates -> OpenCV fixed point (int32, ``_SHIFT`` fractional bits)."""
    return np.round(np.asarray(points_px) * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)


class _Cov(NamedTuple):
    """Coverage 0..1 (float32, (h, w)) of a shape inside a box at (x0, y0) of a canvas."""

    x0: int
    y0: int
    a: np.ndarray

    @property
    def slices(self) -> tuple[slice, slice]:
        h, w = self.a.shape
        return slice(self.y0, self.y0 + h), slice(self.x0, self.x0 + w)


def _coverage(
    shape_hw: tuple[int, int],
    polys: Sequence[np.ndarray],
    *,
    stroke_px: float | None = None,
    closed: bool = False,
    blur_px: float = 0.0,
    box: tuple[int, int, int, int] | None = None,
) -> _Cov | None:
    """Anti-aliased coverage of filled polygons (or polylines stroked ``stroke_px`` wide).

    Coordinates are pixels of a canvas of ``shape_hw`` (height, width). The mask is drawn
    4× supersampled inside the shapes' bounding box (or ``box``: x0, y0, x1, y1) and
    area-averaged down; ``blur_px`` feathers it. ``None`` when the box is empty.
    """
    h, w = shape_hw
    polys = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polys]
    if box is None:
        pts = np.vstack(polys)
        pad = (stroke_px or 0.0) / 2.0 + 3.0 * blur_px + 2.0
        x0, y0 = np.floor(pts.min(axis=0) - pad).astype(int)
        x1, y1 = np.ceil(pts.max(axis=0) + pad).astype(int) + 1
    else:
        x0, y0, x1, y1 = box
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return None
    ss = _COV_SS
    m = np.zeros(((y1 - y0) * ss, (x1 - x0) * ss), np.uint8)
    fixed = [_fix((p - (x0, y0) + 0.5) * ss - 0.5) for p in polys]
    if stroke_px is None:
        cv2.fillPoly(m, fixed, 255, cv2.LINE_8, _SHIFT)
    else:
        cv2.polylines(m, fixed, closed, 255, max(1, int(round(stroke_px * ss))), cv2.LINE_8,
                      _SHIFT)
    a = cv2.resize(m, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    a = a.astype(np.float32) * np.float32(1.0 / 255.0)
    if blur_px > 0:
        a = cv2.GaussianBlur(a, (0, 0), blur_px)
    return _Cov(int(x0), int(y0), a)


def _paint(img: np.ndarray, cov: _Cov | None, color: Sequence[float] | np.ndarray,
           opacity: float = 1.0, *, from_image: bool = False) -> None:
    """Blend ``color`` into uint8 ``img`` where ``cov`` covers it.

    ``color``: RGB, or an (h, w, 3) image of the coverage's box, or (``from_image``) an
    image the size of ``img`` to copy the covered pixels from.
    """
    if cov is None:
        return
    sl = cov.slices
    region = img[sl]
    col = np.asarray(color, dtype=np.float32) if not from_image else color[sl]
    f = region.astype(np.float32)
    f += (col - f) * (cov.a * np.float32(opacity))[..., None]
    f += 0.5
    region[...] = f


class _Layers:
    """Premultiplied RGBA float32 canvas with "over" compositing of coverages."""

    def __init__(self, height: int, width: int, opaque_rgb: np.ndarray | None = None):
        self.shape = (height, width)
        if opaque_rgb is None:
            self.rgb = np.zeros((height, width, 3), np.float32)
            self.a = np.zeros((height, width), np.float32)
        else:
            self.rgb = opaque_rgb.astype(np.float32)
            self.a = np.ones((height, width), np.float32)

    def cov(self, polys: Sequence[np.ndarray], **kwargs) -> _Cov | None:
        return _coverage(self.shape, polys, **kwargs)

    def full(self, cov: _Cov | None) -> np.ndarray:
        """A coverage pasted into a canvas-sized float32 mask."""
        out = np.zeros(self.shape, np.float32)
        if cov is not None:
            out[cov.slices] = cov.a
        return out

    def _m(self, cov: _Cov, opacity: float, clip: np.ndarray | None) -> np.ndarray:
        m = cov.a * np.float32(opacity)
        return m * clip[cov.slices] if clip is not None else m

    def over(self, cov: _Cov | None, color: Sequence[float], opacity: float = 1.0,
             clip: np.ndarray | None = None) -> None:
        """Composite ``color`` over the canvas where ``cov`` (times ``clip``) covers it."""
        if cov is None:
            return
        m = self._m(cov, opacity, clip)
        rgb, a = self.rgb[cov.slices], self.a[cov.slices]
        rgb *= (1.0 - m)[..., None]
        rgb += m[..., None] * np.asarray(color, np.float32)
        a *= 1.0 - m
        a += m

    def shade(self, cov: _Cov | None, color: Sequence[float], opacity: float,
              clip: np.ndarray | None = None) -> None:
        """Tint what is there towards ``color`` without changing its coverage."""
        if cov is None:
            return
        m = self._m(cov, opacity, clip)
        rgb, a = self.rgb[cov.slices], self.a[cov.slices]
        rgb += (np.asarray(color, np.float32) * a[..., None] - rgb) * m[..., None]

    def to_u8(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.clip(self.rgb + 0.5, 0, 255).astype(np.uint8),
                np.clip(self.a * 255.0 + 0.5, 0, 255).astype(np.uint8))


class _Eyeball(NamedTuple):
    """The white of one eye in the sprite: its coverage, and how much of the lid's shadow
    falls on each of its pixels (float32, the coverage's box)."""

    sclera: _Cov
    shadow: np.ndarray


# ---------------------------------------------------------------------- the avatar
class StockFace:
    """The default stock avatar, drawn with OpenCV.

    Args:
        width_px, height_px: frame size in pixels (any of ``RenderSpec.size_px``; the
            head is centred and half of the short side tall).
        look: the colours (:data:`LOOKS`); Aura's by default.
        backdrop_rgb: a frame-sized (height, width, 3) picture to stand in front of;
            None paints the look's own soft gradient.

    Attributes:
        regions: ``name -> (x0, y0, x1, y1)`` pixel boxes (end exclusive) of the face's
            parts at rest (no head motion), in frame coordinates: ``head`` (the region
            redrawn per frame), ``mouth``, ``eye_left`` and ``eye_right`` (screen
            left/right), ``brow_left``, ``brow_right``.
    """

    def __init__(self, width_px: int, height_px: int, look: Look | None = None,
                 backdrop_rgb: np.ndarray | None = None):
        self.look = look or Look()
        self._backdrop_rgb = backdrop_rgb
        if int(width_px) < 64 or int(height_px) < 64:
            raise ValueError(
                f"frame size must be at least 64×64 px, got {width_px}×{height_px}"
            )
        self.width_px, self.height_px = int(width_px), int(height_px)
        w, h = self.width_px, self.height_px
        self._head_px = HEAD_HEIGHT_OF_SHORT_SIDE * min(w, h)
        tall = float(np.clip((h / w - 1.0) / (16 / 9 - 1.0), 0.0, 1.0))
        self._cx = w / 2.0
        self._cy = h * (0.47 - 0.06 * tall)
        x0, y0, x1, y1 = self._box(*_ROI)
        self._roi = (max(0, x0), max(0, y0), min(w, x1), min(h, y1))
        self._roi_w = self._roi[2] - self._roi[0]
        self._roi_h = self._roi[3] - self._roi[1]

        self._eye_u = np.linspace(0.0, 1.0, 17)
        u = self._eye_u
        # The upper lid peaks a little towards the nose, the lower dips towards the temple.
        self._eye_up_prof = np.sin(np.pi * u ** 0.85) ** 0.9
        self._eye_low_prof = np.sin(np.pi * u ** 1.15) ** 0.8
        self._mouth_u = np.linspace(-1.0, 1.0, 33)

        self._base = self._draw_base()
        self._sprite_rgb, self._sprite_a = self._draw_sprite()

        def eye_box(side: float) -> tuple[float, float, float, float]:
            cx = side * _EYE_X
            return (cx - _EYE_HALF_W - 0.01, _EYE_Y - _EYE_UP_MAX - 0.02,
                    cx + _EYE_HALF_W + 0.01, _EYE_Y + _EYE_DOWN + 0.01)

        def brow_box(side: float) -> tuple[float, float, float, float]:
            xs = sorted((side * 0.045, side * 0.26))
            return (xs[0], _BROW_Y - 0.075, xs[1], _BROW_Y + 0.04)

        self.regions: dict[str, tuple[int, int, int, int]] = {
            "head": self._roi,
            "mouth": self._box(-0.14, _MOUTH_Y - 0.085, 0.14, _MOUTH_Y + 0.15),
            "eye_left": self._box(*eye_box(-1.0)),
            "eye_right": self._box(*eye_box(1.0)),
            "brow_left": self._box(*brow_box(-1.0)),
            "brow_right": self._box(*brow_box(1.0)),
        }

    # ------------------------------------------------------------------ coordinates
    def _px(self, pts: np.ndarray, frame: bool = False) -> np.ndarray:
        """Head units (n, 2) -> pixel coordinates (n, 2) of the sprite (or of the frame)."""
        p = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        x = self._cx + p[:, 0] * self._head_px
        y = self._cy + p[:, 1] * self._head_px
        if not frame:
            x = x - self._roi[0]
            y = y - self._roi[1]
        return np.stack([x, y], axis=1)

    def _box(self, hx0: float, hy0: float, hx1: float, hy1: float) -> tuple[int, int, int, int]:
        (x0, y0), (x1, y1) = self._px([(hx0, hy0), (hx1, hy1)], frame=True)
        return (int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1)))

    # ------------------------------------------------------------------ static parts
    def _draw_base(self) -> np.ndarray:
        """Background, neck and shoulders: (height, width, 3) uint8 RGB."""
        w, h, s = self.width_px, self.height_px, self._head_px
        if self._backdrop_rgb is not None:
            img = self._backdrop_rgb.astype(np.float32)
        else:
            yy = (np.arange(h, dtype=np.float32) / max(1, h - 1))[:, None, None]
            top, bottom = np.float32(self.look.bg_top), np.float32(self.look.bg_bottom)
            img = np.broadcast_to(top + (bottom - top) * yy, (h, w, 3)).copy()
            # Soft light behind the head.
            gx = (np.arange(w, dtype=np.float32) - self._cx) / (1.1 * s)
            gy = (np.arange(h, dtype=np.float32) - (self._cy - 0.1 * s)) / (1.1 * s)
            glow = np.exp(-(gx[None, :] ** 2 + gy[:, None] ** 2) * 1.4)[..., None] * 0.6
            img += (np.float32(self.look.bg_glow) - img) * glow
        L = _Layers(h, w, opaque_rgb=img)

        def px(pts) -> np.ndarray:
            return self._px(pts, frame=True)

        # Neck, with the chin's shadow and a shaded side.
        neck = _chaikin(_mirror(np.array([
            (0.135, 0.25), (0.14, 0.50), (0.165, 0.58), (0.24, 0.67), (0.26, 0.90),
        ])), 2)
        neck_c = L.cov([px(neck)])
        neck_m = L.full(neck_c)
        L.over(neck_c, self.look.skin)
        L.shade(L.cov([px(_ellipse((0.0, 0.46), (0.2, 0.09)))], blur_px=0.03 * s),
                self.look.skin_shade, 0.9, clip=neck_m)
        L.shade(L.cov([px(np.array([(0.06, 0.3), (0.16, 0.3), (0.17, 0.64), (0.09, 0.64)]))],
                      blur_px=0.025 * s), self.look.skin_shade, 0.35, clip=neck_m)

        # Shoulders and top, with a rounded neckline cut out of it.
        neck_curve = np.array([(-0.16, 0.58), (-0.12, 0.70), (0.0, 0.75), (0.12, 0.70),
                               (0.16, 0.58)])
        shirt = _chaikin(np.vstack([_mirror(np.array([
            (0.16, 0.58), (0.30, 0.665), (0.58, 0.72), (0.76, 0.80), (0.86, 0.97),
            (0.92, 1.30), (0.96, 4.0),
        ])), neck_curve[1:-1]]), 3)
        neckline = _chaikin(neck_curve, 3, closed=False)
        shirt_c = L.cov([px(shirt)])
        shirt_m = L.full(shirt_c)
        L.over(shirt_c, self.look.shirt)
        L.shade(L.cov([px(_ellipse((0.0, 0.62), (0.14, 0.08)))], blur_px=0.03 * s),
                self.look.skin_shade, 0.3, clip=neck_m * (1.0 - shirt_m))
        L.over(L.cov([px(neckline)], stroke_px=0.036 * s), self.look.collar, 0.95, clip=shirt_m)
        L.shade(L.cov([px(neckline + [0.0, 0.022])], stroke_px=0.02 * s, blur_px=0.012 * s),
                self.look.shirt_shade, 0.5, clip=shirt_m)
        # Rounded shoulders: shade towards the arms, and a soft fold where each arm
        # meets the body.
        for side in (-1.0, 1.0):
            arm = np.array([(0.68, 0.78), (1.2, 0.7), (1.2, 4.0), (0.74, 4.0), (0.74, 1.2)])
            L.shade(L.cov([px(arm * [side, 1.0])], blur_px=0.07 * s), self.look.shirt_shade, 0.55,
                    clip=shirt_m)
            seam = _chaikin(np.array([(0.66, 1.02), (0.70, 1.4), (0.72, 4.0)]) * [side, 1.0],
                            2, closed=False)
            L.shade(L.cov([px(seam)], stroke_px=0.012 * s, blur_px=0.012 * s),
                    self.look.shirt_shade,
                    0.6, clip=shirt_m)
        return L.to_u8()[0]

    def _draw_sprite(self) -> tuple[np.ndarray, np.ndarray]:
        """The head at rest: premultiplied RGB (roi_h, roi_w, 3) and alpha (roi_h, roi_w).

        Also keeps ``_lid_src``, the sprite before the eyes were drawn (RGB, tinted as
        eyelid skin), which the lids are painted from each frame, and ``_eyeballs``, the
        whites of the eyes by side, which the irises are painted on.
        """
        s = self._head_px
        L = _Layers(self._roi_h, self._roi_w)
        px = self._px

        # Back of the hair: a chin-length bob behind the head.
        back = _chaikin(_mirror(np.array([
            (0.0, -0.625), (0.30, -0.58), (0.46, -0.43), (0.53, -0.18), (0.535, 0.10),
            (0.515, 0.30), (0.48, 0.385), (0.41, 0.405), (0.35, 0.37), (0.30, 0.24),
            (0.0, 0.22),
        ])), 3)
        L.over(L.cov([px(back)]), self.look.hair_back)
        L.shade(L.cov([px(_chaikin(np.array([(0.40, -0.35), (0.48, 0.0), (0.46, 0.40)]), 2,
                                   closed=False)) * [1, 1]], stroke_px=0.02 * s,
                      blur_px=0.02 * s), self.look.hair, 0.6)

        # Ears (behind the face's edge).
        for side in (-1.0, 1.0):
            L.over(L.cov([px(_ellipse((side * 0.352, 0.06), (0.052, 0.088), side * 8))]),
                   self.look.skin)
            L.shade(L.cov([px(_ellipse((side * 0.365, 0.06), (0.024, 0.055), side * 8))],
                          blur_px=0.008 * s), self.look.skin_shade, 0.75)

        # Face: a rounded skull over a soft, tapering jaw.
        t = np.linspace(-np.pi, 0.0, 41)
        upper = np.stack([0.352 * np.cos(t), 0.03 + 0.53 * np.sin(t)], axis=1)
        v = np.linspace(0.0, 1.0, 41)[1:-1]
        half = 0.352 * (1.0 - v ** 2.0) ** 0.55 * (1.0 - 0.12 * v)
        right = np.stack([half, 0.03 + 0.47 * v], axis=1)
        face = _chaikin(np.vstack([upper, right, [(0.0, 0.5)], (right * [-1, 1])[::-1]]), 2)
        face_c = L.cov([px(face)])
        face_m = L.full(face_c)
        L.over(face_c, self.look.skin)
        # Roundness: shade towards the edge of the face; blush on the cheeks.
        dist = cv2.distanceTransform((face_m > 0.5).astype(np.uint8), cv2.DIST_L2, 5)
        edge = np.clip(1.0 - dist / (0.07 * s), 0.0, 1.0) ** 2
        L.rgb += (np.float32(self.look.skin_shade) - L.rgb) * (edge * face_m * 0.45)[..., None]
        for side in (-1.0, 1.0):
            L.shade(L.cov([px(_ellipse((side * 0.205, 0.14), (0.07, 0.04)))],
                          blur_px=0.028 * s), self.look.blush, 0.32, clip=face_m)

        # Nose: a soft shadow down one side, a lit tip and two nostrils.
        ridge = _chaikin(np.array([(0.032, -0.03), (0.045, 0.08), (0.052, 0.14)]), 2,
                         closed=False)
        L.shade(L.cov([px(ridge)], stroke_px=0.018 * s, blur_px=0.012 * s), self.look.skin_shade,
                0.35)
        under = _chaikin(np.array([(-0.05, 0.152), (-0.02, 0.18), (0.02, 0.18),
                                   (0.05, 0.152)]), 2, closed=False)
        L.shade(L.cov([px(under)], stroke_px=0.012 * s, blur_px=0.006 * s), self.look.skin_shade,
                0.55)
        L.shade(L.cov([px(_ellipse((0.0, 0.145), (0.03, 0.02)))], blur_px=0.012 * s),
                (252, 224, 204), 0.5)
        for side in (-1.0, 1.0):
            L.over(L.cov([px(_ellipse((side * 0.024, _NOSE_TIP_Y), (0.013, 0.006),
                                      side * 15))], blur_px=0.002 * s), self.look.nostril, 0.85)
        # A face with no eyes yet: the source of the eyelid skin painted per frame.
        lid_src = L.rgb * np.float32(_LID_TINT)

        self._eyeballs = {side: self._draw_static_eye(L, side) for side in (-1.0, 1.0)}

        # The fringe, side-swept from a parting on the screen-left side, and its shadow.
        fringe = px(_chaikin(np.array([
            (-0.34, -0.02), (-0.37, -0.24), (-0.30, -0.44), (-0.14, -0.56), (0.08, -0.58),
            (0.28, -0.52), (0.40, -0.36), (0.385, -0.14), (0.365, 0.02), (0.34, -0.09),
            (0.27, -0.20), (0.14, -0.27), (0.02, -0.31), (-0.10, -0.355), (-0.19, -0.33),
            (-0.27, -0.24), (-0.315, -0.10),
        ]), 3))
        L.shade(L.cov([fringe + [0.0, 0.025 * s]], blur_px=0.02 * s), self.look.skin_shade, 0.5,
                clip=face_m)
        fringe_c = L.cov([fringe])
        fringe_m = L.full(fringe_c)
        L.over(fringe_c, self.look.hair)
        shine = _chaikin(np.array([(-0.25, -0.43), (-0.08, -0.50), (0.12, -0.49),
                                   (0.28, -0.41)]), 2, closed=False)
        L.shade(L.cov([px(shine)], stroke_px=0.04 * s, blur_px=0.02 * s),
                self.look.hair_shine, 0.55,
                clip=fringe_m)
        strands = [px(_chaikin(np.array(c), 3, closed=False)) for c in (
            ((-0.12, -0.53), (0.05, -0.42), (0.2, -0.30)),
            ((-0.02, -0.55), (0.18, -0.45), (0.32, -0.22)),
            ((0.12, -0.55), (0.30, -0.44), (0.36, -0.12)),
            ((-0.18, -0.50), (-0.06, -0.42), (0.06, -0.33)),
            ((-0.22, -0.48), (-0.30, -0.36), (-0.33, -0.16)),
        )]
        L.shade(L.cov(strands, stroke_px=max(1.0, 0.006 * s)), self.look.hair_strand, 0.4,
                clip=fringe_m)

        rgb, a = L.to_u8()
        self._lid_src = np.clip(lid_src + 0.5, 0, 255).astype(np.uint8)
        return rgb, a

    def _draw_static_eye(self, L: _Layers, side: float) -> _Eyeball:
        """The white of the eye at its widest, in the lid's shadow (the iris is drawn per
        frame, see :meth:`_draw_iris`)."""
        s, px = self._head_px, self._px
        upper, lower = self._eye_curves(side, openness=1.0, squint=0.0)
        sclera_c = L.cov([px(np.vstack([upper, lower[::-1]]))])
        sclera_m = L.full(sclera_c)
        L.over(sclera_c, _SCLERA)
        # The top of the eyeball sits in the lid's shadow.
        shadow_c = L.cov([px(np.vstack([upper, (upper + [0.0, 0.03])[::-1]]))],
                         blur_px=0.01 * s)
        L.shade(shadow_c, _LID_SHADOW, 0.35, clip=sclera_m)
        shadow = L.full(shadow_c)[sclera_c.slices] * np.float32(0.35) * sclera_c.a
        return _Eyeball(sclera_c, shadow)

    # ------------------------------------------------------------------ moving parts
    def _eye_curves(self, side: float, openness: float, squint: float
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Upper and lower lid edges of one eye, (17, 2) head units, inner -> outer corner.

        ``openness``: 1 = widest, 0 = closed; ``squint`` 0..1 lifts the lower lid.
        """
        u = self._eye_u
        inner = np.array([side * (_EYE_X - _EYE_HALF_W), _EYE_Y + 0.006])
        outer = np.array([side * (_EYE_X + _EYE_HALF_W), _EYE_Y - 0.010])
        line = inner + (outer - inner) * u[:, None]
        zeros = np.zeros_like(u)
        lower = line + np.stack([zeros, _EYE_DOWN * (1.0 - 0.7 * squint)
                                 * self._eye_low_prof], axis=1)
        closed = lower + [0.0, 0.002]
        widest = line - np.stack([zeros, _EYE_UP_MAX * self._eye_up_prof], axis=1)
        return closed + (widest - closed) * openness, lower

    def _draw_iris(self, img: np.ndarray, side: float, gaze_x: float, gaze_y: float) -> None:
        """Iris, pupil and catch-lights, turned by the gaze (-1..1 each way) and clipped to
        the white of the eye, in the lid's shadow like it."""
        s = self._head_px
        sclera, shadow = self._eyeballs[side]
        centre = (side * (_EYE_X + 0.004) + _IRIS_TURN_X * float(np.clip(gaze_x, -1.0, 1.0)),
                  _EYE_Y + 0.004 + _IRIS_TURN_Y * float(np.clip(gaze_y, -1.0, 1.0)))
        cx, cy = self._px([centre])[0]
        r = _IRIS_R * s
        h, w = sclera.a.shape
        x0, x1 = max(int(cx - r - 2), sclera.x0), min(int(cx + r + 3), sclera.x0 + w)
        y0, y1 = max(int(cy - r - 2), sclera.y0), min(int(cy + r + 3), sclera.y0 + h)
        if x1 <= x0 or y1 <= y0:
            return
        gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        d = np.hypot(gx - cx, gy - cy) / r
        disc = np.clip((1.0 - d) * r + 0.5, 0.0, 1.0)
        # Iris: lighter below, a dark rim, then the pupil.
        t = np.clip((gy - cy) / r * 0.9 + 0.1, 0.0, 1.0)[..., None]
        iris, light = np.float32(self.look.iris), np.float32(self.look.iris_light)
        col = iris + (light - iris) * t
        rim = np.clip((d - 0.72) / 0.28, 0.0, 1.0)[..., None]
        col += (np.float32(self.look.iris_dark) - col) * rim
        pupil = np.clip((0.42 - d) * r + 0.5, 0.0, 1.0)[..., None]
        col += (np.float32(_PUPIL) - col) * pupil
        box = (slice(y0 - sclera.y0, y1 - sclera.y0), slice(x0 - sclera.x0, x1 - sclera.x0))
        col += (np.float32(_LID_SHADOW) - col) * shadow[box][..., None]
        for dx, dy, rr, op in ((-0.013, -0.014, 0.0095, 0.95), (0.012, 0.013, 0.0045, 0.7)):
            dist = np.hypot(gx - (cx + dx * s), gy - (cy + dy * s))
            catch = np.clip(rr * s - dist + 0.5, 0.0, 1.0)[..., None] * np.float32(op)
            col += (np.float32(255.0) - col) * catch
        m = (disc * sclera.a[box])[..., None]
        region = img[y0:y1, x0:x1]
        f = region.astype(np.float32)
        f += (col - f) * m + 0.5
        region[...] = f

    def _draw_eye(self, img: np.ndarray, side: float, p: dict[str, float]) -> None:
        s, shape = self._head_px, img.shape[:2]
        px = self._px
        self._draw_iris(img, side, p["gaze_x"], p["gaze_y"])
        # The upper lid follows the iris up and down.
        follow = _LID_FOLLOW * _IRIS_TURN_Y / _EYE_UP_MAX * float(np.clip(p["gaze_y"], -1, 1))
        openness = (_EYE_REST_OPEN + 0.26 * p["eye_wide"] - 0.28 * p["lid_droop"]
                    - 0.12 * p["eye_squint"] - follow)
        openness = float(np.clip(openness, 0.0, 1.0)) * (1.0 - p["blink"])
        upper, lower = self._eye_curves(side, openness, p["eye_squint"])
        widest, lower_rest = self._eye_curves(side, 1.0, 0.0)
        zeros = np.zeros_like(self._eye_u)
        # Upper lid: eyelid skin from above the crease down to the lid's edge.
        crease = widest - np.stack([zeros, 0.018 + 0.006 * self._eye_up_prof], axis=1)
        lid = np.vstack([upper[:1] + [side * -0.01, 0.004], upper,
                         upper[-1:] + [side * 0.012, -0.004], crease[::-1]])
        _paint(img, _coverage(shape, [px(lid)]), self._lid_src, from_image=True)
        _paint(img, _coverage(shape, [px(crease[3:-2] + [0.0, 0.003])], stroke_px=0.005 * s),
               self.look.crease, 0.55)
        # Lower lid: the face's own skin from the lid's edge down to below the eye.
        low = np.vstack([lower[:1] + [side * -0.01, 0.0], lower,
                         lower[-1:] + [side * 0.012, 0.0], (lower_rest + [0.0, 0.01])[::-1]])
        _paint(img, _coverage(shape, [px(low)]), self._lid_src, from_image=True)
        _paint(img, _coverage(shape, [px(lower[3:-1] + [0.0, 0.003])], stroke_px=0.004 * s),
               self.look.crease, 0.5)
        # Lash line: thick along the upper lid, with a small flick at the outer corner.
        thick = 0.004 + 0.008 * np.sin(np.pi * np.clip(self._eye_u * 0.9 + 0.1, 0.0, 1.0))
        top = upper - np.stack([zeros, thick], axis=1)
        lash = np.vstack([upper, [upper[-1] + [side * 0.014, -0.011]], top[::-1]])
        _paint(img, _coverage(shape, [px(lash)]), _LASH)

    def _draw_brow(self, img: np.ndarray, side: float, p: dict[str, float]) -> None:
        u = np.linspace(0.0, 1.0, 13)
        inner_w = (1.0 - u) ** 1.5
        x = side * (0.058 + 0.185 * u - 0.014 * p["brow_furrow"] * inner_w)
        arch = (0.022 + 0.012 * p["brow_raise"] - 0.012 * p["brow_furrow"]) * np.sin(
            np.pi * np.clip(u * 0.85 + 0.05, 0.0, 1.0)) ** 1.3
        y = (_BROW_Y + 0.006 - 0.028 * p["brow_raise"] - arch + 0.014 * u
             - 0.032 * p["brow_inner_up"] * inner_w + 0.026 * p["brow_furrow"] * inner_w)
        thick = 0.009 + 0.018 * (1.0 - u) ** 0.8
        poly = np.vstack([np.stack([x, y - 0.45 * thick], axis=1),
                          np.stack([x, y + 0.55 * thick], axis=1)[::-1]])
        _paint(img, _coverage(img.shape[:2], [self._px(_chaikin(poly, 2))]), self.look.brow)

    def _draw_wrinkles(self, img: np.ndarray, amount: float) -> None:
        if amount < 0.1:
            return
        arcs = [self._px(_chaikin(np.array([(-0.035, 0.01 + dy), (0.0, dy),
                                            (0.035, 0.01 + dy)]), 2, closed=False))
                for dy in (-0.018, 0.004)]
        _paint(img, _coverage(img.shape[:2], arcs, stroke_px=0.005 * self._head_px,
                              blur_px=0.5), self.look.skin_shade, 0.8 * amount)

    def _draw_mouth(self, img: np.ndarray, p: dict[str, float]) -> None:
        s, shape, px = self._head_px, img.shape[:2], self._px
        u = self._mouth_u
        au = np.abs(u)
        rnd, width, press = p["lip_round"], p["mouth_width"], p["lips_pressed"]
        hw = _MOUTH_HALF_W * (1.0 + 0.22 * width) * (1.0 - 0.36 * rnd)
        corner = -0.026 * p["smile"] + 0.022 * p["mouth_corner_down"]
        line = _MOUTH_Y + corner * au ** 2.2 + 0.006 * p["smile"] * (1.0 - u ** 2)
        gap = _MOUTH_MAX_GAP * p["jaw_open"] * (1.0 - 0.9 * press)
        raise_ = 0.02 * p["upper_lip_raise"]
        # The opening: narrower than the lips when they round, boxier when they spread.
        r_in = 0.93 - 0.42 * rnd
        e = float(np.clip(0.58 - 0.22 * max(width, 0.0) + 0.05 * rnd, 0.3, 0.8))
        env = (1.0 - np.clip(au / r_in, 0.0, 1.0) ** 2) ** e
        opening_up = (0.24 * gap + raise_) * env
        opening_dn = 0.76 * gap * env
        inner_up, inner_dn = line - opening_up, line + opening_dn
        tu = 0.024 * (1.0 - 0.55 * press) * (1.0 + 0.4 * rnd)
        tl = 0.032 * (1.0 - 0.5 * press) * (1.0 + 0.4 * rnd)
        bow = 1.0 - 0.25 * np.exp(-((u / 0.14) ** 2))  # the dip of the cupid's bow
        outer_up = line - (0.24 * gap + 0.5 * raise_) * env - tu * (1.0 - au ** 1.8) ** 0.7 * bow
        outer_dn = inner_dn + tl * (1.0 - au ** 2) ** 0.6
        x = u * hw

        def pts(ys: np.ndarray, xs: np.ndarray = x) -> np.ndarray:
            return px(np.stack([xs, ys], axis=1))

        _paint(img, _coverage(shape, [np.vstack([pts(outer_up), pts(inner_up)[::-1]])]),
               self.look.lip_upper)
        _paint(img, _coverage(shape, [np.vstack([pts(inner_dn), pts(outer_dn)[::-1]])]),
               self.look.lip_lower)
        open_px = float((opening_up + opening_dn).max() * s)
        if open_px > 0.75:
            self._draw_mouth_inside(img, pts, x, inner_up, inner_dn, gap, hw, r_in, rnd)
        # Sheen on the lower lip.
        shine_y = float(inner_dn[len(u) // 2] + 0.5 * tl)
        _paint(img, _coverage(shape, [px(_ellipse((0.0, shine_y), (0.4 * hw, 0.2 * tl), n=32))],
                              blur_px=max(0.8, 0.006 * s)), _LIP_SHINE, 0.45)
        # Where the lips meet (or the edge of the opening): darker when closed.
        _paint(img, _coverage(shape, [pts(inner_up[1:-1], x[1:-1])],
                              stroke_px=(0.008 if open_px <= 0.75 else 0.004) * s),
               _LIP_LINE, 0.9)
        # Corners: short creases that curl up with a smile and down with a frown.
        smile, down = p["smile"], p["mouth_corner_down"]
        amount = max(smile, down)
        tips = [px(_chaikin(np.array([
            [sgn * (hw - 0.002), line[0]],
            [sgn * (hw + 0.003 + 0.002 * amount), line[0] - 0.001 + 0.003 * down],
            [sgn * (hw + 0.005 + 0.002 * amount),
             line[0] - 0.003 - 0.009 * smile + 0.009 * down],
        ]), 2, closed=False)) for sgn in (-1.0, 1.0)]
        _paint(img, _coverage(shape, tips, stroke_px=0.0035 * s, blur_px=0.4), _LIP_LINE,
               0.2 + 0.25 * amount)

    def _draw_mouth_inside(
        self, img: np.ndarray, pts: Callable[..., np.ndarray], x: np.ndarray,
        inner_up: np.ndarray, inner_dn: np.ndarray, gap: float, hw: float, r_in: float,
        rnd: float,
    ) -> None:
        """Dark cavity, a band of upper teeth and a tongue inside the inner-lip polygon.

        ``x``, ``inner_up``, ``inner_dn``: the inner lip edges (head units) sampled across
        the mouth; ``gap`` the opening, ``hw`` the half-width, ``r_in`` the opening's
        half-width as a fraction of ``hw``, ``rnd`` the lip rounding.
        """
        s, shape = self._head_px, img.shape[:2]
        keep = np.abs(x) <= r_in * hw + 1e-9
        xs = x[keep]
        cav = _coverage(shape, [np.vstack([pts(inner_up[keep], xs),
                                           pts(inner_dn[keep], xs)[::-1]])])
        if cav is None:
            return
        h, w = cav.a.shape
        box = (cav.x0, cav.y0, cav.x0 + w, cav.y0 + h)
        # Cavity: darkest under the upper teeth, warmer towards the floor of the mouth.
        g = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None] ** 1.5
        top, bottom = np.float32(_CAVITY_TOP), np.float32(_CAVITY_BOTTOM)
        inside = np.broadcast_to(top + (bottom - top) * g, (h, w, 3)).copy()
        # Tongue: a soft mound resting on the lower lip.
        low = float(inner_dn[keep].max())
        tongue_poly = _ellipse((0.0, low + 0.15 * gap),
                               (0.6 * r_in * hw, max(0.45 * gap, 0.006)), n=40)
        tongue = _coverage(shape, [self._px(tongue_poly)], box=box,
                           blur_px=max(0.8, 0.006 * s))
        if tongue is not None:
            inside += (np.float32(_TONGUE) - inside) * (0.85 * tongue.a)[..., None]
        # Upper teeth: a band under the upper lip whose height follows the opening, shaded
        # towards the corners of the mouth.
        teeth_h = (min(0.35 * gap + 0.5 * float((inner_dn - inner_up).min()), 0.02) + 0.003
                   ) * (1.0 - 0.5 * rnd)
        band = np.vstack([pts(inner_up[keep] - 0.01, xs),
                          pts(inner_up[keep] + teeth_h, xs)[::-1]])
        teeth = _coverage(shape, [band], box=box, blur_px=max(0.5, 0.0015 * s))
        if teeth is not None:
            mid_x, lip_y = self._px([(0.0, float(inner_up[len(inner_up) // 2]))])[0]
            gx = (np.arange(cav.x0, cav.x0 + w, dtype=np.float32) - mid_x) / (hw * s)
            ax = np.abs(gx)
            # Shaded towards the corners, faint seams between the front teeth, and in the
            # upper lip's shadow at the top.
            across = ((1.0 - 0.5 * np.clip(ax, 0.0, 1.0) ** 2)
                      * (1.0 - 0.16 * np.exp(-((gx / 0.025) ** 2))
                         - 0.10 * np.exp(-(((ax - 0.36) / 0.025) ** 2))))
            gy = (np.arange(cav.y0, cav.y0 + h, dtype=np.float32) - lip_y) / (
                max(teeth_h, 1e-3) * s)
            down = 0.78 + 0.22 * np.clip(gy, 0.0, 1.0)
            col = np.float32(_TEETH) * (across[None, :] * down[:, None])[..., None]
            inside += (col - inside) * teeth.a[..., None]
        _paint(img, cav, inside)

    # ------------------------------------------------------------------ frames
    def frames(self, pose: PoseTrack) -> Iterator[np.ndarray]:
        """Draw ``pose`` frame by frame.

        Yields ``pose.n_frames`` RGB24 frames of shape ``(height_px, width_px, 3)`` uint8.
        The **same buffer** is yielded every time and overwritten by the next frame:
        consume (encode or copy) each frame before asking for the next one.
        """
        if not isinstance(pose, PoseTrack):
            raise TypeError(f"pose must be a PoseTrack, got {type(pose).__name__}")
        channels = pose.channels()
        values = np.stack([channels[n] for n in POSE_CHANNELS], axis=1).astype(np.float64)
        out = self._base.copy()
        rx0, ry0, rx1, ry1 = self._roi
        roi_out = out[ry0:ry1, rx0:rx1]
        base_roi = self._base[ry0:ry1, rx0:rx1]
        size = (self._roi_w, self._roi_h)
        canvas = self._sprite_rgb.copy()
        warped = np.empty_like(canvas)
        warped_a = np.empty_like(self._sprite_a)
        alpha3 = np.empty_like(canvas)
        behind = np.empty_like(canvas)
        pivot = tuple(float(v) for v in self._px([_PIVOT])[0])
        for row in values:
            p = dict(zip(POSE_CHANNELS, row.tolist(), strict=True))
            np.copyto(canvas, self._sprite_rgb)
            for side in (-1.0, 1.0):
                self._draw_eye(canvas, side, p)
                self._draw_brow(canvas, side, p)
            self._draw_wrinkles(canvas, p["nose_wrinkle"])
            self._draw_mouth(canvas, p)
            m = cv2.getRotationMatrix2D(pivot, -p["head_roll_deg"], 1.0)
            m[0, 2] += p["head_dx"] * self._head_px
            m[1, 2] += p["head_dy"] * self._head_px
            cv2.warpAffine(canvas, m, size, dst=warped, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            cv2.warpAffine(self._sprite_a, m, size, dst=warped_a, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            # Premultiplied "over": out = head + base * (1 - alpha).
            cv2.cvtColor(warped_a, cv2.COLOR_GRAY2RGB, dst=alpha3)
            cv2.bitwise_not(alpha3, dst=alpha3)
            cv2.multiply(base_roi, alpha3, dst=behind, scale=1.0 / 255.0)
            cv2.add(warped, behind, dst=roi_out)
            yield out
