"""Teeth: a photographed teeth strip for the mouth of a photo avatar, matched to its photo.

A photo that shows its teeth gives its own (:func:`teeth_strip` on the photo). Every
other photo gets the bundled strip, ``data/teeth.png``: the upper teeth of
scikit-image's public-domain astronaut portrait (NASA), cut once by :func:`teeth_strip`
(run ``python -m tasks.render.teeth`` to cut it again). Before use it is matched to the
photo (:func:`match_to_photo`): its whites to the whites of the photo's eyes (colour and
lighting), its noise to the photo's grain; the mouth blurs it to the photo's sharpness.

A strip is the band just below the upper lip's inner edge, unrolled along the mouth: its
columns run from one inner mouth corner (landmark 78) to the other (308), its rows
downwards from the lip's edge, :data:`STRIP_HEIGHT_OF_WIDTH` of the mouth's width deep.
RGBA float32 0..255; alpha is where teeth are (light and unsaturated, between the lips).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

TEXTURE_PATH = Path(__file__).parent / "data" / "teeth.png"
STRIP_WIDTH_PX = 192
STRIP_HEIGHT_OF_WIDTH = 0.32
"""The strip reaches this share of the mouth's width below the upper lip's edge."""
OWN_TEETH_SHARE = 0.3
"""A photo uses its own teeth when teeth cover at least this share of its strip's middle
half (the upper rows across the central half of the mouth)."""
TEETH_OF_EYE_WHITE = 0.9
"""The teeth's mean colour, as a share of the eye whites' (measured on the astronaut:
0.88-0.93)."""

# MediaPipe indices: inner lip edges from corner to corner, and the eyes (as in
# tasks/render/photo.py, which imports nothing from here the other way).
_UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
_LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
_EYE_LOOPS = ((33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7),
              (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390,
               249))
_IRIS_CENTRES = ((468, 469), (473, 474))  # centre and a side point of each iris


@dataclass(frozen=True)
class MouthChord:
    """The straight line between the inner mouth corners, and its normal (pointing down
    the face): ``point = origin + a · along + b · across``, ``a`` from 0 to ``length``."""

    origin: np.ndarray
    along: np.ndarray
    across: np.ndarray
    length: float

    @classmethod
    def of(cls, points: np.ndarray) -> MouthChord:
        origin, end = points[78, :2].astype(np.float64), points[308, :2].astype(np.float64)
        length = float(np.linalg.norm(end - origin))
        along = (end - origin) / max(length, 1e-6)
        across = np.array([-along[1], along[0]])
        if across[1] < 0:
            across = -across
        return cls(origin=origin, along=along, across=across, length=max(length, 1e-6))

    def coordinates(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(t, b): position along the chord as a share of its length, and the distance
        below it in pixels, of points ``xy`` (..., 2); float32 points give float32."""
        xy = np.asarray(xy)
        dtype = xy.dtype if xy.dtype == np.float32 else np.float64  # float32 stays so
        rel = xy[..., :2].astype(dtype, copy=False) - self.origin.astype(dtype)
        return (rel @ (self.along / self.length).astype(dtype),
                rel @ self.across.astype(dtype))

    def point(self, t: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Points (..., 2) at share ``t`` along the chord and ``b`` pixels below it."""
        t, b = np.asarray(t, np.float64), np.asarray(b, np.float64)
        return (self.origin + (t * self.length)[..., None] * self.along
                + b[..., None] * self.across)


def lip_edge(chord: MouthChord, points: np.ndarray, lip: tuple[int, ...],
             t: np.ndarray) -> np.ndarray:
    """How far below the chord (pixels) the inner edge of ``lip`` runs at each ``t``."""
    tl, bl = chord.coordinates(points[list(lip)])
    order = np.argsort(tl)
    return np.interp(t, tl[order], bl[order])


def teeth_strip(rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Cut the strip below the upper lip's inner edge out of ``rgb`` (see the module
    docstring). ``points``: the 478 landmarks (x, y) in ``rgb``'s pixels. Returns RGBA
    float32 of shape (round(STRIP_WIDTH_PX · STRIP_HEIGHT_OF_WIDTH), STRIP_WIDTH_PX, 4)."""
    chord = MouthChord.of(points)
    height = round(STRIP_WIDTH_PX * STRIP_HEIGHT_OF_WIDTH)
    t = np.linspace(0.0, 1.0, STRIP_WIDTH_PX)
    rows = np.linspace(0.0, STRIP_HEIGHT_OF_WIDTH, height) * chord.length
    top = lip_edge(chord, points, _UPPER_INNER, t)
    bottom = lip_edge(chord, points, _LOWER_INNER, t)
    depth = rows[:, None] + np.zeros_like(t)[None]
    xy = chord.point(np.broadcast_to(t, depth.shape), top[None] + depth).astype(np.float32)
    strip = cv2.remap(rgb.astype(np.float32), xy[..., 0], xy[..., 1], cv2.INTER_CUBIC,
                      borderMode=cv2.BORDER_REFLECT)
    strip = np.clip(strip, 0, 255)
    hsv = cv2.cvtColor(strip.astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32) / 255
    saturation, value = hsv[..., 1], hsv[..., 2]
    # Teeth are light and unsaturated; lips, gums and the dark mouth are not. Relative to
    # the strip's brightest part, so that a dim photo's teeth still count.
    light = np.clip((value / max(float(np.percentile(value, 95)), 1e-3) - 0.62) / 0.18, 0, 1)
    pale = np.clip((0.3 - saturation) / 0.12, 0, 1)
    between = np.clip((bottom[None] - top[None] - depth) / 1.0, 0, 1)  # above the lower lip
    alpha = cv2.GaussianBlur(light * pale * between, (3, 3), 0)
    rgba = np.dstack([strip, 255.0 * alpha]).astype(np.float32)
    # The teeth run on up under the lip: above each column's first solid row (in the
    # strip's top half) the strip repeats that row, lip colour and all replaced.
    solid = alpha[: height // 2] > 0.5
    first = np.where(solid.any(axis=0), solid.argmax(axis=0), 0)
    rows_idx = np.maximum(np.arange(height)[:, None], first[None])
    return np.take_along_axis(rgba, rows_idx[..., None].repeat(4, axis=2), axis=0)


def shows_teeth(strip: np.ndarray) -> bool:
    """Whether a strip cut from a photo holds enough teeth to use (:data:`OWN_TEETH_SHARE`)."""
    h, w = strip.shape[:2]
    middle = strip[: h // 2, w // 4: 3 * w // 4, 3] / 255.0
    return float(middle.mean()) >= OWN_TEETH_SHARE


@cache
def bundled_strip() -> np.ndarray:
    """The bundled teeth strip (RGBA float32, read-only)."""
    bgra = cv2.imread(str(TEXTURE_PATH), cv2.IMREAD_UNCHANGED)
    if bgra is None:
        raise FileNotFoundError(f"the teeth texture {TEXTURE_PATH} is missing")
    strip = cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGBA).astype(np.float32)
    strip.setflags(write=False)
    return strip


def eye_white(rgb: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """The mean colour (RGB float) of the whites of the eyes: inside the lids, outside
    the irises, the lighter half. None when the eyes are too small to tell."""
    mask = np.zeros(rgb.shape[:2], np.uint8)
    for loop in _EYE_LOOPS:
        cv2.fillPoly(mask, [np.round(points[list(loop), :2]).astype(np.int32)], 255)
    for centre, side in _IRIS_CENTRES:
        radius = float(np.linalg.norm(points[side, :2] - points[centre, :2])) * 1.05
        cv2.circle(mask, tuple(int(v) for v in np.round(points[centre, :2])),
                   int(np.ceil(radius)), 0, -1)
    pixels = rgb[mask > 0].astype(np.float32)
    if len(pixels) < 8:
        return None
    luminance = pixels @ np.array([0.299, 0.587, 0.114], np.float32)
    light = pixels[luminance >= np.median(luminance)]
    # Of those, the less coloured half: narrowed or shadowed eyes let lids and skin into
    # the loops, and skin is far more coloured than the white of an eye.
    chroma = light.max(axis=1) - light.min(axis=1)
    return light[chroma <= np.median(chroma)].mean(axis=0)


def grain_sigma(gray: np.ndarray) -> float:
    """The photo's noise (standard deviation in 0..255 levels) from the median absolute
    deviation of its finest detail, which in skin is mostly sensor grain."""
    detail = gray.astype(np.float32) - cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 1.0)
    return float(1.4826 * np.median(np.abs(detail - np.median(detail))))


def match_to_photo(strip: np.ndarray, white_rgb: np.ndarray | None,
                   reference_white_rgb: np.ndarray) -> np.ndarray:
    """The bundled strip recoloured so that its teeth stand to the photo's eye whites as
    the astronaut's teeth stand to hers (``reference_white_rgb``), tinted by at most
    :data:`MAX_TINT`. A photo whose eyes cannot be read keeps the strip's colour, dimmed
    to 85%."""
    out = strip.copy()
    if white_rgb is None:
        out[..., :3] *= 0.85
        return out
    gain = np.asarray(white_rgb, np.float32) / np.maximum(reference_white_rgb, 1.0)
    # The light follows the eyes; the tint only so far: eyes read through skin or lids
    # would give teeth the colour of skin.
    level = float(gain.mean())
    tint = gain / max(level, 1e-6)
    for _ in range(8):  # clipped and brought back to a mean of 1 until both hold
        tint = np.clip(tint, 1 - MAX_TINT, 1 + MAX_TINT)
        tint = tint / tint.mean()
    gain = level * tint
    out[..., :3] = np.clip(out[..., :3] * gain, 0, 255)
    return out


MAX_TINT = 0.15
"""The matched teeth's colour departs from the strip's by at most this share per channel
(relative to their brightness change); colour casts of real photos lie within it."""


REFERENCE_WHITE_PATH = TEXTURE_PATH.with_suffix(".white.npy")
"""The astronaut's eye-white colour, saved with the strip (what it is matched from)."""


@cache
def reference_white() -> np.ndarray:
    """The eye-white colour of the photo the bundled strip was cut from."""
    return np.load(REFERENCE_WHITE_PATH).astype(np.float32)


def cut_bundled_strip() -> tuple[np.ndarray, np.ndarray]:
    """Cut the bundled strip from scikit-image's astronaut (needs scikit-image and
    MediaPipe); returns the strip and her eye-white colour."""
    from skimage import data

    from tasks.avatar.reconstruct import reconstruct_face

    photo = data.astronaut()
    points = reconstruct_face(photo).landmarks[:, :2].astype(np.float64)
    white = eye_white(photo, points)
    if white is None:  # pragma: no cover - the astronaut's eyes are large and open
        raise RuntimeError("the astronaut's eye whites could not be read")
    return teeth_strip(photo, points), white


def main() -> None:
    strip, white = cut_bundled_strip()
    TEXTURE_PATH.parent.mkdir(parents=True, exist_ok=True)
    bgra = cv2.cvtColor(np.clip(np.round(strip), 0, 255).astype(np.uint8), cv2.COLOR_RGBA2BGRA)
    cv2.imwrite(str(TEXTURE_PATH), bgra)
    np.save(REFERENCE_WHITE_PATH, white.astype(np.float32))
    print(f"wrote {TEXTURE_PATH} ({strip.shape[1]}x{strip.shape[0]}) and its eye white "
          f"{np.round(white, 1).tolist()}")


if __name__ == "__main__":
    main()
