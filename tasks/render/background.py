"""Backgrounds: what the avatar stands in front of.

``RenderSpec.background`` is ``None`` (the avatar's own: the photo's surroundings, or the
stock look's backdrop), a colour ``#rrggbb`` (or ``#rgb``), or ``image:KEY``, a stored
picture (any photo format :func:`tasks.avatar.photo.load_photo` reads), fitted to cover
the frame.

A drawn stock avatar is simply painted over the backdrop. A photo avatar is cut out of
its photo with MediaPipe's selfie segmentation (``mp.solutions.selfie_segmentation``,
whose model ships in the wheel; ~15 ms for a 512 px photo), once per render, and laid
over the backdrop with its soft matte; the warp then animates the face as before.
"""

from __future__ import annotations

import cv2
import numpy as np

from models.domain import BACKGROUND_IMAGE_PREFIX, check_background

SEGMENTATION_MODEL = 0
"""MediaPipe selfie segmentation's general model (256×256); model 1 (landscape, 144×256)
is faster but frays hair and lets patterned backgrounds through."""
MATTE_FEATHER_PX_OF_SHORT_SIDE = 0.004
"""Blur of the matte's edge, as a share of the photo's short side (about 2 px at 512)."""


def background_image_key(value: str | None) -> str | None:
    """The storage key of an ``image:KEY`` background, or None for a colour or none."""
    if value and value.startswith(BACKGROUND_IMAGE_PREFIX):
        return value.removeprefix(BACKGROUND_IMAGE_PREFIX)
    return None


def colour_rgb(value: str) -> tuple[int, int, int]:
    """``#rrggbb`` or ``#rgb`` -> (r, g, b)."""
    value = check_background(value) or ""
    if not value.startswith("#"):
        raise ValueError(f"{value!r} is not a colour like '#1e90ff'")
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


def backdrop(value: str | None, width_px: int, height_px: int,
             image_rgb: np.ndarray | None = None) -> np.ndarray | None:
    """The frame-sized backdrop (height, width, 3) uint8 RGB, or None for the avatar's own.

    Args:
        value: ``RenderSpec.background``.
        width_px, height_px: the frame size.
        image_rgb: the decoded picture of an ``image:KEY`` background (required then).
    """
    if value is None:
        return None
    if image_rgb is None:
        if background_image_key(value) is not None:
            raise ValueError(f"background {value!r} needs its picture")
        out = np.empty((height_px, width_px, 3), np.uint8)
        out[:] = colour_rgb(value)
        return out
    return cover(image_rgb, width_px, height_px)


def cover(image_rgb: np.ndarray, width_px: int, height_px: int) -> np.ndarray:
    """Scale ``image_rgb`` to cover a width×height frame and crop it centred."""
    h, w = image_rgb.shape[:2]
    scale = max(width_px / w, height_px / h)
    new_w, new_h = max(width_px, round(w * scale)), max(height_px, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(image_rgb, (new_w, new_h), interpolation=interpolation)
    x0, y0 = (new_w - width_px) // 2, (new_h - height_px) // 2
    return np.ascontiguousarray(resized[y0:y0 + height_px, x0:x0 + width_px])


def person_matte(photo_rgb: np.ndarray) -> np.ndarray:
    """How much each pixel of a photo belongs to the person: (h, w) float32 in 0..1."""
    import mediapipe as mp

    with mp.solutions.selfie_segmentation.SelfieSegmentation(
            model_selection=SEGMENTATION_MODEL) as segmenter:
        result = segmenter.process(np.ascontiguousarray(photo_rgb))
    matte = np.clip(result.segmentation_mask, 0.0, 1.0).astype(np.float32)
    sigma_px = MATTE_FEATHER_PX_OF_SHORT_SIDE * min(photo_rgb.shape[:2])
    if sigma_px >= 0.5:
        matte = cv2.GaussianBlur(matte, (0, 0), sigma_px)
    return matte


def lay_over(foreground_rgb: np.ndarray, matte: np.ndarray,
             backdrop_rgb: np.ndarray) -> np.ndarray:
    """``foreground`` where the matte is 1, the backdrop where it is 0: uint8 RGB."""
    alpha = matte[..., None].astype(np.float32)
    out = backdrop_rgb.astype(np.float32)
    out += (foreground_rgb.astype(np.float32) - out) * alpha
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
