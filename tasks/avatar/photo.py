"""Photo: reads an uploaded photo into a bounded, upright RGB working image.

Uploaded bytes are untrusted, so the order matters: Pillow opens the file lazily (it
reads only the header), the format and the pixel count are checked, and only then are
the pixels decoded. A photo whose long side is over :data:`MAX_WORKING_SIDE_PX` is
scaled down (JPEGs already while decoding, with libjpeg's DCT scaling, then with
``cv2.INTER_AREA``), so the working image is at most 2048 px on its long side whatever
was uploaded.

Everything a person can get wrong raises :class:`PhotoError` with a plain message.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import ExifTags, Image, ImageFile, ImageOps

from core.errors import InputError

MAX_PIXELS = 40_000_000
"""Photos with more pixels than this are refused before decoding (about 120 MB as RGB)."""

MAX_SIDE_PX = 10_000
"""Photos longer than this on either side are refused before decoding."""

MIN_SIDE_PX = 128
"""The short side must be at least this long; smaller images cannot hold a usable face."""

MAX_WORKING_SIDE_PX = 2048
"""The working image's long side; larger photos are scaled down to it."""

# Pillow's names. MPO is how Pillow opens many phones' JPEGs (a JPEG with extra
# pictures appended); HEIF only exists when a plugin (pillow-heif) has registered it.
_FORMAT_NAMES = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WebP", "BMP": "BMP",
                 "TIFF": "TIFF", "HEIF": "HEIC"}
# The first bytes of the formats above, to tell a damaged photo from something else.
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"II*\x00", b"MM\x00*")
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_ORIENTATION_TAG = ExifTags.Base.Orientation
_UPRIGHT = 1

# LOAD_TRUNCATED_IMAGES is process-wide; see _refusing_truncated_files.
_decode_lock = threading.Lock()


class PhotoError(InputError):
    """A photo cannot be used; the message says why in plain words."""


@dataclass(frozen=True, eq=False)
class Photo:
    """An upright RGB working image made from an uploaded photo.

    Attributes:
        rgb: read-only uint8 array of shape (height, width, 3), channels R, G, B.
        width: width of ``rgb`` in pixels.
        height: height of ``rgb`` in pixels.
        source_format: the file's format: "JPEG", "PNG", "WebP", "BMP", "TIFF" or "HEIC".
        scale: working pixels per pixel of the uploaded photo (1.0 when not downscaled).
        orientation_applied: whether an EXIF orientation tag turned or flipped the pixels.
    """

    rgb: np.ndarray
    width: int
    height: int
    source_format: str
    scale: float
    orientation_applied: bool


def readable_formats() -> list[str]:
    """The photo formats this installation can read, in user-facing names."""
    Image.init()
    names = [name for fmt, name in _FORMAT_NAMES.items() if fmt in Image.OPEN]
    return list(dict.fromkeys(names))


def load_photo(data: bytes, *, name: str = "photo", what: str = "photo") -> Photo:
    """Read an uploaded photo into an upright RGB working image.

    Args:
        data: the file's bytes.
        name: what to call the photo in error messages (e.g. its file name).
        what: what kind of picture it is, for those messages ("photo", "picture").

    Returns:
        The :class:`Photo`: upright (EXIF orientation applied), RGB (transparency laid on
        white), at most :data:`MAX_WORKING_SIDE_PX` on its long side.

    Raises:
        PhotoError: not a readable photo format, damaged or cut-off file, too large
            (checked before decoding) or too small.
    """
    subject = f"the {what}" if name == "photo" else f'the {what} "{name}"'
    if not data:
        raise PhotoError(f"{subject} is empty")
    formats = [fmt for fmt in _FORMAT_NAMES if fmt in _registered_formats()]
    try:
        image = Image.open(io.BytesIO(data), formats=formats)
    except Image.DecompressionBombError as exc:
        raise PhotoError(f"{subject} has far too many pixels; the limit is "
                         f"{MAX_PIXELS // 1_000_000} million") from exc
    except Exception as exc:  # Pillow reports a header it cannot parse in many ways
        if _starts_like_a_photo(data):
            raise PhotoError(f"{subject} could not be read as an image: the file is damaged "
                             "or incomplete") from exc
        raise PhotoError(_not_a_photo_message(subject, data)) from exc
    with image:
        source_format = _FORMAT_NAMES.get(image.format or "", image.format or "unknown")
        width, height = image.size
        _check_size(subject, width, height)
        try:
            rgb, orientation_applied = _decode_upright_rgb(image)
        except Exception as exc:  # decoders report damage in many ways
            reason = str(exc) or type(exc).__name__
            raise PhotoError(f"{subject} could not be read as an image: {reason}") from exc
    rgb = _fit_working_size(rgb)
    rgb.flags.writeable = False
    out_height, out_width = rgb.shape[:2]
    return Photo(rgb=rgb, width=out_width, height=out_height, source_format=source_format,
                 scale=max(out_width, out_height) / max(width, height),
                 orientation_applied=orientation_applied)


def _registered_formats() -> set[str]:
    Image.init()
    return set(Image.OPEN)


def _starts_like_a_photo(data: bytes) -> bool:
    """Whether the bytes begin like a JPEG, PNG, WebP, BMP or TIFF file."""
    return data.startswith(_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def _not_a_photo_message(subject: str, data: bytes) -> str:
    """Say that the bytes are no photo we read, naming the image format if there is one."""
    what = ""
    try:  # any of Pillow's formats, only to name it; headers only, nothing is decoded
        with Image.open(io.BytesIO(data)) as other:
            what = f" (it is a {other.format} image)"
    except Exception:  # not an image at all
        pass
    names = readable_formats()
    accepted = ", ".join(names[:-1]) + f" or {names[-1]}"
    return f"{subject} is not a photo format we can read{what}; use {accepted}"


def _check_size(subject: str, width: int, height: int) -> None:
    """Refuse sizes from the header alone, before any pixel is decoded."""
    size = f"{subject} is {width}×{height} pixels"
    if max(width, height) > MAX_SIDE_PX:
        raise PhotoError(f"{size}; the limit is {MAX_SIDE_PX} on a side")
    if width * height > MAX_PIXELS:
        raise PhotoError(f"{size} ({width * height / 1e6:.0f} million); the limit is "
                         f"{MAX_PIXELS // 1_000_000} million pixels")
    if min(width, height) < MIN_SIDE_PX:
        raise PhotoError(f"{size}; at least {MIN_SIDE_PX} on the short side is needed")


@contextmanager
def _refusing_truncated_files() -> Iterator[None]:
    """Decode with Pillow's LOAD_TRUNCATED_IMAGES off.

    The switch is process-wide. If some other code turned it on, a cut-off upload would
    decode "successfully" with its lower part grey; so while we decode it is off, under a
    lock so that our own concurrent loads cannot restore it in the middle of another.
    """
    with _decode_lock:
        lenient = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            if lenient:
                ImageFile.LOAD_TRUNCATED_IMAGES = True


def _decode_upright_rgb(image: ImageFile.ImageFile) -> tuple[np.ndarray, bool]:
    """Decode the pixels, apply EXIF orientation, convert to RGB uint8."""
    long_side = max(image.size)
    if image.format in ("JPEG", "MPO") and long_side > MAX_WORKING_SIDE_PX:
        # libjpeg decodes at 1/2, 1/4 or 1/8 scale directly, never below the requested size.
        factor = MAX_WORKING_SIDE_PX / long_side
        image.draft(None, (math.ceil(image.width * factor), math.ceil(image.height * factor)))
    with _refusing_truncated_files():
        image.load()
    orientation = image.getexif().get(_ORIENTATION_TAG, _UPRIGHT)
    orientation_applied = orientation in range(2, 9)
    if orientation_applied:
        ImageOps.exif_transpose(image, in_place=True)
    return _to_rgb(image), orientation_applied


def _to_rgb(image: Image.Image) -> np.ndarray:
    """Any Pillow mode to uint8 RGB: alpha laid on white, 16-bit and float scaled to 8 bit."""
    mode = image.mode
    if mode.startswith("I") or mode == "F":
        grey = np.asarray(image).astype(np.float32)
        if mode == "F" and grey.max(initial=0.0) <= 1.0:
            grey *= 255.0  # float images are 0-1
        elif mode != "F" and (mode.startswith("I;16") or grey.max(initial=0.0) > 255.0):
            grey /= 257.0  # 16-bit: 65535 -> 255
        grey8 = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey8[..., None], 3, axis=2))
    if mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def _fit_working_size(rgb: np.ndarray) -> np.ndarray:
    """Scale down (area averaging) so the long side is at most MAX_WORKING_SIDE_PX."""
    height, width = rgb.shape[:2]
    long_side = max(height, width)
    if long_side <= MAX_WORKING_SIDE_PX:
        return rgb
    factor = MAX_WORKING_SIDE_PX / long_side
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
