"""A contact sheet of mouth crops from a rendered video: what a person checks by eye
before believing the read-back's figures (no painted lips, no black crescent, no block
or seam)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tests.support.speaking import frames_of

TILE_PX = 200
COLUMNS = 6


def mouth_contact_sheet(video: Path, points: np.ndarray, rows: dict[str, tuple[int, ...]],
                        out: Path, opening: np.ndarray | None = None) -> Path:
    """Write a PNG with one row of mouth crops per entry of ``rows`` (label -> frame
    indices), each crop centred on dlib's mouth points (48-67) of that frame and labelled
    with its frame number and, given ``opening``, the opening read there."""
    wanted = sorted({i for frames in rows.values() for i in frames})
    frames = frames_of(video, wanted)
    # Rows of at most COLUMNS crops: "widest" (12) takes two.
    rows = {f"{label}" if k == 0 else f"{label} (cont.)": indices[k:k + COLUMNS]
            for label, indices in rows.items()
            for k in range(0, max(1, len(indices)), COLUMNS)}
    width = max((len(v) for v in rows.values()), default=1)
    sheet = np.full((len(rows) * (TILE_PX + 24), width * TILE_PX, 3), 255, np.uint8)
    for r, (label, indices) in enumerate(rows.items()):
        y0 = r * (TILE_PX + 24)
        cv2.putText(sheet, label, (4, y0 + 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                    cv2.LINE_AA)
        for c, i in enumerate(indices):
            tile = _mouth_crop(frames[i], points[i])
            note = f"#{i}" + (f" {opening[i]:.2f}" if opening is not None else "")
            cv2.putText(tile, note, (4, TILE_PX - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        (255, 255, 0), 1, cv2.LINE_AA)
            sheet[y0 + 24: y0 + 24 + TILE_PX, c * TILE_PX:(c + 1) * TILE_PX] = tile
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return out


def _mouth_crop(rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
    if np.isnan(points).any():
        return np.zeros((TILE_PX, TILE_PX, 3), np.uint8)
    mouth = points[48:68]
    centre = mouth.mean(axis=0)
    half = 0.9 * float(np.ptp(mouth[:, 0]))
    x0, y0 = int(centre[0] - half), int(centre[1] - half)
    size = max(2, int(2 * half))
    h, w = rgb.shape[:2]
    padded = cv2.copyMakeBorder(rgb, size, size, size, size, cv2.BORDER_CONSTANT)
    crop = padded[y0 + size: y0 + 2 * size, x0 + size: x0 + 2 * size]
    return cv2.resize(crop, (TILE_PX, TILE_PX), interpolation=cv2.INTER_CUBIC)
