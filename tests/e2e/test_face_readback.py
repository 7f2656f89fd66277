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
from tests.support.readback import (
    band_pass,
    best_lagged_correlation,
    count_blinks,
    loudness_per_frame,
    read_face,
)

SCRIPT = ("[joy] Hello everyone, and welcome back! Today we build a bigger, better bridge.\n"
          "[pause 0.4]\n"
          "[neutral] Please remember to keep both hands on the rope, because the wind picks "
          "up by mid morning. Maybe bring a map, a pump and a warm blanket, just in case.")
CLOSED_BELOW = 0.08


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

    reading = read_face(video)
    assert reading.found.mean() >= 0.98

    mouth = np.nan_to_num(reading.mouth_opening, nan=float(np.nanmedian(reading.mouth_opening)))
    loudness = loudness_per_frame(video, len(mouth), reading.fps)
    r, lag = best_lagged_correlation(band_pass(mouth, reading.fps),
                                     band_pass(loudness, reading.fps))
    assert r >= 0.5 and abs(lag) <= 1, (r, lag)

    closures = [p for p in track.phones if p.symbol in "pbm"]
    middles = [int((p.start_s + p.end_s) / 2 * reading.fps) for p in closures]
    closed = [mouth[i] < CLOSED_BELOW for i in middles if i < len(mouth)]
    assert len(closed) >= 10 and np.mean(closed) >= 0.8, np.round(mouth[middles], 3)

    minutes = len(mouth) / reading.fps / 60
    blinks = count_blinks(reading.eye_opening)
    assert 6 <= blinks / minutes <= 30, (blinks, minutes)
