"""Arrays as bytes for storage: one named float32 array in a compressed ``.npz``."""

from __future__ import annotations

import io

import numpy as np


def array_to_npz(name: str, array: np.ndarray) -> bytes:
    """``array`` (as float32) stored under ``name`` in a compressed ``.npz``."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{name: np.asarray(array, dtype=np.float32)})
    return buffer.getvalue()


def array_from_npz(data: bytes, name: str) -> np.ndarray:
    """The array called ``name`` in ``.npz`` bytes written by :func:`array_to_npz`."""
    with np.load(io.BytesIO(data)) as archive:
        return archive[name]
