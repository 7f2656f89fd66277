"""/api/preview: the rig data of a live preview of a project, spoken in the browser.

``POST /api/preview`` runs the pipeline's first steps for the caller's project in-process
(tag_emotions → synthesize_voice → align_lipsync; content-addressed, so a repeat preview of
the same script reuses them) and answers with the avatar's face mesh, the rig's channels
(one displacement basis each, one weight per frame: tasks/render/preview.py) and signed
links to the voice and the texture, which a browser loads without a bearer header
(``<audio src>``, a WebGL texture): ``GET /api/preview/audio/{key}`` and
``GET /api/preview/texture/{key}`` with ``expires`` and ``signature`` (core/links.py).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict
from starlette.responses import FileResponse

from api.deps import AUTH_RESPONSES, CurrentUser, UserSession
from api.routers.projects import ready_project
from core.auth import jwt_secret
from core.links import check_signature, sign_path
from core.settings import get_settings
from core.storage import LocalStorage, get_storage
from tasks.render.preview import preview_rig

router = APIRouter(prefix="/api/preview", tags=["preview"], responses=AUTH_RESPONSES)

LINK_EXPIRY_S = 3600
"""Lifetime of the signed audio and texture links of a preview."""

SIGNATURE_PATTERN = "^[0-9a-f]{1,128}$"
"""A link's signature is hex (HMAC-SHA256); anything else is refused before checking."""
_MEDIA = {"audio": "audio/wav", "texture": "image/png"}


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: uuid.UUID


class PreviewMeshOut(BaseModel):
    vertices: list[float]
    """478 × (x, y, z), flat: the neutral face, x and y in 0..1 of the texture's width and
    height (y down), z in texture widths (smaller is nearer)."""
    uvs: list[float]
    """478 × (u, v), flat: texture coordinates (v up)."""
    triangles: list[int]
    """n × 3 landmark indices, flat: MediaPipe's face tesselation."""


class PreviewChannelOut(BaseModel):
    basis: list[float]
    """478 × 3, flat: how far each landmark moves at weight 1 (same units as vertices)."""
    weights: list[float]
    """One weight per frame."""


class PreviewOut(BaseModel):
    fps: int
    n_frames: int
    duration_s: float
    audio_url: str
    """The voice (WAV), a signed link that needs no bearer token."""
    texture_url: str
    """The avatar's image (PNG), a signed link that needs no bearer token."""
    texture_size: list[int]
    """[width, height] of the texture in pixels."""
    mouth_channel: str
    """The channel whose weight says how far the mouth is open."""
    mesh: PreviewMeshOut
    channels: dict[str, PreviewChannelOut]
    """Frame ``i``: ``vertices + Σ channels[c].weights[i] · channels[c].basis``."""


@router.post("", response_model=PreviewOut)
async def start_preview(body: PreviewIn, user: CurrentUser, session: UserSession) -> PreviewOut:
    """The project's script, spoken: voice, face mesh and per-frame rig channels."""
    project, settings = await ready_project(session, user.id, body.project_id, to="preview")
    script, user_id = project.script, user.id
    await session.commit()  # the connection goes back to the pool while the steps run
    rig = await preview_rig(script, settings.avatar, get_settings().video.fps,
                            voice=settings.voice, effect=settings.effect, user_id=user_id)
    return PreviewOut(**rig.payload(), audio_url=media_url("audio", rig.audio_key),
                      texture_url=media_url("texture", rig.mesh.texture_key))


def media_url(kind: str, key: str) -> str:
    """A signed link to a preview's audio or texture, valid for :data:`LINK_EXPIRY_S`."""
    return sign_path(f"/api/preview/{kind}/{key}", jwt_secret(get_settings()),
                     expires_s=LINK_EXPIRY_S)


def _media(kind: str, key: str, expires: int | None, signature: str | None) -> Response:
    check_signature(f"/api/preview/{kind}/{key}", expires, signature,
                    jwt_secret(get_settings()))
    storage = get_storage()
    if isinstance(storage, LocalStorage):
        with storage.local_path(key) as path:
            return FileResponse(path, media_type=_MEDIA[kind],
                                headers={"Cache-Control": "private, max-age=3600"})
    return RedirectResponse(storage.url(key, expires_s=LINK_EXPIRY_S))


@router.get("/audio/{key:path}", response_class=Response,
            responses={200: {"content": {"audio/wav": {}}}, 307: {}, 403: {}})
async def preview_audio(
        key: str, expires: int | None = Query(None),
        signature: str | None = Query(None, pattern=SIGNATURE_PATTERN)) -> Response:
    """A preview's voice through its signed link (``audio_url``), with no bearer token."""
    return _media("audio", key, expires, signature)


@router.get("/texture/{key:path}", response_class=Response,
            responses={200: {"content": {"image/png": {}}}, 307: {}, 403: {}})
async def preview_texture(
        key: str, expires: int | None = Query(None),
        signature: str | None = Query(None, pattern=SIGNATURE_PATTERN)) -> Response:
    """A preview's texture through its signed link (``texture_url``), with no bearer
    token."""
    return _media("texture", key, expires, signature)
