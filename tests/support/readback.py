"""Reading a rendered video back the way a viewer's eye would: a face tracker on every
frame, the loudness of the audio track, and the measures the Face issues ask for.

Two trackers: MediaPipe's face mesh (:func:`measure`), and dlib's 68-point predictor
(:func:`measure_68`, :mod:`tests.support.dlib_face`), which is independent of the
renderer's MediaPipe rig and the one the photo-avatar figures are judged by. Nothing here
shares code with the renderer: the face is found again from pixels.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from scipy import ndimage, signal

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


# --- dlib's 68 points ------------------------------------------------------------------

CLOSED_BELOW_68 = 0.1
"""dlib reads lips as closed below this inner-lip gap over inner mouth width; closed
renders read 0.01-0.07, the least open vowels about 0.12."""
EYES_SHUT_BELOW_68 = 0.65
"""An eye aspect ratio below this share of the video's median counts as a blink (open
eyes read 0.20-0.35 depending on the face, shut ones about a third of that)."""
PAUSE_MARGIN_S = 0.15
"""A pause frame lies at least this far from every spoken word (lips take a few frames
to close after a word and to part before one)."""


@dataclass(frozen=True)
class Figures68:
    """The photo-avatar issue's figures for one rendered video, read with dlib."""

    found_share: float
    mouth_loudness_r: float
    """Pearson r of opening and loudness, both band-passed to 2-7 Hz, at the best lag."""
    mouth_lag_frames: int
    opening_p50_speaking: float
    opening_p90_speaking: float
    """90th percentile of the opening over frames inside spoken words (real speech 0.61)."""
    pause_frames: int
    pause_closed_share: float
    closures: int
    """p/b/m phones whose middle lies inside the video."""
    closed_share: float
    """Share of those with the lips closed at the phone's middle."""
    blinks_per_minute: float
    outside_changed_share: float
    """Share of the pixels outside the head that change between frames (by more than
    video coding noise)."""
    widest: tuple[int, ...]
    """The 12 frames with the widest openings, for the contact sheet."""
    pauses: tuple[int, ...]
    """6 pause frames spread over the video, for the contact sheet."""

    def lines(self) -> list[str]:
        """The figures with the issue's goals, one per line."""
        return [
            f"face found        {self.found_share:8.1%}   (goal >= 99%)",
            f"mouth ~ loudness  r = {self.mouth_loudness_r:.3f} at lag "
            f"{self.mouth_lag_frames:+d} frames   (goal r >= 0.6, |lag| <= 1)",
            f"opening speaking  p50 {self.opening_p50_speaking:.2f}, p90 "
            f"{self.opening_p90_speaking:.2f}   (goal p90 >= 0.35; real speech p50 0.20, "
            "p90 0.61)",
            f"lips closed pause {self.pause_closed_share:8.1%}   of {self.pause_frames} "
            "frames (goal >= 95%)",
            f"lips closed p/b/m {self.closed_share:8.1%}   of {self.closures} (goal >= 90%)",
            f"blinks            {self.blinks_per_minute:8.1f} per minute   (goal 8-30)",
            f"outside the head  {self.outside_changed_share:8.3%} of pixels change   "
            "(goal 0)",
        ]


def measure_68(video: Path, voice, reading=None) -> Figures68:
    """Read ``video`` back with dlib and compute the figures; ``voice`` (a
    :class:`models.domain.VoiceTrack`) gives the phones and words the video speaks, and
    ``reading`` (:func:`tests.support.dlib_face.read_face_68`) saves reading it again."""
    from tests.support.dlib_face import read_face_68

    reading = reading or read_face_68(video)
    fps, n = reading.fps, len(reading.points)
    opening = reading.mouth_opening
    filled = _interpolate_gaps(opening)
    loudness = loudness_per_frame(video, n, fps)
    r, lag = best_lagged_correlation(band_pass(filled, fps), band_pass(loudness, fps))

    t_s = np.arange(n) / fps
    speaking = np.zeros(n, dtype=bool)
    near_words = np.zeros(n, dtype=bool)
    for word in voice.words:
        speaking |= (t_s >= word.start_s) & (t_s < word.end_s)
        near_words |= ((t_s >= word.start_s - PAUSE_MARGIN_S)
                       & (t_s < word.end_s + PAUSE_MARGIN_S))
    pause = ~near_words & reading.found
    middles = [int((p.start_s + p.end_s) / 2 * fps) for p in voice.phones if p.symbol in "pbm"]
    middles = [i for i in middles if i < n]
    eyes = np.nan_to_num(reading.eye_opening, nan=1.0)
    shut = eyes < EYES_SHUT_BELOW_68 * float(np.nanmedian(reading.eye_opening))
    # One blink may read open for a frame in its middle: bridge gaps of up to two frames.
    shut = ndimage.binary_closing(shut, structure=np.ones(3, bool)) | shut
    blinks = int(np.count_nonzero(shut[1:] & ~shut[:-1]) + shut[0])

    spoken = np.where(speaking & reading.found)[0]
    widest = spoken[np.argsort(-opening[spoken])[:12]] if len(spoken) else np.array([], int)
    paused = np.where(pause)[0]
    spread = paused[np.linspace(0, len(paused) - 1, min(6, len(paused))).astype(int)] \
        if len(paused) else np.array([], int)
    return Figures68(
        found_share=float(reading.found.mean()),
        mouth_loudness_r=r, mouth_lag_frames=lag,
        opening_p50_speaking=float(np.nanpercentile(opening[speaking], 50)),
        opening_p90_speaking=float(np.nanpercentile(opening[speaking], 90)),
        pause_frames=int(pause.sum()),
        pause_closed_share=float(np.mean(opening[pause] < CLOSED_BELOW_68)) if pause.any()
        else 0.0,
        closures=len(middles),
        closed_share=float(np.mean(filled[middles] < CLOSED_BELOW_68)) if middles else 0.0,
        blinks_per_minute=blinks / (n / fps / 60),
        outside_changed_share=outside_head_changed(video, reading),
        widest=tuple(int(i) for i in sorted(widest)),
        pauses=tuple(int(i) for i in spread))


def _interpolate_gaps(series: np.ndarray) -> np.ndarray:
    """``series`` with its NaNs filled linearly from the neighbouring frames."""
    good = ~np.isnan(series)
    if not good.any():
        return np.zeros_like(series)
    index = np.arange(len(series))
    return np.interp(index, index[good], series[good])


CODING_NOISE = 6
"""A pixel counts as changed when it differs from an earlier frame by more than this (out
of 255) in any channel: more than what H.264 does to a still picture within a group of
pictures (each key frame codes the picture afresh, a little differently)..."""
CHANGED_AT_LEAST = 2
"""...in at least this many of the compared pairs of frames. While the encoder's rate
control settles in the first second, a few dozen pixels of fine texture (a seat's weave,
far from any face) flicker once; what the renderer moves (a seam, a neck dragged by the
jaw) moves with every opening."""


def outside_head_changed(video: Path, reading, every: int = 10,
                         grow_face_heights: float = 0.5) -> float:
    """Share of the pixels outside the head that change over the video.

    The head: the hull of dlib's 68 points in every frame, grown by ``grow_face_heights``
    of the face's height (brows to chin) to the sides and below (hair, ears, the jaw's
    fall-off into the neck) and by at least a whole face height above (forehead and
    hair). Every ``every``-th frame is compared with the one ``every`` frames before, when
    both lie in one group of pictures (a key frame codes the picture afresh), and a pixel
    counts as changed when it changed in :data:`CHANGED_AT_LEAST` of those pairs."""
    import av
    import cv2

    points = reading.points[reading.found]
    if not len(points):
        return 1.0
    face_h = float(np.median(points[:, 8, 1] - points[:, 17:27, 1].min(axis=1)))  # brows-chin
    head = np.zeros((reading.height, reading.width), np.uint8)
    for p in points[:: max(1, len(points) // 60)]:
        cv2.fillConvexPoly(head, cv2.convexHull(p.astype(np.int32)), 1)
    grow = int(round(grow_face_heights * face_h))
    head = cv2.dilate(head, cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                      (2 * grow + 1, 2 * grow + 1)))
    rows = np.where(head.any(axis=1))[0]
    top = rows[0]
    above = head[top: top + grow].any(axis=0)
    head[max(0, top - int(max(1.0, grow_face_heights) * face_h)): top, :] |= \
        above.astype(np.uint8)
    outside = head == 0
    if not outside.any():
        return 0.0
    changes = np.zeros(outside.shape, dtype=np.int32)
    with av.open(str(video)) as container:
        previous, group = None, -1
        for i, frame in enumerate(container.decode(container.streams.video[0])):
            if frame.key_frame:
                group, previous = group + 1, None  # a group of pictures coded afresh
            if i % every:
                continue
            rgb = frame.to_ndarray(format="rgb24").astype(np.int16)
            if previous is not None:
                changes += (np.abs(rgb - previous) > CODING_NOISE).any(axis=2)
            previous = rgb
    return float((changes[outside] >= CHANGED_AT_LEAST).mean())
