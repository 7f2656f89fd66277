"""The Face issue's read-back: render a short script with the astronaut photo as avatar,
then find the face again in every frame with MediaPipe and check that it speaks.

- a face is found in at least 98% of the frames;
- the mouth opening (inner-lip gap over mouth width) follows the loudness of the audio
  (both band-passed to 2-7 Hz): r >= 0.5, best lag within one frame;
- at the middle of at least 80% of the p/b/m phones the lips are closed (an opening
  below 0.08 of the mouth's width; this face reads about 0.01-0.04 closed and 0.15-0.25
  open);
- 6 to 30 blinks a minute.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf
from skimage import data

from models.domain import RenderSpec
from tasks.avatar.actors import ActorFace
from tasks.avatar.photo import load_photo
from tasks.avatar.reconstruct import reconstruct_face
from tasks.emotion import tag_script
from tasks.lipsync.acoustic import openness
from tasks.lipsync.phonemes import scale_by_loudness, viseme_weights
from tasks.render import emotion_spans, render_local
from tasks.voice import synthesize
from tasks.voice.piper import PiperTTS
from tests.support.readback import measure

SCRIPT = ("[joy] Hello everyone, and welcome back! Today we build a bigger, better bridge.\n"
          "[pause 0.4]\n"
          "[neutral] Please remember to keep both hands on the rope, because the wind picks "
          "up by mid morning. Maybe bring a map, a pump and a warm blanket, just in case.")


def test_the_astronaut_speaks_blinks_and_closes_her_lips_on_p_b_m(tmp_path: Path):
    png = cv2.imencode(".png", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))[1]
    photo = load_photo(png.tobytes(), name="astronaut")
    mesh = reconstruct_face(photo.rgb)
    face = ActorFace(avatar_id=None, image_rgb=photo.rgb, landmarks=mesh.landmarks,
                     texture_key="", landmarks_key="")

    segments = tag_script(SCRIPT)
    # No random variation in the voice: the same audio, and so the same figures, each run.
    track = synthesize(segments, PiperTTS(variation=0.0), tmp_path / "voice.wav")
    samples, rate = sf.read(io.BytesIO((tmp_path / "voice.wav").read_bytes()),
                            dtype="float32")
    spec = RenderSpec()
    weights = scale_by_loudness(viseme_weights(track.phones, track.duration_s, spec.fps),
                                openness(samples, rate, spec.fps)[0])
    from models.domain import VoiceTrack

    voice = VoiceTrack(audio_key="-", sample_rate_hz=rate, duration_s=track.duration_s,
                       voice="joe", phones=track.phones, words=track.words,
                       spans=track.spans)
    video = tmp_path / "astronaut.mp4"
    render_local(weights, emotion_spans(segments, voice), spec, tmp_path / "voice.wav",
                 video, face=face)

    figures = measure(video, track.phones)
    assert figures.found_share >= 0.98
    assert figures.mouth_loudness_r >= 0.5 and abs(figures.mouth_lag_frames) <= 1, figures
    assert figures.closures >= 10
    assert figures.closed_share >= 0.8, np.round(figures.mouth_at_closures, 3)
    assert 6 <= figures.blinks_per_minute <= 30, figures
