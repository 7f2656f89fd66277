"""/api/assets: the asset vault, the files a user uploaded and the files made for them.

Upload (multipart ``file``, optionally ``kind``), list (paged, by kind), get, download,
delete; only ever the caller's own. An upload is read within its size limit
(api/uploads.py: photos 20 MB, audio and video 50 MB), named from its content (never
its file name or Content-Type), decoded to prove it usable (``load_photo``,
``load_recording``, a video's first frame), and only then stored under its content key
and recorded. The same content uploaded again as the same kind is the same asset.

``url`` in answers is where a client fetches the bytes: on local storage this API's
``/api/assets/{id}/content`` (it takes the bearer token like every route; the storage's
own ``file://`` URL is of no use to a browser), on S3 a presigned URL valid for
:data:`ASSET_URL_EXPIRY_S`, to which ``/content`` also redirects.

The avatar and trickster routes store their uploads and results through the helpers
here (:class:`StagedFiles`, :func:`record_asset`, :func:`check_content`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any

import av
from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import AUTH_RESPONSES, CurrentUser, UserSession
from api.uploads import (
    AUDIO_LIMIT_BYTES,
    PHOTO_LIMIT_BYTES,
    Kind,
    Sniffed,
    UploadError,
    UploadTooLarge,
    asset_key,
    expect,
    read_upload,
    safe_display_name,
    sniff,
)
from core.errors import AuraError, NotFoundError
from core.storage import ArtifactNotFoundError, Storage, get_storage
from models import assets
from models.assets import AssetKind
from models.owned import MAX_PAGE_SIZE
from models.tables import Asset
from tasks.avatar.photo import load_photo
from tasks.voice.recording import load_recording

ASSET_URL_EXPIRY_S = 3600
"""How long a presigned S3 URL of an asset is valid, in seconds."""

VIDEO_LIMIT_BYTES = AUDIO_LIMIT_BYTES
"""Largest video accepted (50 MB, as for audio): the vault holds short clips."""

LIMIT_BYTES: dict[Kind, int] = {"photo": PHOTO_LIMIT_BYTES, "audio": AUDIO_LIMIT_BYTES,
                                "video": VIDEO_LIMIT_BYTES}
WHAT: dict[Kind, str] = {"photo": "photo", "audio": "recording", "video": "video"}
"""What an upload of each kind is called in messages."""

UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_413_CONTENT_TOO_LARGE: {
        "description": "The file is larger than its kind's limit; `detail` says which."},
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: {
        "description": "The file's content is not a type accepted here; `detail` lists "
                       "those that are."},
}
"""``responses=`` of routes that take an upload."""


NOT_FOUND_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"description": "No such object of the caller's."},
}

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api/assets", tags=["assets"], responses=AUTH_RESPONSES)


class AssetOut(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    id: uuid.UUID
    kind: AssetKind
    content_type: str
    """The media type named from the content ("image/png")."""
    size_bytes: int
    sha256: str
    name: str | None
    """The uploaded file's name, for display only."""
    created_at: datetime
    url: str
    """Where to fetch the bytes: this API's ``/content`` path, or a presigned S3 URL."""

    @classmethod
    def of(cls, asset: Asset, storage: Storage) -> AssetOut:
        return cls(id=asset.id, kind=asset.kind, content_type=asset.content_type,
                   size_bytes=asset.size_bytes, sha256=asset.sha256, name=asset.original_name,
                   created_at=asset.created_at, url=asset_url(storage, asset))


class AssetPage(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    items: list[AssetOut]
    total: int
    """How many assets (of the kind asked for) the caller has in all."""
    limit: int
    offset: int


def asset_url(storage: Storage, asset: Asset) -> str:
    """Where a client fetches the asset's bytes (see the module docstring)."""
    if storage.name == "local":
        return f"/api/assets/{asset.id}/content"
    return storage.url(asset.storage_key, expires_s=ASSET_URL_EXPIRY_S)


@dataclass(frozen=True)
class StagedAsset:
    """A file stored under its asset key, not yet recorded in the vault."""

    key: str
    sha256: str
    size_bytes: int
    sniffed: Sniffed


class StagedFiles:
    """Files a request stores before it records them; if the block fails, the files this
    block wrote itself are removed again (files that were there before stay)::

        async with StagedFiles(storage) as staged:
            photo = await staged.put_asset(user.id, data, sniffed)
            ...  # run a flow on photo.key, record the asset
    """

    def __init__(self, storage: Storage):
        self.storage = storage
        self._written: list[str] = []

    async def __aenter__(self) -> StagedFiles:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, traceback: TracebackType | None) -> None:
        if exc is None:
            return
        for key in reversed(self._written):
            try:
                await asyncio.to_thread(self.storage.delete, key)
            except AuraError as failure:  # the request's own error is the one to report
                logger.warning("could not remove %s after a failed request: %s", key, failure)

    async def put_asset(self, user_id: uuid.UUID, data: bytes, sniffed: Sniffed) -> StagedAsset:
        """Store ``data`` under its asset key (api.uploads.asset_key) unless it is there."""
        sha256 = hashlib.sha256(data).hexdigest()
        key = asset_key(user_id, sniffed.kind, sha256, sniffed.extension)
        if not await asyncio.to_thread(self.storage.exists, key):
            await asyncio.to_thread(self.storage.put_bytes, key, data, sniffed.content_type)
            self._written.append(key)
        return StagedAsset(key=key, sha256=sha256, size_bytes=len(data), sniffed=sniffed)

    async def copy_asset(self, user_id: uuid.UUID, source_key: str) -> StagedAsset:
        """Copy the stored file ``source_key`` (a flow's result) to its own asset key."""
        head, sha256, size_bytes = await asyncio.to_thread(_read_facts, self.storage,
                                                           source_key)
        sniffed = sniff(head)
        key = asset_key(user_id, sniffed.kind, sha256, sniffed.extension)
        if not await asyncio.to_thread(self.storage.exists, key):
            await asyncio.to_thread(self.storage.copy, source_key, key)
            self._written.append(key)
        return StagedAsset(key=key, sha256=sha256, size_bytes=size_bytes, sniffed=sniffed)


_HEAD_BYTES = 64 * 1024


def _read_facts(storage: Storage, key: str) -> tuple[bytes, str, int]:
    """The first bytes (enough to sniff), SHA-256 and size of a stored file."""
    with storage.local_path(key) as path, path.open("rb") as file:
        head = file.read(_HEAD_BYTES)
        file.seek(0)
        sha256 = hashlib.file_digest(file, "sha256").hexdigest()
        return head, sha256, file.tell()


async def record_asset(session: AsyncSession, user_id: uuid.UUID, staged: StagedAsset,
                       name: str | None) -> Asset:
    """The vault's row of a staged file (the existing one for content already there)."""
    return await assets.add_asset(
        session, user_id, kind=staged.sniffed.kind, storage_key=staged.key,
        content_type=staged.sniffed.content_type, size_bytes=staged.size_bytes,
        sha256=staged.sha256, original_name=name)


async def check_content(data: bytes, sniffed: Sniffed) -> None:
    """Decode enough of an upload to know it can be used, before anything is stored.

    Photos go through ``load_photo`` (format, dimensions, damage), audio through
    ``load_recording`` (decodable, length, not silent), videos must have a picture
    whose first frame decodes.

    Raises:
        InputError: a PhotoError, RecordingError or UploadError saying what is wrong.
    """
    if sniffed.kind == "photo":
        await asyncio.to_thread(load_photo, data)
        return
    await asyncio.to_thread(_check_media_file, data, sniffed)


def _check_media_file(data: bytes, sniffed: Sniffed) -> None:
    with tempfile.TemporaryDirectory(prefix="aura-upload-") as folder:
        # A name of our own: the client's file name never becomes a path.
        path = Path(folder) / f"{WHAT[sniffed.kind]}.{sniffed.extension}"
        path.write_bytes(data)
        if sniffed.kind == "audio":
            load_recording(path)
        else:
            _check_video(path)


def _check_video(path: Path) -> None:
    try:
        with av.open(str(path), metadata_errors="replace") as container:
            if not container.streams.video:
                raise UploadError("the video has no picture, only sound; upload it as audio")
            if next(container.decode(video=0), None) is None:
                raise UploadError("the video could not be read: not one frame of it decodes")
    except av.FFmpegError as exc:
        raise UploadError(f"the video could not be read: {exc.strerror or exc} (is it "
                          "complete?)") from exc


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AssetOut,
             responses=UPLOAD_RESPONSES)
async def upload_asset(
    user: CurrentUser, session: UserSession,
    file: Annotated[UploadFile, File(description="A photo (JPEG, PNG, WebP, BMP, TIFF), "
                                                 "a recording or a video.")],
    kind: Annotated[Kind | None, Form(description="Refuse the file unless it is of this "
                                                  "kind (415).")] = None,
) -> AssetOut:
    """Store a file in the caller's vault; the same content again gives the same asset."""
    what = WHAT[kind] if kind else "file"
    data = await read_upload(file, limit_bytes=LIMIT_BYTES[kind] if kind else
                             max(LIMIT_BYTES.values()), what=what)
    sniffed = expect(data, kind, what=what) if kind else sniff(data)
    if len(data) > LIMIT_BYTES[sniffed.kind]:
        raise UploadTooLarge(WHAT[sniffed.kind], LIMIT_BYTES[sniffed.kind])
    await check_content(data, sniffed)
    storage = get_storage()
    async with StagedFiles(storage) as staged:
        stored = await staged.put_asset(user.id, data, sniffed)
        asset = await record_asset(session, user.id, stored, safe_display_name(file.filename))
    return AssetOut.of(asset, storage)


@router.get("", response_model=AssetPage)
async def list_assets(user: CurrentUser, session: UserSession,
                      kind: AssetKind | None = None,
                      limit: int = Query(20, ge=1, le=MAX_PAGE_SIZE),
                      offset: int = Query(0, ge=0, le=1_000_000)) -> AssetPage:
    """The caller's assets (of ``kind``, if given), newest first."""
    page, total = await assets.list_assets(session, user.id, kind=kind, limit=limit,
                                           offset=offset)
    storage = get_storage()
    return AssetPage(items=[AssetOut.of(asset, storage) for asset in page], total=total,
                     limit=limit, offset=offset)


@router.get("/{asset_id}", response_model=AssetOut, responses=NOT_FOUND_RESPONSES)
async def get_asset(asset_id: uuid.UUID, user: CurrentUser, session: UserSession) -> AssetOut:
    return AssetOut.of(await assets.get_asset(session, user.id, asset_id), get_storage())


@router.get("/{asset_id}/content", response_class=Response, responses={
    status.HTTP_200_OK: {"description": "The file's bytes, with its media type, as an "
                                        "attachment.",
                         "content": {"application/octet-stream": {}}},
    status.HTTP_307_TEMPORARY_REDIRECT: {"description": "On S3: to a presigned URL."},
    **NOT_FOUND_RESPONSES,
})
async def asset_content(asset_id: uuid.UUID, user: CurrentUser,
                        session: UserSession) -> Response:
    """Download the asset's bytes."""
    asset = await assets.get_asset(session, user.id, asset_id)
    storage = get_storage()
    if storage.name != "local":
        return RedirectResponse(asset_url(storage, asset),
                                status_code=status.HTTP_307_TEMPORARY_REDIRECT)
    try:
        # Local storage hands out the stored file itself, which outlives the block.
        with storage.local_path(asset.storage_key) as path:
            stat = await asyncio.to_thread(os.stat, path)
    except (ArtifactNotFoundError, FileNotFoundError):
        raise NotFoundError(f"the file of asset {asset.id} is missing from storage") from None
    return FileResponse(path, media_type=asset.content_type, stat_result=stat,
                        filename=download_name(asset),
                        headers={"X-Content-Type-Options": "nosniff"})


def download_name(asset: Asset) -> str:
    """The name a download is saved under: the uploaded name, else kind and id."""
    extension = asset.storage_key.rsplit(".", 1)[-1]
    return asset.original_name or f"{asset.kind}-{asset.id}.{extension}"


@router.delete("/{asset_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=NOT_FOUND_RESPONSES)
async def delete_asset(asset_id: uuid.UUID, user: CurrentUser,
                       session: UserSession) -> Response:
    """Delete the asset and its file (avatars made from a photo keep their own copy)."""
    unused_key = await assets.delete_asset(session, user.id, asset_id)
    # The file goes only once the row is gone for good; a file left behind by a failure
    # after this is garbage, while a row without its file would be broken.
    await session.commit()
    if unused_key is not None:
        await remove_files(get_storage(), [unused_key])
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def remove_files(storage: Storage, keys: list[str]) -> None:
    """Delete stored files of rows already deleted; a failure is logged, not raised (the
    object is gone for the user either way)."""
    for key in keys:
        try:
            await asyncio.to_thread(storage.delete, key)
        except AuraError as exc:
            logger.warning("could not remove %s, left behind: %s", key, exc)

