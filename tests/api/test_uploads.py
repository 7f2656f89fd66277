"""Uploads: formats named from real files' bytes, size limits while reading, safe names and
content keys, and the HTTP answers of a small app that uses them."""

from __future__ import annotations

import hashlib
import io
import re
import uuid

import av
import cv2
import httpx
import numpy as np
import pytest
import soundfile as sf
from fastapi import FastAPI, UploadFile
from PIL import Image

from api.uploads import (
    AUDIO_LIMIT_BYTES,
    PHOTO_LIMIT_BYTES,
    READ_CHUNK_BYTES,
    UnsupportedMediaType,
    UploadError,
    UploadTooLarge,
    asset_key,
    expect,
    read_upload,
    register_upload_errors,
    safe_display_name,
    sniff,
    store_asset,
)
from core.storage import LocalStorage, validate_key

RATE_HZ = 48_000
USER_ID = uuid.UUID("3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b")


def picture(extension: str) -> bytes:
    """A small colour gradient encoded by OpenCV (".png", ".jpg", ".webp")."""
    rgb = np.zeros((64, 96, 3), np.uint8)
    rgb[..., 0] = np.linspace(0, 255, 96, dtype=np.uint8)
    ok, encoded = cv2.imencode(extension, rgb)
    assert ok
    return encoded.tobytes()


def pillow_picture(image_format: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buffer, format=image_format)
    return buffer.getvalue()


def tone(n_samples: int = RATE_HZ // 2) -> np.ndarray:
    """Half a second of 440 Hz, float32 mono."""
    return (0.3 * np.sin(2 * np.pi * 440 * np.arange(n_samples) / RATE_HZ)).astype(np.float32)


def soundfile_audio(file_format: str, subtype: str) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, tone(), RATE_HZ, format=file_format, subtype=subtype)
    return buffer.getvalue()


def av_media(container_format: str, audio_codec: str | None = None,
             video_codec: str | None = None) -> bytes:
    """A short file encoded by PyAV: a tone and/or five 64×64 video frames."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as out:
        # Every stream is set up before the first packet is written.
        video = out.add_stream(video_codec, rate=10) if video_codec else None
        audio = out.add_stream(audio_codec, rate=RATE_HZ) if audio_codec else None
        if video:
            video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        if audio:
            audio.layout = "mono"
        if video:
            for shade in range(0, 200, 40):
                rgb = np.full((64, 64, 3), shade, np.uint8)
                out.mux(video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
            out.mux(video.encode(None))
        if audio:
            samples = (tone() * 32767).astype(np.int16)[None, :]
            frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            frame.sample_rate = RATE_HZ
            out.mux(audio.encode(frame))
            out.mux(audio.encode(None))
    return buffer.getvalue()


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    """An ISO media "ftyp" box, as HEIC and HEIF files start."""
    body = b"ftyp" + major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (len(body) + 4).to_bytes(4, "big") + body


def without_id3(mp3: bytes) -> bytes:
    """The MPEG frames of an MP3 file, without its leading ID3v2 tag."""
    assert mp3.startswith(b"ID3")
    size = 0
    for byte in mp3[6:10]:  # a "syncsafe" integer: 7 bits a byte
        size = size << 7 | byte
    frames = mp3[10 + size:]
    assert frames[0] == 0xFF, "the tag is followed by a frame header"
    return frames


MEDIA = {
    "png": (lambda: picture(".png"), "photo", "image/png", "png"),
    "jpeg": (lambda: picture(".jpg"), "photo", "image/jpeg", "jpg"),
    "webp": (lambda: picture(".webp"), "photo", "image/webp", "webp"),
    "gif": (lambda: pillow_picture("GIF"), "photo", "image/gif", "gif"),
    "bmp": (lambda: pillow_picture("BMP"), "photo", "image/bmp", "bmp"),
    "tiff": (lambda: pillow_picture("TIFF"), "photo", "image/tiff", "tiff"),
    "heic": (lambda: ftyp(b"heic", b"mif1", b"heic") + b"\x00" * 64, "photo", "image/heic",
             "heic"),
    "heif": (lambda: ftyp(b"mif1", b"heic") + b"\x00" * 64, "photo", "image/heif", "heif"),
    "wav": (lambda: soundfile_audio("WAV", "PCM_16"), "audio", "audio/wav", "wav"),
    "flac": (lambda: soundfile_audio("FLAC", "PCM_16"), "audio", "audio/flac", "flac"),
    "ogg-vorbis": (lambda: soundfile_audio("OGG", "VORBIS"), "audio", "audio/ogg", "ogg"),
    "ogg-opus": (lambda: soundfile_audio("OGG", "OPUS"), "audio", "audio/ogg", "opus"),
    "mp3-id3": (lambda: av_media("mp3", "mp3"), "audio", "audio/mpeg", "mp3"),
    "mp3-frames": (lambda: without_id3(av_media("mp3", "mp3")), "audio", "audio/mpeg", "mp3"),
    "m4a": (lambda: av_media("ipod", "aac"), "audio", "audio/mp4", "m4a"),
    "m4a-isom": (lambda: av_media("mp4", "aac"), "audio", "audio/mp4", "m4a"),
    "webm-audio": (lambda: av_media("webm", "libopus"), "audio", "audio/webm", "webm"),
    "mka": (lambda: av_media("matroska", "libopus"), "audio", "audio/x-matroska", "mka"),
    "mp4": (lambda: av_media("mp4", "aac", "libx264"), "video", "video/mp4", "mp4"),
    "mov": (lambda: av_media("mov", "aac", "libx264"), "video", "video/quicktime", "mov"),
    "webm-video": (lambda: av_media("webm", "libopus", "libvpx"), "video", "video/webm", "webm"),
    "mkv": (lambda: av_media("matroska", None, "libx264"), "video", "video/x-matroska", "mkv"),
}


@pytest.mark.parametrize("name", MEDIA)
def test_formats_are_named_from_their_bytes(name):
    make, kind, content_type, extension = MEDIA[name]
    sniffed = sniff(make())
    assert (sniffed.kind, sniffed.content_type, sniffed.extension) == (
        kind, content_type, extension)
    assert expect(make(), kind, what="file") == sniffed


OTHER_FILES = {
    "text": (b"hello, this is my photo\n", "it seems to be text"),
    "html": (b"<!DOCTYPE html><html><body>hi</body></html>", "it seems to be a web page"),
    "svg": (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
            "it seems to be an SVG drawing"),
    "zip": (b"PK\x03\x04" + b"\x00" * 60, "it seems to be a ZIP archive"),
    "pdf": (b"%PDF-1.7\n" + b"\x00" * 60, "it seems to be a PDF document"),
    "avif": (pillow_picture("AVIF"), "it seems to be an AVIF image"),
    "noise": (bytes(range(256)) * 4, "the file is not a type we accept; we accept"),
}


@pytest.mark.parametrize("name", OTHER_FILES)
def test_other_files_are_refused_with_the_accepted_types(name):
    data, says = OTHER_FILES[name]
    with pytest.raises(UnsupportedMediaType) as refusal:
        sniff(data)
    message = str(refusal.value)
    assert message.startswith("the file is not a type we accept")
    assert says in message
    assert "pictures (JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC, HEIF)" in message
    assert "audio (WAV, MP3, FLAC, Ogg Opus, Ogg Vorbis, M4A, WebM, Matroska)" in message
    assert "or video (MP4, QuickTime, WebM, Matroska)" in message
    assert refusal.value.status_code == 415


def test_expecting_a_kind_lists_only_its_formats():
    with pytest.raises(UnsupportedMediaType, match=(
            r"^the photo is not a type we accept \(it seems to be text\); "
            r"we accept pictures \(JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC, HEIF\)$")):
        expect(b"just words", "photo", what="photo")


def test_a_file_of_another_kind_is_refused():
    with pytest.raises(UnsupportedMediaType,
                       match="^the photo is a WAV audio file, not a picture$"):
        expect(MEDIA["wav"][0](), "photo", what="photo")
    with pytest.raises(UnsupportedMediaType,
                       match="^the recording is an MP4 video, not an audio file$"):
        expect(MEDIA["mp4"][0](), "audio", what="recording")
    with pytest.raises(UnsupportedMediaType, match="^the clip is a PNG image, not a video$"):
        expect(picture(".png"), "video", what="clip")


def test_an_empty_file_is_refused():
    with pytest.raises(UploadError, match="^the photo is empty$") as refusal:
        expect(b"", "photo", what="photo")
    assert refusal.value.status_code == 422


class CountingFile(io.BytesIO):
    """A file that counts the bytes read from it."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.read_bytes += len(chunk)
        return chunk


async def test_reading_stops_as_soon_as_the_limit_is_passed():
    source = CountingFile(b"\x00" * (PHOTO_LIMIT_BYTES + 1024 * 1024))
    with pytest.raises(UploadTooLarge, match="^the photo is larger than 20 MB$") as refusal:
        await read_upload(UploadFile(source), limit_bytes=PHOTO_LIMIT_BYTES, what="photo")
    assert source.read_bytes == PHOTO_LIMIT_BYTES + 1
    assert refusal.value.status_code == 413


async def test_an_upload_of_exactly_the_limit_is_read_whole():
    data = b"\x01" * (2 * READ_CHUNK_BYTES + 17)
    upload = UploadFile(io.BytesIO(data))
    assert await read_upload(upload, limit_bytes=len(data), what="recording") == data
    with pytest.raises(UploadTooLarge, match="^the recording is larger than 2 MB$"):
        await read_upload(UploadFile(io.BytesIO(data)), limit_bytes=len(data) - 17,
                          what="recording")


async def test_an_empty_upload_is_refused():
    with pytest.raises(UploadError, match="^the recording is empty$"):
        await read_upload(UploadFile(io.BytesIO()), limit_bytes=AUDIO_LIMIT_BYTES,
                          what="recording")


def upload_app() -> tuple[FastAPI, list[int]]:
    """An app with POST /photo; the list gets the bytes each request read from the upload."""
    app = FastAPI()
    register_upload_errors(app)
    bytes_read: list[int] = []

    @app.post("/photo")
    async def photo(file: UploadFile) -> dict[str, str | int | None]:
        read = file.read

        async def counting_read(size: int = -1) -> bytes:
            chunk = await read(size)
            bytes_read.append(len(chunk))
            return chunk

        file.read = counting_read  # type: ignore[method-assign]
        data = await read_upload(file, limit_bytes=PHOTO_LIMIT_BYTES, what="photo")
        sniffed = expect(data, "photo", what="photo")
        return {"content_type": sniffed.content_type, "size_bytes": len(data),
                "name": safe_display_name(file.filename)}

    return app, bytes_read


async def post_photo(app: FastAPI, name: str, data: bytes, content_type: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://aura") as client:
        return await client.post("/photo", files={"file": (name, data, content_type)})


async def test_the_type_comes_from_the_content_not_the_name():
    app, _ = upload_app()
    response = await post_photo(app, "../x.wav", picture(".png"), "audio/wav")
    assert response.status_code == 200
    assert response.json()["content_type"] == "image/png"
    assert response.json()["name"] == "x.wav"


async def test_http_answers_415_for_a_file_of_another_kind():
    app, _ = upload_app()
    response = await post_photo(app, "me.jpg", MEDIA["wav"][0](), "image/jpeg")
    assert response.status_code == 415
    assert response.json() == {"detail": "the photo is a WAV audio file, not a picture"}


async def test_http_answers_413_for_a_photo_over_20_mb_without_reading_it_all():
    app, bytes_read = upload_app()
    response = await post_photo(app, "big.png", b"\x00" * (21 * 1024 * 1024), "image/png")
    assert response.status_code == 413
    assert response.json() == {"detail": "the photo is larger than 20 MB"}
    assert sum(bytes_read) <= PHOTO_LIMIT_BYTES + 1


async def test_http_accepts_a_photo_of_exactly_20_mb():
    app, bytes_read = upload_app()
    png = picture(".png")
    response = await post_photo(app, "big.png", png + b"\x00" * (PHOTO_LIMIT_BYTES - len(png)),
                                "image/png")
    assert response.status_code == 200
    assert response.json()["size_bytes"] == PHOTO_LIMIT_BYTES == sum(bytes_read)


async def test_http_answers_422_for_an_empty_photo():
    app, _ = upload_app()
    response = await post_photo(app, "empty.png", b"", "image/png")
    assert response.status_code == 422
    assert response.json() == {"detail": "the photo is empty"}


@pytest.mark.parametrize(("name", "shown"), [
    ("../../etc/passwd", "passwd"),
    ("a\x00b/c", "c"),
    ("evil\x00.png", "evil.png"),
    ("C:\\Users\\me\\photo.jpg", "photo.jpg"),
    ("line\nbreak\r.png", "linebreak.png"),
    ("gpj\u202e.exe", "gpj.exe"),
    ("  spaced name.wav  ", "spaced name.wav"),
    ("cafe\u0301.png", "caf\u00e9.png"),
    ("photo.png", "photo.png"),
    (None, None),
    ("", None),
    ("dir/", None),
    ("..", None),
    ("\x00\x01", None),
])
def test_display_names(name, shown):
    assert safe_display_name(name) == shown


def test_long_display_names_are_cut_keeping_the_extension():
    shown = safe_display_name("x" * 300 + ".jpeg")
    assert shown == "x" * 250 + ".jpeg"
    assert safe_display_name("y" * 300) == "y" * 255


def test_asset_keys_are_made_from_content():
    sha256 = hashlib.sha256(b"photo bytes").hexdigest()
    key = asset_key(USER_ID, "photo", sha256, "png")
    assert key == f"assets/{USER_ID}/photo/{sha256[:2]}/{sha256}.png"
    assert validate_key(key) == key
    assert asset_key(str(USER_ID).upper(), "photo", sha256, "png") == key


@pytest.mark.parametrize(("user_id", "kind", "sha256", "extension"), [
    ("../other", "photo", "a" * 64, "png"),
    (USER_ID, "../photo", "a" * 64, "png"),
    (USER_ID, "photo", "A" * 64, "png"),
    (USER_ID, "photo", "a" * 63, "png"),
    (USER_ID, "photo", "a" * 64, ".png"),
    (USER_ID, "photo", "a" * 64, "png/../x"),
])
def test_asset_keys_refuse_malformed_parts(user_id, kind, sha256, extension):
    with pytest.raises(ValueError):
        asset_key(user_id, kind, sha256, extension)


def test_assets_are_stored_once_under_their_content_key(tmp_path):
    storage = LocalStorage(tmp_path)
    data = picture(".png")
    sniffed = expect(data, "photo", what="photo")
    key = store_asset(storage, USER_ID, data, sniffed)
    assert re.fullmatch(rf"assets/{USER_ID}/photo/[0-9a-f]{{2}}/[0-9a-f]{{64}}\.png", key)
    assert storage.get_bytes(key) == data
    assert store_asset(storage, USER_ID, data, sniffed) == key
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [key.rsplit("/", 1)[1]]
