"""The live preview's rig data: the renderer's own rig, as a mesh, bases and weights."""

from __future__ import annotations

import time

import numpy as np
import pytest

from core.storage import get_storage
from tasks.avatar.actors import decode_landmarks, decode_png
from tasks.emotion import tag_emotions
from tasks.lipsync.visemes import VISEMES
from tasks.render.photo import PhotoFace
from tasks.render.preview import (
    JAW_CHANNEL,
    channel_weights,
    face_triangles,
    preview_mesh,
    preview_rig,
    stock_face,
)
from tasks.render.rig import POSE_CHANNELS, build_pose_track
from tasks.voice import synthesize_voice

pytestmark = pytest.mark.usefixtures("prefect_api", "aura_home")

SCRIPT = "[joy] Hello there, how are you doing today? [pause 1] I am fine, thank you."


def test_the_tesselation_is_triangles_of_the_468_face_landmarks():
    triangles = face_triangles()
    assert triangles.shape[1] == 3 and len(triangles) > 800
    assert triangles.min() == 0 and triangles.max() == 467
    assert len({tuple(t) for t in triangles}) == len(triangles)


def test_vertices_from_the_bases_are_the_photo_renderers_landmarks():
    storage = get_storage()
    texture_key, landmarks_key = stock_face(storage, "aura")
    mesh = preview_mesh(storage, texture_key, landmarks_key)
    image = decode_png(storage.get_bytes(texture_key))
    landmarks = decode_landmarks(storage.get_bytes(landmarks_key))
    assert image.shape[:2] == (mesh.height, mesh.width)
    assert mesh.vertices.shape == (478, 3) and mesh.uvs.shape == (478, 2)
    assert 0 < mesh.vertices[:, :2].min() and mesh.vertices[:, :2].max() < 1
    rng = np.random.default_rng(3)
    pose = build_pose_track(rng.random((90, len(VISEMES))), [(0.0, 3.0, "joy", 1.0)], 30)
    weights = channel_weights(pose)
    face = PhotoFace(image, landmarks[:, :2].astype(np.float64), mesh.width, mesh.height)
    scale, offset = face.placement.scale, np.array(face.placement.offset)
    matrix = np.stack([pose.channels()[name] for name in POSE_CHANNELS], axis=1)
    size = np.array([mesh.width, mesh.height])
    for i in range(0, 90, 5):
        exact = (face.points + face.displacements(matrix[i].astype(np.float64)) - offset) / scale
        ours = (mesh.vertices[:, :2] + sum(weights[n][i] * mesh.basis[n][:, :2]
                                           for n in mesh.basis)) * size
        assert np.abs(exact - ours)[:468].max() < 0.25  # pixels


async def test_the_mouth_moves_in_speech_rests_in_a_pause_and_the_eyes_blink():
    rig = await preview_rig(SCRIPT, "stock:aura", 30)
    assert rig.fps == 30 and rig.n_frames == round(rig.duration_s * 30)
    for name, weights in rig.weights.items():
        assert weights.shape == (rig.n_frames,), name
        assert rig.mesh.basis[name].shape == (478, 3), name
    segments = await tag_emotions(SCRIPT)
    voice = await synthesize_voice(segments)
    pause = next(s for s in voice.spans if segments[s.index].kind == "pause")
    speech = [s for s in voice.spans if segments[s.index].kind == "speech"]
    jaw = rig.weights[JAW_CHANNEL]

    def frames(span) -> slice:  # noqa: ANN001
        return slice(int(span.start_s * 30) + 3, int(span.end_s * 30) - 3)

    in_pause = jaw[frames(pause)]
    in_speech = np.concatenate([jaw[frames(s)] for s in speech])
    assert in_pause.size >= 15 and in_speech.mean() > 0.2
    assert in_speech.mean() > 4 * max(in_pause.mean(), 0.01)
    assert rig.weights["blink"].max() > 0.9  # at least one blink closes the eyes
    payload = rig.payload()
    assert set(payload["channels"]) >= {JAW_CHANNEL, "blink", "smile"}
    assert len(payload["mesh"]["vertices"]) == 478 * 3
    assert all(len(c["weights"]) == rig.n_frames for c in payload["channels"].values())
    assert all(round(v, 4) == v for v in payload["channels"]["blink"]["basis"])


async def test_a_repeat_preview_reuses_the_voice_the_mouth_shapes_and_the_mesh():
    first = await preview_rig(SCRIPT, "stock:ben", 30)
    started = time.perf_counter()
    again = await preview_rig(SCRIPT, "stock:ben", 30)
    assert again.reused and not first.reused
    assert time.perf_counter() - started < 10
    assert again.audio_key == first.audio_key
    assert again.mesh.texture_key == first.mesh.texture_key
    np.testing.assert_array_equal(again.weights[JAW_CHANNEL], first.weights[JAW_CHANNEL])


def test_a_photo_avatar_gets_the_same_rig_at_any_texture_size():
    import cv2
    from skimage import data

    from tasks.avatar.reconstruct import reconstruct_face
    from tasks.render.preview import build_mesh

    photo = cv2.resize(data.astronaut(), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    landmarks = np.asarray(reconstruct_face(photo).landmarks, np.float64)
    mesh = build_mesh(photo, landmarks, "avatars/texture/x.png")
    face = PhotoFace(photo, landmarks[:, :2], 1024, 1024)  # the renderer at full size
    scale, offset = face.placement.scale, np.array(face.placement.offset)
    for name, value in (("jaw_open", 1.0), ("blink", 1.0), ("smile", 1.0)):
        row = np.zeros(len(POSE_CHANNELS))
        row[POSE_CHANNELS.index(name)] = value
        exact = (face.points + face.displacements(row) - offset) / scale
        ours = (mesh.vertices[:, :2] + mesh.basis[name][:, :2]) * 1024
        assert np.abs(exact - ours)[:468].max() < 0.01, name  # pixels
    np.testing.assert_allclose(mesh.uvs[:, 0], landmarks[:478, 0] / 1024, atol=1e-6)
