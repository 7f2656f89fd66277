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


class FaceFound(BaseModel):
    number: int
    """1..N, counted from the photo's left."""
    box: tuple[float, float, float, float]
    """(x0, y0, x1, y1) around the face, in pixels of the photo as uploaded (turned
    upright as its EXIF orientation says)."""
    position: str
    """Where it is among the faces: "left", "middle", "right", "far left", "far right";
    "only" when it is the only one."""


class AvatarCreated(BaseModel):
    avatar_id: UUID
    name: str
    landmarks: int
    warnings: list[str] = []
    face: int = 1
    """The number of the face the avatar was made from."""
    faces: list[FaceFound] = []
    """Every face found in the photo, numbered from the left."""


@task(name="reconstruct_face", **task_options())
async def reconstruct_and_store(photo_key: str, name: str, user_id: UUID | None = None,
                                face: int | None = None) -> AvatarCreated:
    """Photo in storage -> face mesh (of face number ``face``, or the largest) ->
    texture, landmarks and row."""
    logger = get_run_logger()
    storage = get_storage()
    data = await asyncio.to_thread(storage.get_bytes, photo_key)
    photo = await asyncio.to_thread(load_photo, data, name=name)
    mesh = await asyncio.to_thread(reconstruct_face, photo.rgb, face)
    for warning in mesh.warnings:
        logger.warning("%s: %s", name, warning)
    neutral = {"eye_opening": list(mesh.eye_opening), "mouth_opening": mesh.mouth_opening,
               "yaw_deg": mesh.yaw_deg, "roll_deg": mesh.roll_deg,
               "face_box": list(mesh.face_box), "source_format": photo.source_format,
               "size_px": [photo.width, photo.height], "face_number": mesh.face_number,
               "n_faces": mesh.n_faces}
    async with session_scope() as session:
        row = await save_actor(session, storage, name=name, image_rgb=photo.rgb,
                               landmarks=mesh.landmarks, neutral_pose=neutral,
                               user_id=user_id, warnings=mesh.warnings)
        avatar_id = row.id
    logger.info("Avatar %s (%s): %d landmarks", avatar_id, name, len(mesh.landmarks))
    # Boxes in the uploaded photo's pixels, which a client can draw on the photo it sent.
    faces = [FaceFound(number=found.number, position=found.position,
                       box=tuple(round(v / photo.scale, 1) for v in found.box))
             for found in mesh.faces]
    return AvatarCreated(avatar_id=avatar_id, name=name, landmarks=len(mesh.landmarks),
                         warnings=list(mesh.warnings), face=mesh.face_number, faces=faces)


@flow(name="reconstruct-avatar", log_prints=True)
async def reconstruct_avatar(photo_key: str, name: str, user_id: UUID | None = None,
                             face: int | None = None) -> AvatarCreated:
    """Make an avatar from the photo stored at ``photo_key``.

    Args:
        photo_key: storage key of the uploaded photo (JPEG, PNG, WebP, ...).
        name: what the person calls the avatar.
        user_id: the owner (None on the command line).
        face: which face of a photo with several, by its number from the left (1..N);
            None takes the largest (the warnings then list the others).
    """
    return await reconstruct_and_store(photo_key, name, user_id, face)
