"""Files for upload tests: photos, recordings and videos made here, and what storage holds.

Shared by the asset, avatar, trickster and cross-user API tests.
"""

from __future__ import annotations

import io
import tempfile
from fractions import Fraction
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
