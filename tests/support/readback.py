"""Reading a rendered video back the way a viewer's eye would: MediaPipe face mesh on every
frame, the loudness of the audio track, and the measures the Face issue asks for.

Nothing here shares code with the renderer: the face is found again from pixels.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from scipy import signal

os.environ.setdefault("GLOG_minloglevel", "2")

# REFERENCE.md: mouth opening |13-14| / |78-308|; eye opening (|159-145| + |158-153|) /
# (2 |33-133|), and the same for the other eye.
_EYES = (((159, 145), (158, 153), (33, 133)), ((386, 374), (385, 380), (263, 362)))


@dataclass(frozen=True)
class FaceReading:
    """Per video frame: whether a face was found, mouth and eye opening (NaN if none)."""

    fps: float
    found: np.ndarray
    mouth_opening: np.ndarray
    eye_opening: np.ndarray


def read_face(video: Path) -> FaceReading:
    """Run MediaPipe face mesh on every frame of ``video``, each frame on its own (video
    mode would smooth landmarks over time and blur quick closures)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mediapipe as mp

    found, mouth, eyes = [], [], []
    with av.open(str(video)) as container, mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=True) as mesh:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        for frame in container.decode(stream):
            rgb = frame.to_ndarray(format="rgb24")
            result = mesh.process(rgb)
            if not result.multi_face_landmarks:
                found.append(False)
                mouth.append(np.nan)
                eyes.append(np.nan)
                continue
            h, w = rgb.shape[:2]
            p = np.array([(q.x * w, q.y * h) for q in result.multi_face_landmarks[0].landmark])

            def dist(a: int, b: int, p: np.ndarray = p) -> float:
                return float(np.linalg.norm(p[a] - p[b]))

            found.append(True)
            mouth.append(dist(13, 14) / dist(78, 308))
            eyes.append(float(np.mean([(dist(*u) + dist(*v)) / (2 * dist(*c))
                                       for u, v, c in _EYES])))
    return FaceReading(fps=fps, found=np.array(found), mouth_opening=np.array(mouth),
                       eye_opening=np.array(eyes))


def loudness_per_frame(video: Path, n_frames: int, fps: float) -> np.ndarray:
    """RMS of the video's audio track over each video frame's time."""
    with av.open(str(video)) as container:
        stream = container.streams.audio[0]
        rate = stream.rate
        chunks = [f.to_ndarray().mean(axis=0) for f in container.decode(stream)]
    audio = np.concatenate(chunks)
    hop = rate / fps
    return np.array([np.sqrt(np.mean(audio[int(i * hop): int((i + 1) * hop)] ** 2) + 1e-12)
                     for i in range(n_frames)])


def band_pass(series: np.ndarray, fps: float, low_hz: float = 2.0,
              high_hz: float = 7.0) -> np.ndarray:
    sos = signal.butter(2, [low_hz, high_hz], btype="bandpass", fs=fps, output="sos")
    return signal.sosfiltfilt(sos, series)


def best_lagged_correlation(a: np.ndarray, b: np.ndarray, max_lag: int = 5,
                            ) -> tuple[float, int]:
    """The highest Pearson r between ``a`` and ``b`` shifted by -max_lag..max_lag frames,
    and that shift (positive: ``a`` comes later than ``b``)."""
    best = (-1.0, 0)
    for lag in range(-max_lag, max_lag + 1):
        x = a[max(lag, 0): len(a) + min(lag, 0)]
        y = b[max(-lag, 0): len(b) + min(-lag, 0)]
        r = float(np.corrcoef(x, y)[0, 1])
        best = max(best, (r, lag))
    return best


def count_blinks(eye_opening: np.ndarray, closed_below: float = 0.15) -> int:
    """Number of separate runs of frames with the eyes closed."""
    closed = np.nan_to_num(eye_opening, nan=1.0) < closed_below
    return int(np.count_nonzero(closed[1:] & ~closed[:-1]) + closed[0])


CLOSED_BELOW = 0.08
"""Lips count as closed below this opening (inner-lip gap over mouth width); the
astronaut reads about 0.01-0.04 closed and 0.15-0.25 open."""


@dataclass(frozen=True)
class ReadBack:
    """The Face issue's figures for one rendered video."""

    found_share: float
    """Share of frames in which MediaPipe finds a face."""
    mouth_loudness_r: float
    """Pearson r of mouth opening and audio loudness, both band-passed to 2-7 Hz, at the
    best lag."""
    mouth_lag_frames: int
    """That lag (positive: the mouth comes later than the sound)."""
    closures: int
    """p/b/m phones read (their middle frame inside the video)."""
    closed_share: float
    """Share of those with the lips closed at the phone's middle."""
    blinks_per_minute: float
    mouth_at_closures: np.ndarray
    """The mouth opening at each p/b/m middle, for a failure message."""


def measure(video: Path, phones: list) -> ReadBack:  # list[models.domain.Phone]
    """Read ``video`` back and compute the figures; ``phones`` are the voice's phones."""
    reading = read_face(video)
    mouth = np.nan_to_num(reading.mouth_opening,
                          nan=float(np.nanmedian(reading.mouth_opening)))
    loudness = loudness_per_frame(video, len(mouth), reading.fps)
    r, lag = best_lagged_correlation(band_pass(mouth, reading.fps),
                                     band_pass(loudness, reading.fps))
    middles = [int((p.start_s + p.end_s) / 2 * reading.fps) for p in phones
               if p.symbol in "pbm"]
    middles = [i for i in middles if i < len(mouth)]
    at_closures = mouth[middles]
    minutes = len(mouth) / reading.fps / 60
    return ReadBack(found_share=float(reading.found.mean()), mouth_loudness_r=r,
                    mouth_lag_frames=lag, closures=len(middles),
                    closed_share=float(np.mean(at_closures < CLOSED_BELOW)) if middles else 0.0,
                    blinks_per_minute=count_blinks(reading.eye_opening) / minutes,
                    mouth_at_closures=at_closures)
