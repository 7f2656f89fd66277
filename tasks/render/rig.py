"""Rig: viseme weights + emotion spans + time -> one face pose per video frame.

The rig knows nothing about pixels. It blends two tables of domain knowledge, read as data
(in the manner of Rhubarb Lip Sync):

- :data:`VISEME_MOUTH`: the mouth shape of each Oculus viseme, blended by the per-frame
  viseme weights;
- the expression of each emotion at the span's intensity, as ARKit blendshapes from
  tasks/emotion/expression.py, drawn through :data:`BLENDSHAPE_PARAMS` and smoothed over
  ~150 ms so that expressions ease in and out;

and adds life: blinks at irregular 2–6 s intervals (seeded, so a render is reproducible),
a small, slow idle head motion that grows a little while the avatar speaks, and gaze.

Gaze (``gaze_x``, ``gaze_y``: fractions of the widest eye turn, -1..1, +x towards the
right of the screen, +y down) is a chain of fixations of irregular length
(:data:`GAZE_FIXATION_S`). Most rest on the camera (0, 0); the others are small glances
away, mostly sideways and a little up or down (:data:`GAZE_GLANCE_X`,
:data:`GAZE_GLANCE_Y`), a little more often in silence than in speech. The eyes jump
between fixations in a saccade of 2–3 frames at 30 fps (:data:`GAZE_SACCADE_FRAMES_AT_30_FPS`),
never a slow drift. Gaze draws from its own generator (seeded from ``seed`` too), so the
blinks and head motion of a seed are the same as without it.

Everything is vectorised over frames; the result is a :class:`PoseTrack` of per-frame
float32 arrays that a rasteriser (the stock face, later the photo warp) draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from models.domain import EMOTIONS
from tasks.emotion.expression import expression_for
from tasks.lipsync.visemes import VISEMES

EmotionSpan = tuple[float, float, str, float]
"""``(start_s, end_s, emotion, intensity)``: ``emotion`` from ``models.domain.EMOTIONS``,
``intensity`` in 0..1. Frames not covered by any span are neutral."""

MOUTH_PARAMS: tuple[str, ...] = ("jaw_open", "mouth_width", "lip_round", "lips_pressed")

# viseme -> (jaw_open 0..1, mouth_width -1..1, lip_round 0..1, lips_pressed 0..1).
# Rhubarb's shapes mapped onto the Oculus set: A (closed) for PP, B (slightly open, teeth
# together) for most consonants, C/D (open/wide) for the open vowels, E/F (rounded,
# puckered) for oh/ou and the rounded consonants, G (lower lip to teeth) for FF.
VISEME_MOUTH: dict[str, tuple[float, float, float, float]] = {
    "sil": (0.00, 0.00, 0.00, 0.00),
    "PP": (0.00, -0.05, 0.05, 1.00),
    "FF": (0.10, 0.10, 0.00, 0.35),
    "TH": (0.20, 0.05, 0.00, 0.00),
    "DD": (0.28, 0.10, 0.00, 0.00),
    "kk": (0.32, 0.05, 0.00, 0.00),
    "CH": (0.22, -0.25, 0.45, 0.00),
    "SS": (0.12, 0.35, 0.00, 0.00),
    "nn": (0.20, 0.10, 0.00, 0.00),
    "RR": (0.22, -0.30, 0.50, 0.00),
    "aa": (0.85, 0.15, 0.00, 0.00),
    "E": (0.50, 0.45, 0.00, 0.00),
    "ih": (0.35, 0.30, 0.00, 0.00),
    "oh": (0.60, -0.35, 0.65, 0.00),
    "ou": (0.30, -0.60, 0.90, 0.00),
}

EXPRESSION_PARAMS: tuple[str, ...] = (
    "smile",              # mouth corners up and out, 0..1
    "mouth_corner_down",  # mouth corners down, 0..1
    "mouth_open",         # jaw opening at rest, 0..1 (folded into jaw_open)
    "mouth_stretch",      # lips pulled sideways, 0..1 (folded into mouth_width)
    "lip_press",          # lips pressed/tense, 0..1 (folded into lips_pressed)
    "upper_lip_raise",    # upper lip lifted, shows teeth, 0..1
    "brow_raise",         # whole brows up, 0..1
    "brow_inner_up",      # inner brow ends up (worry, sadness), 0..1
    "brow_furrow",        # inner brow ends down and together, 0..1
    "eye_wide",           # upper lids up, 0..1
    "eye_squint",         # lower lids up, 0..1
    "lid_droop",          # upper lids down (tired, sad), 0..1
    "nose_wrinkle",       # wrinkles on the nose bridge, 0..1
)

# The rig's expression parameter <- the ARKit blendshapes it draws (their mean).
# What each emotion does to these blendshapes is tasks/emotion/expression.py.
BLENDSHAPE_PARAMS: dict[str, tuple[str, ...]] = {
    "smile": ("mouthSmileLeft", "mouthSmileRight"),
    "mouth_corner_down": ("mouthFrownLeft", "mouthFrownRight"),
    "mouth_open": ("jawOpen",),
    "mouth_stretch": ("mouthStretchLeft", "mouthStretchRight"),
    "lip_press": ("mouthPressLeft", "mouthPressRight"),
    "upper_lip_raise": ("mouthUpperUpLeft", "mouthUpperUpRight"),
    "brow_raise": ("browOuterUpLeft", "browOuterUpRight"),
    "brow_inner_up": ("browInnerUp",),
    "brow_furrow": ("browDownLeft", "browDownRight"),
    "eye_wide": ("eyeWideLeft", "eyeWideRight"),
    "eye_squint": ("eyeSquintLeft", "eyeSquintRight"),
    "lid_droop": ("eyeBlinkLeft", "eyeBlinkRight"),
    "nose_wrinkle": ("noseSneerLeft", "noseSneerRight"),
}


def expression_params(blendshapes: Mapping[str, float]) -> np.ndarray:
    """ARKit blendshape weights -> the rig's :data:`EXPRESSION_PARAMS`, float32."""
    return np.array([sum(blendshapes.get(name, 0.0) for name in names) / len(names)
                     for names in (BLENDSHAPE_PARAMS[p] for p in EXPRESSION_PARAMS)],
                    dtype=np.float32)


POSE_CHANNELS: tuple[str, ...] = (
    *MOUTH_PARAMS,
    "smile", "mouth_corner_down", "upper_lip_raise",
    "brow_raise", "brow_inner_up", "brow_furrow",
    "eye_wide", "eye_squint", "lid_droop", "nose_wrinkle",
    "blink", "gaze_x", "gaze_y",
    "head_dx", "head_dy", "head_roll_deg",
)
"""Names of the per-frame arrays of a :class:`PoseTrack`, in a fixed order."""

EMOTION_SMOOTHING_S = 0.15
"""Width of the window that eases one expression into the next, in seconds."""
BLINK_INTERVAL_S = (2.0, 6.0)
"""Blinks start at intervals drawn uniformly from this range, in seconds."""
BLINK_FRAMES_AT_30_FPS = (4, 7)
"""A blink lasts this many frames (inclusive) at 30 fps; scaled for other frame rates."""
GAZE_FIXATION_S = (0.6, 2.5)
"""The eyes hold each fixation for a time drawn uniformly from this range, in seconds."""
GAZE_AWAY_SHARE_SILENT = 0.35
"""Share of the fixations that glance away from the camera while the avatar is silent..."""
GAZE_AWAY_SHARE_SPEAKING = 0.25
"""...and while it speaks (it holds the viewer's eye); in between, blended by speech."""
GAZE_GLANCE_X = (0.2, 0.5)
"""A glance turns the eyes sideways by this much (either side), in fractions of the
widest turn."""
GAZE_GLANCE_Y = 0.3
"""...and up or down by at most this much, in fractions of the widest turn."""
GAZE_SACCADE_FRAMES_AT_30_FPS = (2, 3)
"""A jump between fixations takes this many frames at 30 fps (the first for moves up to
:data:`GAZE_WIDE_SACCADE`, the second for wider ones), scaled for other frame rates; the
last of them is on the new fixation."""
GAZE_WIDE_SACCADE = 0.35
"""Moves wider than this (fractions of the widest turn) take the longer saccade."""

# Idle head motion: sums of slow sinusoids (Hz, amplitude). Offsets are in face heights
# (1.0 = the height of the head), so a 540 px head moves by about ±3 px; roll in degrees.
_HEAD_DX = ((0.11, 0.0040), (0.23, 0.0020), (0.37, 0.0010))
_HEAD_DY = ((0.09, 0.0030), (0.19, 0.0015), (0.31, 0.0008))
_HEAD_ROLL_DEG = ((0.07, 0.60), (0.17, 0.30))
_SPEECH_MOTION_GAIN = 0.8   # idle amplitude grows by up to 80% while speaking
_SPEECH_NOD = 0.006         # face heights of downward nod on a burst of speech
_SPEECH_ROLL_DEG = 0.5      # degrees of roll on a burst of speech


@dataclass(frozen=True)
class PoseTrack:
    """One face pose per frame: float32 arrays of shape ``(n_frames,)``.

    Mouth: ``jaw_open`` 0..1 (0 closed, 1 widest), ``mouth_width`` -1..1 (-1 narrow and
    puckered, +1 wide), ``lip_round`` 0..1, ``lips_pressed`` 0..1.
    Expression (0..1): ``smile``, ``mouth_corner_down``, ``upper_lip_raise``,
    ``brow_raise``, ``brow_inner_up``, ``brow_furrow``, ``eye_wide``, ``eye_squint``,
    ``lid_droop``, ``nose_wrinkle``.
    Eyes: ``blink`` 0..1 (1 = lids fully closed); ``gaze_x`` and ``gaze_y`` -1..1,
    fractions of the widest eye turn (0 = at the camera, +x right, +y down on screen).
    Head: ``head_dx`` and ``head_dy`` offsets in face heights (1.0 = the head's height;
    +x right, +y down), ``head_roll_deg`` rotation in degrees (+ = clockwise on screen).

    Arrays are read-only; build variants with :func:`dataclasses.replace`.
    """

    fps: int
    jaw_open: np.ndarray
    mouth_width: np.ndarray
    lip_round: np.ndarray
    lips_pressed: np.ndarray
    smile: np.ndarray
    mouth_corner_down: np.ndarray
    upper_lip_raise: np.ndarray
    brow_raise: np.ndarray
    brow_inner_up: np.ndarray
    brow_furrow: np.ndarray
    eye_wide: np.ndarray
    eye_squint: np.ndarray
    lid_droop: np.ndarray
    nose_wrinkle: np.ndarray
    blink: np.ndarray
    gaze_x: np.ndarray
    gaze_y: np.ndarray
    head_dx: np.ndarray
    head_dy: np.ndarray
    head_roll_deg: np.ndarray

    def __post_init__(self) -> None:
        if self.fps <= 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        n = None
        for f in fields(self):
            if f.name == "fps":
                continue
            arr = np.array(getattr(self, f.name), dtype=np.float32)
            if arr.ndim != 1:
                raise ValueError(f"PoseTrack.{f.name} must be 1-D, got shape {arr.shape}")
            if n is None:
                n = arr.shape[0]
            elif arr.shape[0] != n:
                raise ValueError(
                    f"PoseTrack.{f.name} has {arr.shape[0]} frames, expected {n}"
                )
            arr.setflags(write=False)
            object.__setattr__(self, f.name, arr)

    @property
    def n_frames(self) -> int:
        return int(self.jaw_open.shape[0])

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    def channels(self) -> dict[str, np.ndarray]:
        """The per-frame arrays by name, in :data:`POSE_CHANNELS` order."""
        return {name: getattr(self, name) for name in POSE_CHANNELS}

    @classmethod
    def still(cls, n_frames: int, fps: int, **values: float) -> PoseTrack:
        """A pose held for ``n_frames``: every channel 0 unless given in ``values``.

        Useful for tests and previews, e.g. ``PoseTrack.still(1, 30, jaw_open=0.8)``.
        """
        unknown = set(values) - set(POSE_CHANNELS)
        if unknown:
            raise ValueError(f"unknown pose channels: {sorted(unknown)}")
        if n_frames < 0:
            raise ValueError(f"n_frames must be >= 0, got {n_frames}")
        arrays: dict[str, Any] = {
            name: np.full(n_frames, values.get(name, 0.0), dtype=np.float32)
            for name in POSE_CHANNELS
        }
        return cls(fps=fps, **arrays)


def _table(rows: Sequence[str], cols: Sequence[str], data: dict[str, Any]) -> np.ndarray:
    """A (len(rows), len(cols)) float32 matrix from a row-name -> values mapping."""
    out = np.zeros((len(rows), len(cols)), dtype=np.float32)
    for i, row in enumerate(rows):
        values = data[row]
        if isinstance(values, dict):
            for name, v in values.items():
                out[i, cols.index(name)] = v
        else:
            out[i] = values
    return out


_VISEME_MOUTH_M = _table(VISEMES, MOUTH_PARAMS, VISEME_MOUTH)           # (15, 4)
_EXPR = {name: i for i, name in enumerate(EXPRESSION_PARAMS)}


def _smooth(x: np.ndarray, width_frames: float) -> np.ndarray:
    """Centred Hann-window smoothing along axis 0 with edge padding.

    ``x``: (n_frames,) or (n_frames, n_channels); ``width_frames``: full window width.
    Returns float32 of the same shape.
    """
    k = max(1, int(round(width_frames)))
    if k <= 1 or x.shape[0] == 0:
        return x.astype(np.float32, copy=True)
    if k % 2 == 0:
        k += 1
    kernel = np.hanning(k + 2)[1:-1]
    kernel /= kernel.sum()
    half = k // 2
    two_d = x.reshape(x.shape[0], -1).astype(np.float64)
    padded = np.pad(two_d, ((half, half), (0, 0)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, k, axis=0)  # (n, C, k)
    return (windows @ kernel).astype(np.float32).reshape(x.shape)


def _expression_targets(
    emotion_spans: Sequence[EmotionSpan], t_s: np.ndarray
) -> np.ndarray:
    """Unsmoothed expression parameters per frame: (n_frames, len(EXPRESSION_PARAMS))."""
    n = t_s.shape[0]
    if not emotion_spans:
        return np.zeros((n, len(EXPRESSION_PARAMS)), dtype=np.float32)
    starts, ends, rows = [], [], []
    for k, span in enumerate(emotion_spans):
        try:
            start_s, end_s, emotion, level = span
        except (TypeError, ValueError):
            raise ValueError(
                f"emotion span {k} must be (start_s, end_s, emotion, intensity), got {span!r}"
            ) from None
        if emotion not in EMOTIONS:
            raise ValueError(
                f"emotion span {k}: unknown emotion {emotion!r}; expected one of {EMOTIONS}"
            )
        if not 0.0 <= float(level) <= 1.0:
            raise ValueError(f"emotion span {k}: intensity must be in 0..1, got {level}")
        if not float(end_s) >= float(start_s):
            raise ValueError(f"emotion span {k}: end_s {end_s} is before start_s {start_s}")
        starts.append(float(start_s))
        ends.append(float(end_s))
        rows.append(expression_params(expression_for(emotion, float(level)).face))
    order = np.argsort(starts, kind="stable")
    starts_a = np.asarray(starts)[order]
    ends_a = np.asarray(ends)[order]
    rows_a = np.stack(rows)[order]
    # The latest span that started at or before t covers t if t is before its end.
    idx = np.searchsorted(starts_a, t_s, side="right") - 1
    safe = np.clip(idx, 0, None)
    inside = (idx >= 0) & (t_s < ends_a[safe])
    return np.where(inside[:, None], rows_a[safe], 0.0).astype(np.float32)


def _blinks(n_frames: int, fps: int, rng: np.random.Generator) -> np.ndarray:
    """Lid closure per frame, (n_frames,) float32 in 0..1, with 1.0 at each blink's peak."""
    out = np.zeros(n_frames, dtype=np.float32)
    duration_s = n_frames / fps
    lo, hi = BLINK_INTERVAL_S
    n_blinks = int(duration_s / lo) + 2
    # The first blink comes 1-4 s in (nobody blinks on the very first frame), then the
    # intervals are irregular within BLINK_INTERVAL_S.
    gaps = np.concatenate([[rng.uniform(1.0, 4.0)], rng.uniform(lo, hi, n_blinks - 1)])
    start_frames = np.round(np.cumsum(gaps) * fps).astype(np.int64)
    lengths_30 = rng.integers(BLINK_FRAMES_AT_30_FPS[0], BLINK_FRAMES_AT_30_FPS[1] + 1, n_blinks)
    lengths = np.maximum(1, np.round(lengths_30 * fps / 30.0)).astype(np.int64)
    # Closure profile: up to the peak frame, then back open (the opening is the slower
    # half), evaluated for every (blink, frame-in-blink) pair at once.
    j = np.arange(int(lengths.max()))[None, :]                      # (1, L)
    m = lengths[:, None]                                            # (B, 1)
    peak = (m - 1) // 2
    closing = 1.0 - (peak - j) / (peak + 1.0)
    opening = 1.0 - (j - peak) / (m - peak)
    profile = np.where(j <= peak, closing, opening)
    valid = j < m
    frames = start_frames[:, None] + j
    keep = valid & (frames < n_frames)
    np.maximum.at(out, frames[keep], profile[keep].astype(np.float32))
    return out


def _gaze(
    speech: np.ndarray, fps: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Fixations joined by saccades: ``gaze_x``, ``gaze_y``, each (n_frames,) float32.

    ``speech``: (n_frames,) 0..1, how much the avatar is speaking (sets how often the
    eyes glance away).
    """
    n_frames = speech.shape[0]
    lo, hi = GAZE_FIXATION_S
    n_fix = int(n_frames / fps / lo) + 2
    durations_s = rng.uniform(lo, hi, n_fix)
    starts = np.round(np.concatenate([[0.0], np.cumsum(durations_s[:-1])]) * fps)
    starts = starts.astype(np.int64)
    speaking = _smooth(speech, lo * fps)[np.minimum(starts, n_frames - 1)]
    away_share = GAZE_AWAY_SHARE_SILENT + (GAZE_AWAY_SHARE_SPEAKING
                                           - GAZE_AWAY_SHARE_SILENT) * speaking
    away = rng.random(n_fix) < away_share
    away[0] = False  # a video opens with the eyes on the viewer
    side = rng.choice([-1.0, 1.0], n_fix)
    target_x = np.where(away, side * rng.uniform(*GAZE_GLANCE_X, n_fix), 0.0)
    target_y = np.where(away, rng.uniform(-GAZE_GLANCE_Y, GAZE_GLANCE_Y, n_fix), 0.0)
    # Each fixation starts with a saccade from the previous one's target.
    prev_x = np.concatenate([[0.0], target_x[:-1]])
    prev_y = np.concatenate([[0.0], target_y[:-1]])
    amplitude = np.hypot(target_x - prev_x, target_y - prev_y)
    short, long_ = GAZE_SACCADE_FRAMES_AT_30_FPS
    saccade_30 = np.where(amplitude > GAZE_WIDE_SACCADE, long_, short)
    saccade = np.maximum(1, np.round(saccade_30 * fps / 30.0))
    frame = np.arange(n_frames)
    k = np.searchsorted(starts, frame, side="right") - 1
    progress = np.clip((frame - starts[k] + 1) / saccade[k], 0.0, 1.0)
    ease = progress * progress * (3.0 - 2.0 * progress)  # slow-fast-slow
    gaze_x = prev_x[k] + (target_x[k] - prev_x[k]) * ease
    gaze_y = prev_y[k] + (target_y[k] - prev_y[k]) * ease
    return gaze_x.astype(np.float32), gaze_y.astype(np.float32)


def _head_motion(
    t_s: np.ndarray, speech: np.ndarray, fps: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Idle head motion plus a little speech-driven motion.

    ``speech``: (n_frames,) 0..1, how much the avatar is speaking. Returns ``head_dx``,
    ``head_dy`` (face heights) and ``head_roll_deg`` (degrees), each (n_frames,) float32.
    """

    def waves(spec: tuple[tuple[float, float], ...]) -> np.ndarray:
        freq = np.array([f for f, _ in spec]) * rng.uniform(0.85, 1.15, len(spec))
        amp = np.array([a for _, a in spec])
        phase = rng.uniform(0.0, 2.0 * np.pi, len(spec))
        return np.sin(2.0 * np.pi * t_s[:, None] * freq + phase) @ amp

    slow = _smooth(speech, 1.2 * fps)
    fast = _smooth(speech, 0.25 * fps)
    gain = 1.0 + _SPEECH_MOTION_GAIN * slow
    burst = fast - slow  # > 0 at the onset of a phrase, < 0 as it trails off
    side = np.sign(np.sin(2.0 * np.pi * t_s * 0.13 + rng.uniform(0, 2 * np.pi)))
    dx = waves(_HEAD_DX) * gain
    dy = waves(_HEAD_DY) * gain + _SPEECH_NOD * burst
    roll = waves(_HEAD_ROLL_DEG) * gain + _SPEECH_ROLL_DEG * burst * side
    # The side of the speech roll flips in steps; smooth it so the head never jumps.
    roll = _smooth(roll, 0.3 * fps)
    return dx.astype(np.float32), dy.astype(np.float32), roll.astype(np.float32)


def build_pose_track(
    weights: np.ndarray,
    emotion_spans: Sequence[EmotionSpan],
    fps: int,
    *,
    seed: int = 0,
) -> PoseTrack:
    """Turn viseme weights and emotion spans into one pose per frame.

    Args:
        weights: float array of shape ``(n_frames, 15)``, viseme weights per frame in the
            order of :data:`tasks.lipsync.visemes.VISEMES`; rows are normalised (a row of
            zeros counts as silence).
        emotion_spans: ``(start_s, end_s, emotion, intensity)`` spans, in seconds from the
            start of the track; frames outside every span are neutral; where spans
            overlap, the one that started last wins.
        fps: frames per second of ``weights`` (frame ``i`` is at ``i / fps`` s).
        seed: seed of the blink timing, idle motion and gaze; the same inputs and seed
            always give the same track.

    Returns:
        A :class:`PoseTrack` of ``n_frames`` frames.
    """
    if not isinstance(fps, int | np.integer) or fps <= 0:
        raise ValueError(f"fps must be a positive integer, got {fps!r}")
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim != 2 or w.shape[1] != len(VISEMES):
        raise ValueError(
            f"weights must have shape (n_frames, {len(VISEMES)}), got {w.shape}"
        )
    if w.shape[0] == 0:
        raise ValueError("weights has no frames")
    if not np.all(np.isfinite(w)):
        raise ValueError("weights contains NaN or infinite values")
    n = w.shape[0]
    fps = int(fps)
    rng = np.random.default_rng(seed)
    t_s = np.arange(n, dtype=np.float64) / fps

    w = np.clip(w, 0.0, None)
    total = w.sum(axis=1, keepdims=True)
    silent = total[:, 0] < 1e-6
    w = w / np.maximum(total, 1e-6)
    w[silent] = np.eye(len(VISEMES), dtype=np.float32)[VISEMES.index("sil")]
    mouth = w @ _VISEME_MOUTH_M                                   # (n, 4)

    expr = _smooth(_expression_targets(emotion_spans, t_s), EMOTION_SMOOTHING_S * fps)
    e = {name: expr[:, i] for name, i in _EXPR.items()}

    vis_jaw, vis_width, vis_round, vis_pressed = mouth.T
    speech = 1.0 - w[:, VISEMES.index("sil")]
    jaw = vis_jaw * (1.0 - 0.3 * e["lip_press"])
    # An emotion's open mouth (surprise) opens speech wider; in pauses the lips close.
    jaw = jaw + e["mouth_open"] * _smooth(speech, 0.2 * fps) * (1.0 - jaw)
    width = vis_width + 0.35 * e["smile"] + 0.45 * e["mouth_stretch"]
    pressed = vis_pressed + 0.5 * e["lip_press"] * (1.0 - vis_jaw)

    head_dx, head_dy, head_roll = _head_motion(t_s, speech, fps, rng)
    blink = _blinks(n, fps, rng)
    gaze_x, gaze_y = _gaze(speech, fps, np.random.default_rng([seed, 1]))

    def unit(x: np.ndarray) -> np.ndarray:
        return np.clip(x, 0.0, 1.0).astype(np.float32)

    return PoseTrack(
        fps=fps,
        jaw_open=unit(jaw),
        mouth_width=np.clip(width, -1.0, 1.0).astype(np.float32),
        lip_round=unit(vis_round),
        lips_pressed=unit(pressed),
        smile=unit(e["smile"]),
        mouth_corner_down=unit(e["mouth_corner_down"]),
        upper_lip_raise=unit(e["upper_lip_raise"]),
        brow_raise=unit(e["brow_raise"]),
        brow_inner_up=unit(e["brow_inner_up"]),
        brow_furrow=unit(e["brow_furrow"]),
        eye_wide=unit(e["eye_wide"]),
        eye_squint=unit(e["eye_squint"]),
        lid_droop=unit(e["lid_droop"]),
        nose_wrinkle=unit(e["nose_wrinkle"]),
        blink=blink,
        gaze_x=gaze_x,
        gaze_y=gaze_y,
        head_dx=head_dx,
        head_dy=head_dy,
        head_roll_deg=head_roll,
    )
