"""Closed lids for a photo avatar's blinks: no white of the eye left under them.

The warp (tasks/render/photo.py) brings each upper lid point down onto the lower one,
but the face mesh's lid points do not always lie on the photo's lids: an eye looking up
shows white under the iris that the mesh's lower lid passes above, and that white would
stay in sight under the closed lid as a bright sliver. So as a blink closes, the white
found just outside each eye's lid points (lighter and less coloured than the skin
around it, touching the opening) fades to skin filled in from around the eye, with the
photo's grain, warped as the frame is.
"""

from __future__ import annotations

import cv2
import numpy as np

from tasks.render.teeth import grain_sigma

FADE_FROM, FADE_TO = 0.35, 0.9
"""The skin fades in over the white as ``blink`` goes from the first to the second."""


class ClosedLids:
    """Skin for the white outside the lid points of ``base_rgb``'s eyes."""

    def __init__(self, base_rgb: np.ndarray, points: np.ndarray,
                 eyes: tuple[tuple[tuple[int, ...], tuple[int, ...], tuple[int, int]], ...]):
        """``eyes``: per eye, its upper-lid and lower-lid point indices (corner to
        corner) and its corners."""
        h, w = base_rgb.shape[:2]
        self.box = None
        white = np.zeros((h, w), np.uint8)
        eyes_mask = np.zeros((h, w), np.uint8)
        for upper, lower, corners in eyes:
            loop = np.vstack([points[list(upper)], points[corners[1]][None],
                              points[list(lower)][::-1], points[corners[0]][None]])
            opening = float(np.ptp(loop[:, 1]))
            if opening < 1.0:
                continue
            one = np.zeros((h, w), np.uint8)
            cv2.fillPoly(one, [np.round(loop).astype(np.int32)], 1)
            eyes_mask |= one
            # The white beside, and the pixel ring just outside the lids where white
            # touches them (the photo's soft edge of the white).
            white |= cv2.dilate(_white_beside(base_rgb, one, opening),
                                np.ones((3, 3), np.uint8)) & (1 - one)
        ys, xs = np.nonzero(white)
        if not len(ys):
            return
        pad = int(max(8, ys.max() - ys.min()))
        x0, y0 = max(0, xs.min() - pad), max(0, ys.min() - pad)
        x1, y1 = min(w, xs.max() + pad + 1), min(h, ys.max() + pad + 1)
        self.box = (int(x0), int(y0), int(x1), int(y1))
        crop = np.ascontiguousarray(base_rgb[y0:y1, x0:x1])
        hole = white[y0:y1, x0:x1]
        # Filled from the skin: the eye itself (white, iris) is no source.
        fill_from_skin = (hole | eyes_mask[y0:y1, x0:x1]) * 255
        filled = cv2.inpaint(crop, fill_from_skin, 5, cv2.INPAINT_TELEA).astype(np.float32)
        # Smooth fills look painted: give them the photo's grain.
        grain = min(grain_sigma(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)), 6.0)
        noise = np.random.default_rng(0).normal(0.0, grain, hole.shape).astype(np.float32)
        self.picture = np.clip(filled + noise[..., None] * hole[..., None], 0,
                               255).astype(np.uint8)
        # Where it takes the white's place, feathered so no edge shows.
        self.weight = cv2.GaussianBlur(hole.astype(np.float32), (0, 0), 1.0)

    def draw(self, patch: np.ndarray, map_x: np.ndarray, map_y: np.ndarray,
             origin: tuple[int, int], blink: float) -> None:
        """Fade ``patch`` (the ROI of a frame warped by ``map_x``/``map_y``, frame
        coordinates; ``origin`` its top-left in the frame) towards the closed eyes, as
        far as ``blink`` (0 open, 1 shut) asks; in place."""
        if self.box is None or blink <= FADE_FROM:
            return
        amount = min(1.0, (blink - FADE_FROM) / (FADE_TO - FADE_FROM))
        amount = amount * amount * (3 - 2 * amount)  # smoothstep
        x0, y0, x1, y1 = self.box
        ox, oy = origin
        # The part of the patch whose source lies in the box: its rows and columns.
        rows = slice(max(0, y0 - oy - 40), min(patch.shape[0], y1 - oy + 40))
        cols = slice(max(0, x0 - ox - 40), min(patch.shape[1], x1 - ox + 40))
        mx = (map_x[rows, cols] - x0).astype(np.float32)
        my = (map_y[rows, cols] - y0).astype(np.float32)
        weight = cv2.remap(self.weight, mx, my, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        if not weight.any():
            return
        closed = cv2.remap(self.picture, mx, my, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        alpha = (amount * weight)[..., None]
        region = patch[rows, cols].astype(np.float32)
        patch[rows, cols] = np.clip(region * (1 - alpha) + closed * alpha, 0,
                                    255).astype(np.uint8)


def _white_beside(rgb: np.ndarray, opening_mask: np.ndarray, opening_px: float) -> np.ndarray:
    """The white of the eye just outside its lid points (an eye looking up shows white
    under the iris that the mesh's lower lid passes above): pixels within
    :data:`WHITE_REACH` of the opening's height of it, lighter and less coloured than
    the skin around the eye, and touching the opening."""
    reach = max(1, int(round(WHITE_REACH * opening_px)))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2)
    near = cv2.dilate(opening_mask, disc)
    around = cv2.dilate(near, disc) & (1 - near)
    pixels = rgb.astype(np.int16)
    light = pixels.mean(axis=2)
    chroma = pixels.max(axis=2) - pixels.min(axis=2)
    if not around.any():
        return np.zeros_like(opening_mask)
    skin_light = float(np.median(light[around > 0]))
    skin_chroma = float(np.median(chroma[around > 0]))
    white = ((light > skin_light + WHITE_OVER_SKIN)
             & (chroma < WHITE_CHROMA_OF_SKIN * skin_chroma))
    white &= near > 0
    # Only white that touches the opening (not a highlight on the cheek).
    count, labels = cv2.connectedComponents((white | (opening_mask > 0)).astype(np.uint8))
    touching = np.unique(labels[opening_mask > 0])
    return (np.isin(labels, touching[touching > 0]) & white).astype(np.uint8)


WHITE_REACH = 0.35
"""How far beside the lid points (a share of the eye's opening height) white is looked for."""
WHITE_OVER_SKIN = 12
"""White is this many levels (0-255) lighter than the skin around the eye, at least..."""
WHITE_CHROMA_OF_SKIN = 0.7
"""...and less coloured: its chroma (max - min channel) below this share of the skin's."""
