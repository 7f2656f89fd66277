"""Flow ``reconstruct-avatar``: a stored photo -> an avatar (an ``actor_dna`` row).

The photo is checked and made upright (tasks/avatar/photo.py), its face found and
measured with MediaPipe's 478-point mesh (tasks/avatar/reconstruct.py), and the working
image and landmarks stored with the row (tasks/avatar/actors.py). A photo that cannot be
used fails with a plain message and leaves no row and no file behind.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from prefect import flow, get_run_logger, task
from pydantic import BaseModel

from core.db import session_scope
from core.storage import get_storage
from tasks.avatar.actors import save_actor
from tasks.avatar.photo import load_photo
from tasks.avatar.reconstruct import reconstruct_face
from tasks.policy import task_options


class AvatarCreated(BaseModel):
    avatar_id: UUID
    name: str
    landmarks: int
    warnings: list[str] = []


@task(name="reconstruct_face", **task_options())
async def reconstruct_and_store(photo_key: str, name: str,
                                user_id: UUID | None = None) -> AvatarCreated:
    """Photo in storage -> face mesh -> texture, landmarks and row."""
    logger = get_run_logger()
    storage = get_storage()
    data = await asyncio.to_thread(storage.get_bytes, photo_key)
    photo = await asyncio.to_thread(load_photo, data, name=name)
    mesh = await asyncio.to_thread(reconstruct_face, photo.rgb)
    for warning in mesh.warnings:
        logger.warning("%s: %s", name, warning)
    neutral = {"eye_opening": list(mesh.eye_opening), "mouth_opening": mesh.mouth_opening,
               "yaw_deg": mesh.yaw_deg, "roll_deg": mesh.roll_deg,
               "face_box": list(mesh.face_box), "source_format": photo.source_format,
               "size_px": [photo.width, photo.height]}
    async with session_scope() as session:
        row = await save_actor(session, storage, name=name, image_rgb=photo.rgb,
                               landmarks=mesh.landmarks, neutral_pose=neutral,
                               user_id=user_id, warnings=mesh.warnings)
        avatar_id = row.id
    logger.info("Avatar %s (%s): %d landmarks", avatar_id, name, len(mesh.landmarks))
    return AvatarCreated(avatar_id=avatar_id, name=name, landmarks=len(mesh.landmarks),
                         warnings=list(mesh.warnings))


@flow(name="reconstruct-avatar", log_prints=True)
async def reconstruct_avatar(photo_key: str, name: str,
                             user_id: UUID | None = None) -> AvatarCreated:
    """Make an avatar from the photo stored at ``photo_key``.

    Args:
        photo_key: storage key of the uploaded photo (JPEG, PNG, WebP, ...).
        name: what the person calls the avatar.
        user_id: the owner (None on the command line).
    """
    return await reconstruct_and_store(photo_key, name, user_id)
