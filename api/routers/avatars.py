"""/api/avatars: the stock avatars, listed for everyone, and the caller's own, made from
a photo. Create (multipart ``photo`` and ``name``), list, get, delete.

A photo with several faces makes an avatar of the largest unless the form's ``face``
names another by its number (counted from the left); the answer lists every face found
(``faces``, boxes in the photo's pixels) and says which was used (``face``), so that a
client can offer the others. A ``face`` beyond those found is a 422 and nothing is kept.

A photo becomes an avatar through the ``reconstruct-avatar`` flow, run in-process as a
real Prefect flow run; the request waits for it (a second or two). The order keeps a
refused photo from leaving anything behind:

1. the upload is read within 20 MB, sniffed as a picture and decoded by ``load_photo``
   (format, dimensions, damage): a photo refused here is never stored;
2. the photo is stored under its asset key and the flow finds and measures the face,
   storing the avatar's texture, landmarks and ``actor_dna`` row itself (as the service
   role). When it finds no usable face (none, too small, turned away) it stores nothing,
   the photo is removed again and the answer is a 422 with the flow's message;
3. the photo is recorded in the caller's asset vault and linked to the avatar
   (``photo_asset_id``). Should that fail, the avatar is removed as well.

Deleting an avatar removes its row, then its texture and landmarks files unless another
avatar (made from the same photo) uses them. The photo stays in the asset vault, which
is where it is deleted. Stock avatars cannot be deleted (403).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, HTTPException, Response, UploadFile, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import AUTH_RESPONSES, CurrentUser, UserSession
from api.routers.assets import (
    NOT_FOUND_RESPONSES,
    UPLOAD_RESPONSES,
    StagedFiles,
    check_content,
    record_asset,
    remove_files,
)
from api.uploads import PHOTO_LIMIT_BYTES, expect, read_upload, safe_display_name
from core.db import session_scope
from core.errors import InputError
from core.storage import Storage, get_storage
from flows.reconstruct_avatar import FaceFound, reconstruct_avatar
from models.domain import ONE_LINE_OF_TEXT
from models.tables import ActorDNA
from tasks.avatar.actors import (
    SharedAvatarError,
    delete_actor,
    get_actor,
    list_actors,
    unreferenced_files,
)

MAX_NAME_CHARS = ActorDNA.__table__.c.name.type.length
"""Longest avatar name (the ``actor_dna.name`` column)."""

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api/avatars", tags=["avatars"], responses=AUTH_RESPONSES)


class AvatarOut(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    id: uuid.UUID
    name: str
    kind: Literal["stock", "photo"]
    handle: str
    """What a project's ``settings.avatar`` names it by: ``stock:aura``, or the id."""
    created_at: datetime
    warnings: list[str]
    """What the reconstruction noticed ("the eyes look closed; ..."); none for stock."""
    photo_asset_id: uuid.UUID | None
    """The photo it was made from, in the asset vault (None for stock avatars, or once
    that asset has been deleted)."""

    @classmethod
    def of(cls, row: ActorDNA) -> AvatarOut:
        stock = row.is_stock
        return cls(id=row.id, name=row.name, kind="stock" if stock else "photo",
                   handle=row.style["handle"] if stock else str(row.id),
                   created_at=row.created_at,
                   warnings=list(row.style.get("warnings", [])),
                   photo_asset_id=row.source_asset_id)


class AvatarList(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    items: list[AvatarOut]
    """Stock avatars first, then the caller's own, oldest first."""


class AvatarCreated(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    avatar_id: uuid.UUID
    name: str
    landmarks: int
    """How many face landmarks were measured (478: MediaPipe's mesh with the irises)."""
    warnings: list[str]
    """E.g. "found 2 faces: 1 (left, largest, used), 2 (right); another can be chosen by
    its number"."""
    photo_asset_id: uuid.UUID
    face: int
    """The number of the face the avatar was made from (1 when the photo has one)."""
    faces: list[FaceFound]
    """Every face found, numbered from the photo's left; post the photo again with
    ``face`` set to another's number to make an avatar of that one."""


@router.get("", response_model=AvatarList)
async def list_avatars(user: CurrentUser, session: UserSession) -> AvatarList:
    """The stock avatars and the caller's own."""
    rows = await list_actors(session, user.id)
    rows.sort(key=lambda row: not row.is_stock)  # stable: each group stays oldest first
    return AvatarList(items=[AvatarOut.of(row) for row in rows])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AvatarCreated,
             responses=UPLOAD_RESPONSES)
async def create_avatar(
    user: CurrentUser, session: UserSession,
    photo: Annotated[UploadFile, File(description="A photo of one face, looking at the "
                                                  "camera (JPEG, PNG, WebP, BMP, TIFF; "
                                                  "at most 20 MB).")],
    name: Annotated[str, Form(min_length=1, max_length=MAX_NAME_CHARS, pattern=ONE_LINE_OF_TEXT,
                              description="What to call the avatar.")],
    face: Annotated[int | None, Form(ge=1, description="Which face of a photo with several, "
                                                       "by its number counted from the left "
                                                       "(default: the largest).")] = None,
) -> AvatarCreated:
    """Make an avatar from a photo (see the module docstring for what is kept when)."""
    name = name.strip()
    if not name:
        raise InputError("the avatar needs a name that is not only spaces")
    data = await read_upload(photo, limit_bytes=PHOTO_LIMIT_BYTES, what="photo")
    sniffed = expect(data, "photo", what="photo")
    await check_content(data, sniffed)
    storage = get_storage()
    await _let_the_flow_write(session)
    async with StagedFiles(storage) as staged:
        stored = await staged.put_asset(user.id, data, sniffed)
        created = await reconstruct_avatar(stored.key, name, user.id, face)
        try:
            asset = await record_asset(session, user.id, stored,
                                       safe_display_name(photo.filename))
            row = await get_actor(session, created.avatar_id, user.id)
            row.source_asset_id = asset.id
            await session.flush()
        except BaseException:
            await session.rollback()
            await _discard_avatar(storage, created.avatar_id, user.id)
            raise
    return AvatarCreated(avatar_id=created.avatar_id, name=created.name,
                         landmarks=created.landmarks, warnings=created.warnings,
                         photo_asset_id=asset.id, face=created.face, faces=created.faces)


async def _let_the_flow_write(session: AsyncSession) -> None:
    """Commit what the request wrote so far (the caller's profile, on their first
    request) before the flow runs.

    SQLite has one writer at a time and the flow writes the avatar from its own
    connection; and the connection goes back to the pool for the seconds the flow takes.
    The session's next transaction acts as the caller again (api/deps.py).
    """
    await session.commit()


async def _discard_avatar(storage: Storage, avatar_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Remove an avatar the flow made for a request that then failed, with its files."""
    async with session_scope() as service:
        keys = await delete_actor(service, avatar_id, user_id)
        unused = await unreferenced_files(service, keys)
    await remove_files(storage, unused)


@router.get("/{avatar_id}", response_model=AvatarOut, responses=NOT_FOUND_RESPONSES)
async def get_avatar(avatar_id: uuid.UUID, user: CurrentUser,
                     session: UserSession) -> AvatarOut:
    """A stock avatar or one of the caller's own."""
    return AvatarOut.of(await get_actor(session, avatar_id, user.id))


@router.delete("/{avatar_id}", status_code=status.HTTP_204_NO_CONTENT, responses={
    status.HTTP_403_FORBIDDEN: {"description": "A stock avatar (or another that belongs to "
                                               "no user), which cannot be deleted."},
    **NOT_FOUND_RESPONSES,
})
async def delete_avatar(avatar_id: uuid.UUID, user: CurrentUser,
                        session: UserSession) -> Response:
    """Delete one of the caller's avatars and its texture and landmarks files."""
    try:
        keys = await delete_actor(session, avatar_id, user.id)
    except SharedAvatarError as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=str(exc)) from None
    # The files go only once the row is gone for good (see api.routers.assets).
    await session.commit()
    async with session_scope() as service:  # sees every user's avatars that share a file
        unused = await unreferenced_files(service, keys)
    await remove_files(get_storage(), unused)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
