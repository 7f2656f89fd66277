"""Files for upload tests: photos, recordings and videos made here, and what storage holds.

Shared by the asset, avatar, trickster and cross-user API tests.
"""

from __future__ import annotations

import io
import tempfile
from fractions import Fraction
from functools import cache
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import soundfile as sf
from skimage import data

from core.storage import get_storage
from tests.support.audio import synthetic_vowel

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def encode(rgb: np.ndarray, extension: str = ".jpg") -> bytes:
    ok, encoded = cv2.imencode(extension, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return encoded.tobytes()


def astronaut_jpeg() -> bytes:
    return encode(data.astronaut())


@cache
def group_photo() -> tuple[np.ndarray, tuple[tuple[int, int, int, int], ...]]:
    """Three real people side by side, standing on one line, on a grey wall: the
    astronaut (scikit-image; face about 92 px wide), Grace Hopper (matplotlib; about
    166 px, the largest) and the astronaut mirrored and smaller (about 73 px); with the
    region (x0, y0, x1, y1) each was pasted into, left to right. 1423 × 540 pixels."""
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as image:
        grace_hopper = np.asarray(image.convert("RGB"))
    astronaut = data.astronaut()
    people = [astronaut, grace_hopper, astronaut[:, ::-1]]
    people = [cv2.resize(np.ascontiguousarray(person), None, fx=factor, fy=factor,
                         interpolation=cv2.INTER_AREA)
              for person, factor in zip(people, (1.0, 0.9, 0.8), strict=True)]
    height = max(person.shape[0] for person in people)
    canvas = np.full((height, sum(p.shape[1] for p in people) + 40, 3), 200, np.uint8)
    regions, left = [], 0
    for person in people:
        top = height - person.shape[0]
        canvas[top:, left:left + person.shape[1]] = person
        regions.append((left, top, left + person.shape[1], height))
        left += person.shape[1] + 20
    canvas.flags.writeable = False
    return canvas, tuple(regions)


def group_png() -> bytes:
    return encode(group_photo()[0], ".png")


def cat_png() -> bytes:
    return encode(data.chelsea(), ".png")


def one_pixel_png() -> bytes:
    return encode(np.zeros((1, 1, 3), np.uint8), ".png")


def noise() -> bytes:
    return np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()


def vowel_wav(seconds: float = 2.0) -> bytes:
    """A sung vowel (glottal pulses through three formants): voice-like, at 22,050 Hz."""
    buffer = io.BytesIO()
    sf.write(buffer, synthetic_vowel(seconds=seconds), 22_050, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def silent_wav() -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(22_050, np.float32), 22_050, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def tiny_mp4(n_frames: int = 6) -> bytes:
    """Half a second of 64×48 grey frames, its index (moov) before the frames (mdat)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.mp4"
        with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
            stream = container.add_stream("mpeg4", rate=Fraction(12))
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            for i in range(n_frames):
                frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * i, np.uint8),
                                                   format="rgb24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        return path.read_bytes()


def cut_mp4() -> bytes:
    """An MP4 cut off where its frames begin: the index says video, nothing decodes."""
    whole = tiny_mp4()
    return whole[:whole.index(b"mdat") + 8]


def stored_files() -> set[str]:
    """Every file in the configured local storage, as keys."""
    root = Path(get_storage().root)  # type: ignore[attr-defined]
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
