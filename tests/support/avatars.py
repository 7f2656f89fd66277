"""The public-domain astronaut portrait (scikit-image) as a ready photo avatar."""

from __future__ import annotations

import uuid
from functools import cache

from skimage import data

from tasks.avatar.actors import ActorFace
from tasks.avatar.reconstruct import reconstruct_face


@cache
def astronaut_face() -> ActorFace:
    """The astronaut with her reconstructed landmarks (made once per test session)."""
    photo = data.astronaut()
    return ActorFace(avatar_id=uuid.uuid4(), image_rgb=photo,
                     landmarks=reconstruct_face(photo).landmarks,
                     texture_key="avatars/texture/aa/astronaut.png",
                     landmarks_key="avatars/landmarks/aa/astronaut.npz")
