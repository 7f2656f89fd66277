"""Uploads: read within a size limit, identified by their content, stored under content keys.

- :func:`read_upload` reads an upload in chunks and stops as soon as it passes its limit
  (:data:`PHOTO_LIMIT_BYTES`, :data:`AUDIO_LIMIT_BYTES`).
- :func:`sniff` names the format from the file's first bytes (magic numbers) alone; the
  file name and the Content-Type a client sends are its own word and are ignored.
  :func:`expect` also refuses a file of another kind than the one asked for.
- :func:`safe_display_name` keeps a file name only as text to show (``original_name``);
  it never becomes a path. :func:`asset_key` builds the storage key from the user, the
  kind and the SHA-256 of the content; :func:`store_asset` stores the bytes under it.

This module does not decode media. A photo's dimensions are checked from its header
before decoding by ``tasks.avatar.photo.load_photo`` (``MAX_SIDE_PX``, ``MAX_PIXELS``,
``MIN_SIDE_PX``) and a recording's length by ``tasks.voice.recording.load_recording``; a
route calls them before it stores anything.

Errors are :class:`UploadError` (an :class:`~core.errors.InputError`) and its children;
each carries the HTTP ``status_code`` it answers with (413 too large, 415 unsupported or
wrong type, 422 otherwise). :func:`register_upload_errors` makes an app answer them as
``{"detail": message}``.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Literal

from fastapi import FastAPI, Request, UploadFile
from fastapi.responses import JSONResponse

from core.errors import InputError
from core.storage import Storage, validate_key
from models.tables import ASSET_KINDS

PHOTO_LIMIT_BYTES = 20 * 1024 * 1024
"""Largest photo accepted (20 MB); its pixel count is limited separately by load_photo."""

AUDIO_LIMIT_BYTES = 50 * 1024 * 1024
"""Largest recording accepted (50 MB); its length is limited separately by load_recording
(10 minutes). Compressed recordings of that length are far smaller, but an uncompressed
WAV is not: 10 minutes of 16-bit 44.1 kHz mono take 50.5 MB, so long WAVs meet this
limit first."""

READ_CHUNK_BYTES = 1024 * 1024
"""How much :func:`read_upload` reads at a time."""

MAX_DISPLAY_NAME_CHARS = 255
"""Longest display name kept (the ``asset_vault.original_name`` column)."""

Kind = Literal["photo", "audio", "video"]

_MB = 1024 * 1024
# Control, format (bidirectional overrides such as U+202E), surrogate and line-break
# characters: none belongs in a name shown to people.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_EXTENSION = re.compile(r"[a-z0-9]{1,10}")
_KEEP_EXTENSION_CHARS = 16


class UploadError(InputError):
    """An uploaded file cannot be used; the message says why in plain words."""

    status_code = 422


class UploadTooLarge(UploadError):
    """An upload passed its size limit."""

    status_code = 413

    def __init__(self, what: str, limit_bytes: int):
        self.limit_bytes = limit_bytes
        super().__init__(f"the {what} is larger than {_describe_size(limit_bytes)}")


class UnsupportedMediaType(UploadError):
    """An upload is of a type we do not accept, or of another kind than asked for."""

    status_code = 415


@dataclass(frozen=True)
class Sniffed:
    """What a file's content says it is.

    ``kind``: "photo", "audio" or "video"; ``content_type``: its media type
    ("image/png"); ``extension``: without the dot ("png"); ``label``: the format's name
    ("PNG"); ``description``: the file in words ("a PNG image").
    """

    kind: Kind
    content_type: str
    extension: str
    label: str
    description: str


_FORMATS = {format_id: Sniffed(*fields) for format_id, fields in {
    "jpeg": ("photo", "image/jpeg", "jpg", "JPEG", "a JPEG image"),
    "png": ("photo", "image/png", "png", "PNG", "a PNG image"),
    "webp": ("photo", "image/webp", "webp", "WebP", "a WebP image"),
    "gif": ("photo", "image/gif", "gif", "GIF", "a GIF image"),
    "bmp": ("photo", "image/bmp", "bmp", "BMP", "a BMP image"),
    "tiff": ("photo", "image/tiff", "tiff", "TIFF", "a TIFF image"),
    "heic": ("photo", "image/heic", "heic", "HEIC", "a HEIC image"),
    "heif": ("photo", "image/heif", "heif", "HEIF", "a HEIF image"),
    "wav": ("audio", "audio/wav", "wav", "WAV", "a WAV audio file"),
    "mp3": ("audio", "audio/mpeg", "mp3", "MP3", "an MP3 audio file"),
    "flac": ("audio", "audio/flac", "flac", "FLAC", "a FLAC audio file"),
    "opus": ("audio", "audio/ogg", "opus", "Ogg Opus", "an Ogg Opus audio file"),
    "vorbis": ("audio", "audio/ogg", "ogg", "Ogg Vorbis", "an Ogg Vorbis audio file"),
    "m4a": ("audio", "audio/mp4", "m4a", "M4A", "an M4A audio file"),
    "webm_audio": ("audio", "audio/webm", "webm", "WebM", "a WebM audio file"),
    "mka": ("audio", "audio/x-matroska", "mka", "Matroska", "a Matroska audio file"),
    "mp4": ("video", "video/mp4", "mp4", "MP4", "an MP4 video"),
    "mov": ("video", "video/quicktime", "mov", "QuickTime", "a QuickTime video"),
    "webm_video": ("video", "video/webm", "webm", "WebM", "a WebM video"),
    "mkv": ("video", "video/x-matroska", "mkv", "Matroska", "a Matroska video"),
}.items()}

_PREFIXES = (  # (first bytes, format) for formats that need no closer look
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"fLaC", "flac"),
    (b"ID3", "mp3"),  # an ID3v2 tag, then MPEG audio frames
)
_KIND_AS_EXPECTED = {"photo": "a picture", "audio": "an audio file", "video": "a video"}
_KIND_IN_LISTS = {"photo": "pictures", "audio": "audio", "video": "video"}

# ISO base media (MP4 family): major and compatible brands in the "ftyp" box.
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_AUDIO_MP4_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A "})
_MP4_BRANDS = frozenset({b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41",
                         b"mp42", b"avc1", b"dash", b"M4V ", b"M4VH", b"M4VP", b"mmp4",
                         b"MSNV", b"f4v ", b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"qt  "})
_MP4_HANDLER = re.compile(rb"hdlr.{8}(vide|soun)", re.DOTALL)  # a track's handler type
_MATROSKA_VIDEO_CODEC = re.compile(rb"\x86[\x81-\xbf]V_")  # a CodecID element "V_…"
_MATROSKA_SCAN_BYTES = 1024 * 1024  # track headers come first, within this

# Files people send by mistake, named in the refusal.
_OTHER_PREFIXES = (
    (b"PK\x03\x04", "a ZIP archive (or an office document)"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"%PDF-", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a program"),
)


async def read_upload(upload: UploadFile, *, limit_bytes: int, what: str) -> bytes:
    """Read an upload's bytes, refusing it as soon as it passes ``limit_bytes``.

    At most ``limit_bytes + 1`` bytes are read, in chunks of :data:`READ_CHUNK_BYTES`;
    an upload whose size Starlette already knows to be too large is refused unread. This
    bounds the memory a route uses; by the time it runs, Starlette has received the
    whole request (files past 1 MB spooled to disk), so the size of request bodies
    reaching the server is limited in front of it (a proxy's body size limit).

    Args:
        upload: the uploaded file.
        limit_bytes: the largest size accepted, in bytes (a file of exactly this size is).
        what: what to call the file in messages ("photo", "recording").

    Raises:
        UploadTooLarge: the upload is larger than ``limit_bytes``.
        UploadError: the upload is empty.
    """
    if upload.size is not None and upload.size > limit_bytes:
        raise UploadTooLarge(what, limit_bytes)
    chunks: list[bytes] = []
    size_bytes = 0
    while chunk := await upload.read(min(READ_CHUNK_BYTES, limit_bytes + 1 - size_bytes)):
        size_bytes += len(chunk)
        if size_bytes > limit_bytes:
            raise UploadTooLarge(what, limit_bytes)
        chunks.append(chunk)
    if not size_bytes:
        raise UploadError(f"the {what} is empty")
    return b"".join(chunks)


def sniff(data: bytes, *, what: str = "file") -> Sniffed:
    """Name the format of ``data`` from its content (magic numbers) alone.

    Raises:
        UploadError: ``data`` is empty.
        UnsupportedMediaType: not a format we accept; the message lists those we do.
    """
    return _sniff(data, what, kinds=tuple(_KIND_IN_LISTS))


def expect(data: bytes, kind: Kind, *, what: str) -> Sniffed:
    """Like :func:`sniff`, and refuse a file of another kind than ``kind``.

    Example: ``expect(data, "photo", what="photo")`` refuses a WAV file with "the photo is
    a WAV audio file, not a picture".

    Raises:
        UploadError: ``data`` is empty.
        UnsupportedMediaType: not a format we accept, or not of ``kind``.
    """
    sniffed = _sniff(data, what, kinds=(kind,))
    if sniffed.kind != kind:
        raise UnsupportedMediaType(
            f"the {what} is {sniffed.description}, not {_KIND_AS_EXPECTED[kind]}")
    return sniffed


def safe_display_name(name: str | None) -> str | None:
    """A client's file name made fit to show, or None when nothing is left of it.

    Only the last part after any ``/`` or ``\\`` is kept; control, format (such as
    right-to-left overrides) and line-break characters are removed; the result is at
    most :data:`MAX_DISPLAY_NAME_CHARS` long, keeping a short extension. It is display
    text only: storage keys come from the content (:func:`asset_key`).
    """
    if not name:
        return None
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _HIDDEN_CATEGORIES)
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if name in ("", ".", ".."):
        return None
    if len(name) > MAX_DISPLAY_NAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= _KEEP_EXTENSION_CHARS:
            name = f"{stem[:MAX_DISPLAY_NAME_CHARS - len(extension) - 1]}.{extension}"
        else:
            name = name[:MAX_DISPLAY_NAME_CHARS]
    return name


def asset_key(user_id: uuid.UUID | str, kind: str, sha256: str, extension: str) -> str:
    """The storage key of an asset: ``assets/<user>/<kind>/<sha256[:2]>/<sha256>.<ext>``.

    Args:
        user_id: the owner's id (a UUID, or its text).
        kind: one of models.tables.ASSET_KINDS ("photo", "audio", "video", …).
        sha256: the content's SHA-256, 64 lowercase hex digits.
        extension: without the dot, lowercase letters and digits (``Sniffed.extension``).

    Raises:
        ValueError: an argument is malformed.
    """
    user = uuid.UUID(str(user_id))
    if kind not in ASSET_KINDS:
        raise ValueError(f"kind must be one of {', '.join(ASSET_KINDS)}, not {kind!r}")
    if not _SHA256_HEX.fullmatch(sha256):
        raise ValueError(f"sha256 must be 64 lowercase hex digits, not {sha256!r}")
    if not _EXTENSION.fullmatch(extension):
        raise ValueError(f"extension must be 1-10 lowercase letters or digits, not {extension!r}")
    return validate_key(f"assets/{user}/{kind}/{sha256[:2]}/{sha256}.{extension}")


def store_asset(storage: Storage, user_id: uuid.UUID | str, data: bytes,
                sniffed: Sniffed) -> str:
    """Store ``data`` under its :func:`asset_key` unless it is there already; returns the key.

    Storage calls block: from an async route, run this in a thread.
    """
    key = asset_key(user_id, sniffed.kind, hashlib.sha256(data).hexdigest(), sniffed.extension)
    if not storage.exists(key):
        storage.put_bytes(key, data, sniffed.content_type)
    return key


def register_upload_errors(app: FastAPI) -> None:
    """Make ``app`` answer every :class:`UploadError` with its status and ``{"detail": …}``."""

    async def answer(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, UploadError)
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)

    app.add_exception_handler(UploadError, answer)


def _sniff(data: bytes, what: str, *, kinds: tuple[Kind, ...]) -> Sniffed:
    """Identify ``data``; when it is nothing we accept, list the formats of ``kinds``."""
    if not data:
        raise UploadError(f"the {what} is empty")
    format_id = _identify(data)
    if format_id is not None:
        return _FORMATS[format_id]
    seems = _describe_other(data)
    hint = f" (it seems to be {seems})" if seems else ""
    raise UnsupportedMediaType(f"the {what} is not a type we accept{hint}; "
                               f"we accept {_accepted(kinds)}")


def _identify(data: bytes) -> str | None:
    for prefix, format_id in _PREFIXES:
        if data.startswith(prefix):
            return format_id
    if data[:4] in (b"RIFF", b"RF64") and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp":
        return _iso_media(data)
    if data.startswith(b"OggS"):
        return _ogg(data)
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return _matroska(data)
    if data.startswith(b"BM") and _is_bmp(data):
        return "bmp"
    if _is_mp3_frame(data):
        return "mp3"
    return None


def _iso_media(data: bytes) -> str | None:
    """HEIC/HEIF, M4A, MP4 or QuickTime, from the ftyp brands and the tracks' handlers."""
    box_bytes = int.from_bytes(data[:4], "big")
    major = data[8:12]
    brands = {major, *(data[at:at + 4] for at in range(16, min(box_bytes, 256) - 3, 4))}
    if major in _HEIC_BRANDS:
        return "heic"
    if major in _AVIF_BRANDS or (major in _HEIF_BRANDS and brands & _AVIF_BRANDS):
        return None
    if major in _HEIF_BRANDS:
        return "heif"
    if major in _AUDIO_MP4_BRANDS:
        return "m4a"
    if not brands & _MP4_BRANDS:
        return None
    if major == b"qt  ":
        return "mov"
    # Sound tracks only, or no track found (a damaged file): audio, load_recording decides.
    return "mp4" if b"vide" in _MP4_HANDLER.findall(data) else "m4a"


def _ogg(data: bytes) -> str | None:
    """Opus or Vorbis, from the first packet of the first page."""
    payload = data[27 + data[26]:] if len(data) >= 27 else b""
    if payload.startswith(b"OpusHead"):
        return "opus"
    if payload.startswith(b"\x01vorbis"):
        return "vorbis"
    return None


def _matroska(data: bytes) -> str | None:
    """WebM or Matroska (from the EBML DocType), video when a track has a video codec."""
    head = data[:_MATROSKA_SCAN_BYTES]
    if b"\x42\x82\x84webm" in head:
        audio, video = "webm_audio", "webm_video"
    elif b"\x42\x82\x88matroska" in head:
        audio, video = "mka", "mkv"
    else:
        return None
    return video if _MATROSKA_VIDEO_CODEC.search(head) else audio


def _is_bmp(data: bytes) -> bool:
    """A BMP file header followed by one of the known DIB header sizes."""
    return int.from_bytes(data[14:18], "little") in {12, 40, 52, 56, 64, 108, 124}


def _is_mp3_frame(data: bytes) -> bool:
    """An MPEG Layer III frame header: sync, valid version, bitrate and sample rate."""
    if len(data) < 4 or data[0] != 0xFF or data[1] & 0xE0 != 0xE0:
        return False
    version, layer = (data[1] >> 3) & 3, (data[1] >> 1) & 3
    bitrate_index, rate_index = data[2] >> 4, (data[2] >> 2) & 3
    return version != 1 and layer == 1 and bitrate_index != 15 and rate_index != 3


def _describe_other(data: bytes) -> str | None:
    """What a file we do not accept seems to be, for the refusal; None when unclear."""
    for prefix, description in _OTHER_PREFIXES:
        if data.startswith(prefix):
            return description
    if data[4:8] == b"ftyp" and data[8:12] in _AVIF_BRANDS | _HEIF_BRANDS:
        return "an AVIF image"
    head = data[:1024].removeprefix(codecs.BOM_UTF8).lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "a web page (HTML)"
    if b"<svg" in head:
        return "an SVG drawing"
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(data[:1024])
    except UnicodeDecodeError:
        return None
    return "text" if "\x00" not in text else None


def _accepted(kinds: tuple[Kind, ...]) -> str:
    """The formats of ``kinds`` in words: "pictures (JPEG, PNG, …) or audio (WAV, …)"."""
    groups = []
    for kind in kinds:
        labels = dict.fromkeys(f.label for f in _FORMATS.values() if f.kind == kind)
        groups.append(f"{_KIND_IN_LISTS[kind]} ({', '.join(labels)})")
    return groups[0] if len(groups) == 1 else f"{', '.join(groups[:-1])} or {groups[-1]}"


def _describe_size(size_bytes: int) -> str:
    """A size in words: "20 MB", "1.5 KB", "900 bytes" (1 MB = 1024 × 1024 bytes)."""
    if size_bytes >= _MB:
        return f"{size_bytes / _MB:.3g} MB"
    if size_bytes >= 1024:
        return f"{size_bytes / 1024:.3g} KB"
    return f"{size_bytes} bytes"
