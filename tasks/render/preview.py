"""Live preview: the rig data a browser needs to speak a script with the avatar's face.

A preview is not a video: the browser draws the face mesh itself (web/js/components/
preview.js, Three.js) in time with the voice. This module gives it, for a script and an
avatar:

- the **mesh**: the 478 MediaPipe landmarks of the avatar's texture (x, y, z normalised
  to the texture: x / width, y / height, z / width), the triangles of MediaPipe's face
  tesselation, and texture coordinates; the neutral vertices already carry the rest pose
  of the photo renderer (parted lips closed);
- the **texture**: the avatar's image (a photo avatar's ``texture_key``; for a drawn stock
  look, its neutral still drawn once by the stock renderer and meshed once with MediaPipe,
  both stored under content keys);
- per **channel** of the rig (tasks/render/rig.py ``POSE_CHANNELS``), a displacement
  basis (478 × 3) once and one weight per frame, so that for every frame
  ``vertices = neutral + Σ weight · basis``.

The channels are not a second rig. The per-frame weights come from
:func:`tasks.render.rig.build_pose_track` on the pipeline's own tag_emotions →
synthesize_voice → align_lipsync results (the same call the renderer makes), and each
basis is :meth:`tasks.render.photo.PhotoFace.displacements` of a unit pose minus that of
the neutral pose: the displacement fields the photo renderer warps with. Two terms of
``displacements`` are not linear in the pose, and are made linear here: the jaw opens by
``jaw_drop_share(jaw_open)`` (that is the jaw channel's weight), and pressed lips hold
against the jaw (an extra channel ``lips_pressed_jaw`` of weight ``lips_pressed ·
jaw``); head roll is linear per degree (exact to well under a pixel at the rig's ±1°).
The iris-keeping clamp of up-and-down gaze is left out (the irises are not part of the
tesselation the browser draws).
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import numpy as np

from core.db import session_scope
from core.errors import InputError
from core.storage import Storage, content_key, get_storage
from models.domain import Segment, VisemeTrack, VoiceTrack

PREVIEW_VERSION = 1
"""Changes with the preview's mesh and basis, so cached ones are redone."""
STOCK_STILL_VERSION = 1
"""Changes when the stock looks' preview stills must be drawn again."""
STOCK_STILL_PX = 720
"""A stock look's preview texture is drawn at this many pixels square."""
BASIS_FRAME_PX = 512
"""The photo renderer authors the basis on a frame this long on its long side (the
shapes scale with the face, so the size only sets how much pixel set-up it does)."""
DECIMALS = 4
"""Float arrays of the payload are rounded to this many decimals."""

JAW_CHANNEL = "jaw_open"
PRESSED_CHANNEL = "lips_pressed_jaw"
"""The extra channel: pressed lips (p, b, m) holding together against the open jaw."""
ROLL_CHANNEL = "head_roll_deg"


@functools.cache
def face_triangles() -> np.ndarray:
    """The triangles of MediaPipe's face tesselation, (n, 3) int32 (landmarks 0..467).

    MediaPipe publishes the tesselation as edges; its triangles are the 3-cycles of that
    edge graph (the eyes and the mouth are holes of the mesh).
    """
    import mediapipe as mp

    edges = mp.solutions.face_mesh.FACEMESH_TESSELATION
    neighbours: dict[int, set[int]] = {}
    for a, b in edges:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    triangles = {tuple(sorted((a, b, c))) for a, b in edges
                 for c in neighbours[a] & neighbours[b]}
    return np.array(sorted(triangles), dtype=np.int32)


@dataclass(frozen=True)
class PreviewMesh:
    """The avatar's face mesh and the rig's displacement bases, normalised to the texture.

    ``vertices`` (478, 3) neutral; ``uvs`` (478, 2) texture coordinates (0..1, v up);
    ``triangles`` (n, 3); ``basis`` channel -> (478, 3) displacement at weight 1.
    """

    texture_key: str
    width: int
    height: int
    vertices: np.ndarray
    uvs: np.ndarray
    triangles: np.ndarray
    basis: dict[str, np.ndarray]


def preview_channels() -> tuple[str, ...]:
    """The channels of a preview, in order: the rig's pose channels that move landmarks,
    and :data:`PRESSED_CHANNEL`."""
    from tasks.render.rig import POSE_CHANNELS

    return (*(name for name in POSE_CHANNELS if name != "lips_pressed"), PRESSED_CHANNEL)


def channel_weights(pose: Any) -> dict[str, np.ndarray]:
    """Per-frame weight of every preview channel for a :class:`PoseTrack`, float32.

    The pose channels as they are, except the jaw (opened by ``jaw_drop_share``, as the
    photo renderer does) and :data:`PRESSED_CHANNEL` (``lips_pressed · jaw``).
    """
    from tasks.render.photo import jaw_drop_share

    channels = pose.channels()
    jaw = jaw_drop_share(channels[JAW_CHANNEL]).astype(np.float32)
    out = {}
    for name in preview_channels():
        if name == JAW_CHANNEL:
            out[name] = jaw
        elif name == PRESSED_CHANNEL:
            out[name] = np.clip(channels["lips_pressed"], 0.0, 1.0) * jaw
        elif name in ("gaze_x", "gaze_y"):
            out[name] = np.clip(channels[name], -1.0, 1.0)
        else:
            out[name] = channels[name]
    return {name: np.asarray(w, np.float32) for name, w in out.items()}


def build_mesh(image_rgb: np.ndarray, landmarks: np.ndarray, texture_key: str) -> PreviewMesh:
    """The neutral mesh and the rig's bases of a face, from the photo renderer's shapes."""
    import cv2

    from tasks.render.photo import PhotoFace
    from tasks.render.rig import POSE_CHANNELS

    ph, pw = image_rgb.shape[:2]
    if landmarks.shape[0] < 478:
        raise InputError(f"the avatar needs the 478 MediaPipe landmarks, it has "
                         f"{landmarks.shape[0]}")
    k = min(1.0, BASIS_FRAME_PX / max(pw, ph))
    fw, fh = max(1, round(pw * k)), max(1, round(ph * k))
    small = cv2.resize(image_rgb, (fw, fh), interpolation=cv2.INTER_AREA) if k < 1 else image_rgb
    small_landmarks = landmarks[:478, :2].astype(np.float64) * np.array([fw / pw, fh / ph])
    face = PhotoFace(small, small_landmarks, fw, fh)
    # Frame pixels of the renderer -> texture pixels: undo its placement and the resize.
    scale = face.placement.scale * np.array([fw / pw, fh / ph])
    offset = np.array(face.placement.offset)

    def displacements(**values: float) -> np.ndarray:
        pose = np.zeros(len(POSE_CHANNELS))
        for name, value in values.items():
            pose[POSE_CHANNELS.index(name)] = value
        return face.displacements(pose)

    rest = displacements()
    neutral_px = (face.points + rest - offset) / scale
    z = landmarks[:478, 2] if landmarks.shape[1] > 2 else np.zeros(478)
    size = np.array([pw, ph], np.float64)
    vertices = np.column_stack([neutral_px / size, z / pw])
    uvs = np.column_stack([landmarks[:478, 0] / pw, 1.0 - landmarks[:478, 1] / ph])
    basis = {}
    for name in preview_channels():
        if name == PRESSED_CHANNEL:
            moved = (displacements(jaw_open=1.0, lips_pressed=1.0)
                     - displacements(jaw_open=1.0))
        else:
            moved = displacements(**{name: 1.0}) - rest
        basis[name] = np.column_stack([moved / scale / size, np.zeros(478)])
    return PreviewMesh(texture_key=texture_key, width=pw, height=ph,
                       vertices=vertices.astype(np.float32), uvs=uvs.astype(np.float32),
                       triangles=face_triangles(),
                       basis={n: b.astype(np.float32) for n, b in basis.items()})


def mesh_key(texture_key: str, landmarks_key: str) -> str:
    """Where the mesh and bases of a stored face are kept."""
    from tasks.render.photo import JAW_AT_REST, JAW_DROP, JAW_GAMMA

    return content_key("preview/mesh", PREVIEW_VERSION, texture_key, landmarks_key,
                       JAW_GAMMA, JAW_DROP, JAW_AT_REST, suffix=".npz")


def preview_mesh(storage: Storage, texture_key: str, landmarks_key: str) -> PreviewMesh:
    """:func:`build_mesh` of a stored face, itself stored under a content key (reused)."""
    from tasks.avatar.actors import decode_landmarks, decode_png

    key = mesh_key(texture_key, landmarks_key)
    if storage.exists(key):
        return _mesh_from_npz(storage.get_bytes(key), texture_key)
    image = decode_png(storage.get_bytes(texture_key))
    landmarks = decode_landmarks(storage.get_bytes(landmarks_key))
    mesh = build_mesh(image, landmarks, texture_key)
    storage.put_bytes(key, _mesh_to_npz(mesh), "application/octet-stream")
    return mesh


def _mesh_to_npz(mesh: PreviewMesh) -> bytes:
    import io

    buffer = io.BytesIO()
    names = list(mesh.basis)
    np.savez_compressed(buffer, size=np.array([mesh.width, mesh.height]),
                        vertices=mesh.vertices, uvs=mesh.uvs, triangles=mesh.triangles,
                        names=np.array(names), basis=np.stack([mesh.basis[n] for n in names]))
    return buffer.getvalue()


def _mesh_from_npz(data: bytes, texture_key: str) -> PreviewMesh:
    import io

    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        width, height = (int(v) for v in npz["size"])
        names = [str(n) for n in npz["names"]]
        return PreviewMesh(texture_key=texture_key, width=width, height=height,
                           vertices=npz["vertices"], uvs=npz["uvs"],
                           triangles=npz["triangles"],
                           basis=dict(zip(names, npz["basis"], strict=True)))


def stock_face(storage: Storage, look: str) -> tuple[str, str]:
    """(texture_key, landmarks_key) of a drawn stock look: its neutral still, drawn once
    with the stock renderer, and that still's 478 landmarks from MediaPipe (stored)."""
    from tasks.avatar.actors import encode_landmarks, encode_png
    from tasks.avatar.reconstruct import reconstruct_face
    from tasks.render.raster import LOOKS, StockFace
    from tasks.render.rig import PoseTrack

    if look not in LOOKS:
        raise InputError(f"there is no stock look {look!r}; looks: {', '.join(LOOKS)}")
    base = content_key("preview/stock", STOCK_STILL_VERSION, look, STOCK_STILL_PX,
                       LOOKS[look])
    texture_key, landmarks_key = f"{base}.png", f"{base}.npz"
    if storage.exists(landmarks_key) and storage.exists(texture_key):
        return texture_key, landmarks_key
    drawer = StockFace(STOCK_STILL_PX, STOCK_STILL_PX, LOOKS[look])
    still = next(iter(drawer.frames(PoseTrack.still(1, 30)))).copy()
    landmarks = np.asarray(reconstruct_face(still).landmarks, np.float32)
    storage.put_bytes(texture_key, encode_png(still), "image/png")
    storage.put_bytes(landmarks_key, encode_landmarks(landmarks), "application/octet-stream")
    return texture_key, landmarks_key


async def face_keys(avatar: str, user_id: UUID | None = None) -> tuple[str, str]:
    """(texture_key, landmarks_key) of an avatar handle: ``stock:LOOK`` or an actor id."""
    from tasks.avatar.actors import get_actor
    from tasks.render import STOCK_AVATARS

    storage = get_storage()
    if avatar.startswith("stock:"):
        if avatar not in STOCK_AVATARS:
            raise InputError(f"avatar {avatar!r} does not exist; stock avatars: "
                             f"{', '.join(STOCK_AVATARS)}")
        return await asyncio.to_thread(stock_face, storage, avatar.removeprefix("stock:"))
    async with session_scope() as session:
        row = await get_actor(session, avatar, user_id)
    if row.rig.get("kind") == "drawn":
        return await asyncio.to_thread(stock_face, storage, row.rig["look"])
    if not row.texture_key or not row.landmarks_key:
        raise InputError(f"avatar {avatar!r} has no stored face to preview")
    return row.texture_key, row.landmarks_key


@dataclass(frozen=True)
class PreviewRig:
    """Everything a browser needs to speak the script with the face."""

    fps: int
    n_frames: int
    duration_s: float
    audio_key: str
    mesh: PreviewMesh
    weights: dict[str, np.ndarray]
    """channel -> (n_frames,) float32, for every channel of ``mesh.basis``."""
    reused: bool
    """Whether the voice, the mouth shapes and the mesh all came from earlier runs."""

    def payload(self) -> dict[str, Any]:
        """The JSON-ready arrays (flat lists, rounded to :data:`DECIMALS`), leaving out
        channels that never move (all-zero weights or basis), except the jaw's."""
        channels = {}
        for name, basis in self.mesh.basis.items():
            weights = _rounded(self.weights[name])
            flat = _rounded(basis.ravel())
            if name != JAW_CHANNEL and (not any(weights) or not any(flat)):
                continue
            channels[name] = {"basis": flat, "weights": weights}
        return {
            "fps": self.fps, "n_frames": self.n_frames,
            "duration_s": round(self.duration_s, 3),
            "texture_size": [self.mesh.width, self.mesh.height],
            "mouth_channel": JAW_CHANNEL,
            "mesh": {"vertices": _rounded(self.mesh.vertices.ravel()),
                     "uvs": _rounded(self.mesh.uvs.ravel()),
                     "triangles": [int(i) for i in self.mesh.triangles.ravel()]},
            "channels": channels,
        }


def _rounded(values: np.ndarray) -> list[float]:
    rounded = np.round(np.asarray(values, np.float64), DECIMALS) + 0.0  # no -0.0
    return rounded.tolist()


def rig_of(segments: list[Segment], voice: VoiceTrack, visemes: VisemeTrack,
           mesh: PreviewMesh, *, reused: bool = False) -> PreviewRig:
    """The preview's weights: the renderer's own pose track, through :func:`channel_weights`."""
    from tasks.lipsync import load_weights
    from tasks.render import emotion_spans
    from tasks.render.rig import build_pose_track

    weights = load_weights(get_storage().get_bytes(visemes.key))
    pose = build_pose_track(weights, emotion_spans(segments, voice), visemes.fps)
    return PreviewRig(fps=visemes.fps, n_frames=pose.n_frames,
                      duration_s=pose.duration_s, audio_key=voice.audio_key, mesh=mesh,
                      weights=channel_weights(pose), reused=reused)


async def preview_rig(script: str, avatar: str, fps: int, *, voice: str | None = None,
                      effect: str | None = None, user_id: UUID | None = None) -> PreviewRig:
    """Run the pipeline's first three steps in-process (tag_emotions → synthesize_voice →
    align_lipsync, content-addressed, so a repeat preview reuses them) and turn their
    results and the avatar into a :class:`PreviewRig`."""
    from tasks.emotion import tag_emotions
    from tasks.lipsync import align_lipsync
    from tasks.voice import synthesize_voice
    from tasks.voice.catalogue import choose_voice

    segments = await tag_emotions(script)
    choice = None
    if voice or effect:
        async with session_scope() as session:
            choice = await choose_voice(session, voice, effect, user_id)
    track = await synthesize_voice(segments, choice)
    visemes = await align_lipsync(track, fps)
    texture_key, landmarks_key = await face_keys(avatar, user_id)
    storage = get_storage()
    mesh_cached = storage.exists(mesh_key(texture_key, landmarks_key))
    mesh = await asyncio.to_thread(preview_mesh, storage, texture_key, landmarks_key)
    return await asyncio.to_thread(rig_of, segments, track, visemes, mesh,
                                   reused=bool(track.reused and visemes.reused and mesh_cached))


