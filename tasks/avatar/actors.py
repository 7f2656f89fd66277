"""Actor DNA: a reconstructed face stored for rendering, and read back.

An avatar made from a photo is one ``actor_dna`` row plus two files in storage, both
named by their content:

- ``texture_key``: the photo as the renderer animates it (PNG, upright, at most 2048 px);
- ``landmarks_key``: the 478 MediaPipe landmarks in that image's pixels (``.npz``).

The row keeps what was measured of the neutral face (eye and mouth opening, yaw, roll),
the rig it is animated with, and the warnings the reconstruction raised. Files are
written before the row; if the row cannot be written the files are removed, so a failure
leaves nothing behind. Deleting an avatar (:func:`delete_actor`) removes the row first;
its files go afterwards, once no other avatar uses them (:func:`unreferenced_files`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InputError, NotFoundError
from core.npz import array_from_npz, array_to_npz
from core.storage import Storage, content_key
from models.owned import parse_id
from models.tables import ActorDNA

PHOTO_RIG = {"kind": "photo-warp", "version": 1}
"""The rig of photo avatars: the landmark-driven warp of tasks/render/photo.py."""
STOCK_LOOKS = ("aura", "ben", "cleo")
"""The drawn stock avatars (tasks/render/raster.py ``LOOKS``); ``stock:aura`` is the
default avatar."""


class AvatarNotFoundError(NotFoundError):
    """No avatar has the given id (for this user)."""


class SharedAvatarError(InputError):
    """A change to an avatar that belongs to no user: a stock one, or one made on the
    command line (which every user of that installation shares)."""


@dataclass(frozen=True)
class ActorFace:
    """What the renderer needs of a photo avatar."""

    avatar_id: uuid.UUID
    image_rgb: np.ndarray
    landmarks: np.ndarray
    texture_key: str
    landmarks_key: str


def encode_png(image_rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode the avatar image as PNG")
    return data.tobytes()


def decode_png(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("the stored avatar image could not be decoded")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def encode_landmarks(landmarks: np.ndarray) -> bytes:
    return array_to_npz("landmarks", landmarks)


def decode_landmarks(data: bytes) -> np.ndarray:
    return array_from_npz(data, "landmarks")


async def save_actor(session: AsyncSession, storage: Storage, *, name: str,
                     image_rgb: np.ndarray, landmarks: np.ndarray,
                     neutral_pose: dict[str, Any], user_id: uuid.UUID | None = None,
                     warnings: tuple[str, ...] = ()) -> ActorDNA:
    """Store the texture and landmarks, then the row (files removed if the row fails)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InputError(f"an avatar name must have 1 to 200 characters, got {name!r}")
    png = encode_png(image_rgb)
    npz = encode_landmarks(landmarks)
    texture_key = content_key("avatars/texture", png, suffix=".png")
    landmarks_key = content_key("avatars/landmarks", npz, suffix=".npz")
    written = []
    try:
        for key, data, kind in ((texture_key, png, "image/png"),
                                (landmarks_key, npz, "application/octet-stream")):
            if not storage.exists(key):
                storage.put_bytes(key, data, kind)
                written.append(key)
        row = ActorDNA(user_id=user_id, name=name, landmarks_key=landmarks_key,
                       texture_key=texture_key, neutral_pose=neutral_pose, rig=PHOTO_RIG,
                       style={"warnings": list(warnings)}, is_stock=False)
        session.add(row)
        await session.flush()
    except BaseException:
        for key in written:
            storage.delete(key)
        raise
    return row


async def sync_stock_actors(session: AsyncSession) -> list[ActorDNA]:
    """The stock avatars' rows (drawn, no owner), written on first use."""
    rows = {row.rig.get("look"): row for row in (await session.scalars(
        select(ActorDNA).where(ActorDNA.is_stock.is_(True)))).all()}
    for look in STOCK_LOOKS:
        if look not in rows:
            rows[look] = ActorDNA(user_id=None, name=look.capitalize(), is_stock=True,
                                  rig={"kind": "drawn", "look": look, "version": 1},
                                  neutral_pose={}, style={"handle": f"stock:{look}"})
            session.add(rows[look])
    await session.flush()
    return [rows[look] for look in STOCK_LOOKS]


async def get_actor(session: AsyncSession, avatar_id: uuid.UUID | str,
                    user_id: uuid.UUID | None = None) -> ActorDNA:
    """The avatar ``avatar_id`` if it is stock or the user's own.

    Raises:
        AvatarNotFoundError: no such avatar for this user (or not a valid id).
    """
    avatar_uuid = parse_id(avatar_id,
                           lambda: AvatarNotFoundError(f"{avatar_id!r} is not an avatar id"))
    owners = ActorDNA.user_id.is_(None) if user_id is None else or_(
        ActorDNA.user_id.is_(None), ActorDNA.user_id == user_id)
    row = await session.scalar(select(ActorDNA).where(ActorDNA.id == avatar_uuid, owners))
    if row is None:
        raise AvatarNotFoundError(f"there is no avatar with id {avatar_uuid}")
    return row


async def list_actors(session: AsyncSession, user_id: uuid.UUID | None = None,
                      ) -> list[ActorDNA]:
    """Stock avatars and the user's own (all rows when no user is given, as on the
    command line, which is one person's own machine)."""
    query = select(ActorDNA).order_by(ActorDNA.created_at, ActorDNA.name)
    if user_id is not None:
        query = query.where(or_(ActorDNA.user_id.is_(None), ActorDNA.user_id == user_id))
    return list((await session.scalars(query)).all())


async def delete_actor(session: AsyncSession, avatar_id: uuid.UUID | str,
                       user_id: uuid.UUID) -> list[str]:
    """Delete the user's own avatar; returns the storage keys of its files.

    The files stay: other avatars made from the same photo share them (keys are named by
    content), so the caller removes those :func:`unreferenced_files` names once the
    deletion is committed.

    Raises:
        AvatarNotFoundError: no such avatar for this user.
        SharedAvatarError: the avatar belongs to no user.
    """
    row = await get_actor(session, avatar_id, user_id)
    if row.is_stock:
        raise SharedAvatarError("stock avatars cannot be deleted")
    if row.user_id is None:
        raise SharedAvatarError("this avatar was made on the command line and belongs to no "
                                "user, so no user can delete it")
    keys = [key for key in (row.texture_key, row.landmarks_key) if key]
    await session.delete(row)
    await session.flush()
    return keys


async def unreferenced_files(session: AsyncSession, keys: list[str]) -> list[str]:
    """Those of ``keys`` that no avatar row uses as its texture or landmarks.

    Only rows the session sees count: give it a session that sees every user's rows (the
    service role's, as flows use), not one acting as a caller under row-level security.
    """
    if not keys:
        return []
    used = set((await session.scalars(
        select(ActorDNA.texture_key).where(ActorDNA.texture_key.in_(keys))
        .union(select(ActorDNA.landmarks_key).where(ActorDNA.landmarks_key.in_(keys))))).all())
    return [key for key in keys if key not in used]


def load_face(storage: Storage, row: ActorDNA) -> ActorFace:
    """The image and landmarks of a photo avatar, from storage."""
    if not row.texture_key or not row.landmarks_key:
        raise AvatarNotFoundError(f"avatar {row.id} has no stored face")
    return ActorFace(avatar_id=row.id, image_rgb=decode_png(storage.get_bytes(row.texture_key)),
                     landmarks=decode_landmarks(storage.get_bytes(row.landmarks_key)),
                     texture_key=row.texture_key, landmarks_key=row.landmarks_key)
