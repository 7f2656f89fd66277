"""A photo made to speak a script through the render steps themselves (voice, mouth shapes,
draw, encode), without a Prefect flow run around them: what the read-back tests and
bench/readback.py measure."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from models.domain import RenderSpec, VoiceTrack
from tasks.avatar.actors import ActorFace
from tasks.avatar.photo import load_photo
from tasks.avatar.reconstruct import reconstruct_face
from tasks.emotion import tag_script
from tasks.lipsync.acoustic import openness
from tasks.lipsync.phonemes import scale_by_loudness, viseme_weights
from tasks.render import emotion_spans, render_local
from tasks.voice import synthesize
from tasks.voice.piper import PiperTTS


@dataclass(frozen=True)
class Spoken:
    video: Path
    voice: VoiceTrack
    face: ActorFace


def photo_face(png: bytes, name: str = "photo") -> ActorFace:
    """A photo avatar made from image bytes, as `aura avatar create` makes one."""
    photo = load_photo(png, name=name)
    mesh = reconstruct_face(photo.rgb)
    return ActorFace(avatar_id=None, image_rgb=photo.rgb, landmarks=mesh.landmarks,
                     texture_key="", landmarks_key="")


def speak(face: ActorFace, script: str, out_dir: Path, *,
          spec: RenderSpec | None = None) -> Spoken:
    """Render ``face`` speaking ``script`` with the offline voice into ``out_dir``.

    The voice has no random variation, so the same script gives the same audio and the
    same figures on every run."""
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = spec or RenderSpec()
    segments = tag_script(script)
    wav = out_dir / "voice.wav"
    track = synthesize(segments, PiperTTS(variation=0.0), wav)
    samples, rate = sf.read(io.BytesIO(wav.read_bytes()), dtype="float32", always_2d=True)
    weights = scale_by_loudness(viseme_weights(track.phones, track.duration_s, spec.fps),
                                openness(samples.mean(axis=1), rate, spec.fps)[0])
    voice = VoiceTrack(audio_key="-", sample_rate_hz=rate, duration_s=track.duration_s,
                       voice="joe", phones=track.phones, words=track.words,
                       spans=track.spans)
    video = out_dir / "speaking.mp4"
    render_local(weights, emotion_spans(segments, voice), spec, wav, video, face=face)
    return Spoken(video=video, voice=voice, face=face)


def frames_of(video: Path, indices: list[int]) -> dict[int, np.ndarray]:
    """The RGB frames of ``video`` at ``indices``."""
    import av

    wanted, frames = set(indices), {}
    with av.open(str(video)) as container:
        for i, frame in enumerate(container.decode(container.streams.video[0])):
            if i in wanted:
                frames[i] = frame.to_ndarray(format="rgb24")
            if len(frames) == len(wanted):
                break
    return frames
