"""Specifications of the rig: visemes + emotion spans + time -> per-frame pose."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from models.domain import EMOTIONS
from tasks.emotion.expression import BLENDSHAPES, INTENSITY_EXPONENT, expression_for
from tasks.lipsync.visemes import VISEMES
from tasks.render.rig import (
    BLENDSHAPE_PARAMS,
    BLINK_FRAMES_AT_30_FPS,
    EXPRESSION_PARAMS,
    GAZE_FIXATION_S,
    GAZE_GLANCE_X,
    GAZE_GLANCE_Y,
    POSE_CHANNELS,
    VISEME_MOUTH,
    PoseTrack,
    build_pose_track,
    expression_params,
)

FPS = 30


def visemes(*runs: tuple[str, int]) -> np.ndarray:
    """One-hot weights (n_frames, 15) from runs of (viseme, n_frames)."""
    idx = np.concatenate([np.full(n, VISEMES.index(name)) for name, n in runs])
    return np.eye(len(VISEMES), dtype=np.float32)[idx]


def silence(seconds: float, fps: int = FPS) -> np.ndarray:
    return visemes(("sil", int(round(seconds * fps))))


def test_tables_cover_every_viseme_and_emotion_with_values_in_range():
    assert set(VISEME_MOUTH) == set(VISEMES)
    for name, (jaw, width, rnd, pressed) in VISEME_MOUTH.items():
        assert 0 <= jaw <= 1 and -1 <= width <= 1 and 0 <= rnd <= 1 and 0 <= pressed <= 1, name
    assert set(BLENDSHAPE_PARAMS) == set(EXPRESSION_PARAMS)
    for names in BLENDSHAPE_PARAMS.values():
        assert set(names) <= set(BLENDSHAPES), names


def test_every_blendshape_an_expression_uses_is_drawn_by_the_rig():
    drawn = {name for names in BLENDSHAPE_PARAMS.values() for name in names}
    for emotion in EMOTIONS:
        face = expression_for(emotion, 1.0).face
        assert set(face) <= drawn, emotion
        params = expression_params(face)
        assert params.shape == (len(EXPRESSION_PARAMS),) and (0 <= params).all(), emotion
        assert (params > 0).any() == (emotion != "neutral"), emotion


def test_track_has_one_float32_value_per_frame_for_every_channel():
    pose = build_pose_track(silence(2.0), [], FPS)
    assert pose.n_frames == 60 and pose.fps == FPS
    assert pose.duration_s == pytest.approx(2.0)
    for name, arr in pose.channels().items():
        assert arr.dtype == np.float32 and arr.shape == (60,), name
        assert not arr.flags.writeable, name
    assert tuple(pose.channels()) == POSE_CHANNELS


def test_closed_viseme_opens_the_mouth_less_than_aa():
    pose = build_pose_track(visemes(("PP", 10), ("aa", 10), ("sil", 10)), [], FPS)
    pp, aa, sil = pose.jaw_open[:10], pose.jaw_open[10:20], pose.jaw_open[20:]
    assert pp.max() < 0.05
    assert aa.min() > 0.6
    assert sil.max() < 0.05
    assert pose.lips_pressed[:10].min() > 0.9
    assert pose.lips_pressed[10:20].max() < 0.1


def test_rounded_visemes_round_and_narrow_the_lips():
    pose = build_pose_track(visemes(("ou", 5), ("E", 5)), [], FPS)
    assert pose.lip_round[:5].min() > 0.8 > pose.lip_round[5:].max()
    assert pose.mouth_width[:5].max() < 0 < pose.mouth_width[5:].min()


def test_weights_are_blended_and_normalised():
    w = np.zeros((3, len(VISEMES)), np.float32)
    w[0, VISEMES.index("aa")] = 2.0                                # not normalised
    w[1, [VISEMES.index("aa"), VISEMES.index("PP")]] = 0.5         # half and half
    # row 2 stays all zeros: silence
    pose = build_pose_track(w, [], FPS)
    jaw_aa = VISEME_MOUTH["aa"][0]
    assert pose.jaw_open[0] == pytest.approx(jaw_aa)
    assert pose.jaw_open[1] == pytest.approx(jaw_aa / 2)
    assert pose.jaw_open[2] == pytest.approx(0.0)


def blink_starts(blink: np.ndarray) -> np.ndarray:
    on = blink > 0
    return np.flatnonzero(on & ~np.concatenate([[False], on[:-1]]))


def test_blinks_come_at_irregular_2_to_6_second_intervals_and_close_the_eyes():
    pose = build_pose_track(silence(120.0), [], FPS, seed=3)
    starts = blink_starts(pose.blink)
    assert len(starts) >= 120 / 6 - 1
    gaps_s = np.diff(starts) / FPS
    assert gaps_s.min() >= 2.0 - 1.5 / FPS
    assert gaps_s.max() <= 6.0 + 1.5 / FPS
    assert gaps_s.std() > 0.5  # irregular, not a metronome
    ends = np.flatnonzero((pose.blink > 0) & ~np.concatenate([pose.blink[1:] > 0, [False]]))
    lengths = ends - starts + 1
    assert (lengths.min(), lengths.max()) == BLINK_FRAMES_AT_30_FPS
    for s, e in zip(starts, ends, strict=True):
        assert pose.blink[s:e + 1].max() == pytest.approx(1.0)  # fully closed at the peak
    assert (pose.blink == 0).mean() > 0.9  # the eyes are open almost all the time


def test_same_seed_gives_the_same_track_and_another_seed_another():
    w = silence(30.0)
    a = build_pose_track(w, [], FPS, seed=7)
    b = build_pose_track(w, [], FPS, seed=7)
    c = build_pose_track(w, [], FPS, seed=8)
    for name in POSE_CHANNELS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(blink_starts(a.blink), blink_starts(c.blink))


def test_gaze_leaves_the_blinks_of_a_seed_where_they_were():
    # Blink starts of seed 3 before the rig had gaze: gaze draws from its own generator.
    pose = build_pose_track(silence(60.0), [], FPS, seed=3)
    assert blink_starts(pose.blink).tolist() == [88, 232, 327, 387, 564, 660, 758, 925, 1055,
                                                 1171, 1324, 1388, 1533, 1637, 1708]


def fixations(pose: PoseTrack) -> list[tuple[int, int, float, float]]:
    """Runs of frames with the gaze held still: (first, last, gaze_x, gaze_y)."""
    gaze = np.stack([pose.gaze_x, pose.gaze_y], axis=1)
    held = np.concatenate([[False], (np.diff(gaze, axis=0) == 0).all(axis=1)])
    runs, first = [], None
    for i in range(len(gaze)):
        if first is None:
            first = i
        elif not held[i]:
            if i - 1 > first:
                runs.append((first, i - 1, *gaze[first]))
            first = i
    runs.append((first, len(gaze) - 1, *gaze[first]))
    return runs


def test_the_eyes_rest_mostly_on_the_camera_and_glance_away_now_and_then():
    pose = build_pose_track(silence(60.0), [], FPS, seed=3)
    at_camera = (pose.gaze_x == 0) & (pose.gaze_y == 0)
    assert at_camera.mean() >= 0.5
    away = [run for run in fixations(pose) if run[2:] != (0.0, 0.0)]
    assert len(away) >= 5
    for _, _, x, y in away:  # small glances, mostly sideways
        assert GAZE_GLANCE_X[0] <= abs(x) <= GAZE_GLANCE_X[1] and abs(y) <= GAZE_GLANCE_Y
    assert {np.sign(x) for _, _, x, _ in away} == {-1.0, 1.0}
    held_s = [(last - first + 1) / FPS for first, last, _, _ in fixations(pose)[1:-1]]
    assert min(held_s) >= GAZE_FIXATION_S[0] - 3 / FPS
    for arr in (pose.gaze_x, pose.gaze_y):
        assert np.abs(arr).max() <= 1.0


@pytest.mark.parametrize("fps", [25, 30, 60])
def test_the_eyes_jump_between_fixations_in_a_few_frames(fps):
    pose = build_pose_track(silence(60.0, fps), [], fps, seed=5)
    runs = fixations(pose)
    assert len(runs) >= 10
    for (_, last, *_), (first, _, *_) in zip(runs, runs[1:], strict=False):
        assert first - last <= round(3 * fps / 30)  # a saccade: 2-3 frames at 30 fps


def test_gaze_is_seeded_and_glances_away_less_while_speaking():
    w = silence(30.0)
    a, b = (build_pose_track(w, [], FPS, seed=s) for s in (7, 8))
    assert not np.array_equal(a.gaze_x, b.gaze_x)
    n = 60 * FPS
    speaking = visemes(*[(v, 6) for v in ("aa", "E", "DD", "oh", "ih")] * (n // 30))

    def away_share(weights: np.ndarray) -> float:
        poses = [build_pose_track(weights, [], FPS, seed=s) for s in range(20)]
        return float(np.mean([(p.gaze_x != 0) | (p.gaze_y != 0) for p in poses]))

    assert away_share(speaking) < away_share(silence(60.0)) - 0.03


def test_joy_smiles_and_sadness_turns_corners_down_and_brows_up():
    spans = [(0.0, 2.0, "joy", 1.0), (2.0, 4.0, "sadness", 1.0)]
    pose = build_pose_track(silence(4.0), spans, FPS)
    joy, sad = slice(15, 45), slice(75, 105)  # well inside each span
    assert pose.smile[joy].min() > 0.8 and pose.smile[sad].max() < 0.05
    assert pose.mouth_corner_down[sad].min() > 0.6 and pose.mouth_corner_down[joy].max() < 0.05
    assert pose.brow_inner_up[sad].min() > pose.brow_inner_up[joy].max() + 0.5
    # A smile widens the mouth even when silent.
    assert pose.mouth_width[joy].min() > pose.mouth_width[sad].max() + 0.2


def test_intensity_scales_the_expression():
    full = build_pose_track(silence(2.0), [(0.0, 2.0, "anger", 1.0)], FPS)
    half = build_pose_track(silence(2.0), [(0.0, 2.0, "anger", 0.5)], FPS)
    assert half.brow_furrow[30] == pytest.approx(
        full.brow_furrow[30] * 0.5 ** INTENSITY_EXPONENT, rel=1e-3)


def test_frames_outside_every_span_are_neutral():
    pose = build_pose_track(silence(3.0), [(1.0, 2.0, "surprise", 1.0)], FPS)
    assert pose.brow_raise[:20].max() == 0.0 and pose.brow_raise[70:].max() == 0.0
    assert pose.brow_raise[45] > 0.9


def test_surprise_opens_speech_wider_but_the_lips_close_in_its_pauses():
    spoken = visemes(("E", 90))
    plain = build_pose_track(spoken, [], FPS)
    surprised = build_pose_track(spoken, [(0.0, 3.0, "surprise", 1.0)], FPS)
    assert surprised.jaw_open[45] > plain.jaw_open[45] + 0.1
    quiet = build_pose_track(silence(3.0), [(0.0, 3.0, "surprise", 1.0)], FPS)
    assert quiet.brow_raise[45] > 0.9 and quiet.jaw_open.max() == 0.0


@pytest.mark.parametrize("fps", [25, 30, 60])
def test_emotion_changes_ease_in_over_about_150_ms(fps):
    w = silence(3.0, fps)
    pose = build_pose_track(w, [(1.5, 3.0, "joy", 1.0)], fps)
    t = np.arange(pose.n_frames) / fps
    target = pose.smile.max()
    moving = t[(pose.smile > 0.02 * target) & (pose.smile < 0.98 * target)]
    assert moving.size > 0
    ramp_s = moving.max() - moving.min() + 1 / fps
    assert 0.08 <= ramp_s <= 0.25
    assert abs((moving.max() + moving.min()) / 2 - 1.5) < 0.05  # centred on the change


def test_head_motion_is_small_slow_and_smooth():
    pose = build_pose_track(silence(20.0), [], FPS)
    for arr in (pose.head_dx, pose.head_dy):
        assert np.abs(arr).max() < 0.02          # a few px on a ~500 px head
        assert arr.std() > 0.0005                # but alive
        assert np.abs(np.diff(arr)).max() < 0.001
    assert np.abs(pose.head_roll_deg).max() < 2.0
    assert np.abs(np.diff(pose.head_roll_deg)).max() < 0.1


def test_speech_adds_a_little_head_motion():
    n = 20 * FPS
    speaking = visemes(*[(v, 6) for v in ("aa", "sil", "E", "DD", "oh")] * (n // 30))
    quiet = silence(20.0)
    a = build_pose_track(speaking, [], FPS, seed=1)
    b = build_pose_track(quiet, [], FPS, seed=1)
    assert np.abs(np.diff(a.head_dy)).sum() > 1.2 * np.abs(np.diff(b.head_dy)).sum()
    assert np.abs(a.head_dy).max() < 0.03


@pytest.mark.parametrize(
    ("weights", "spans", "fps", "message"),
    [
        (np.zeros((10, 14)), [], 30, "shape"),
        (np.zeros(10), [], 30, "shape"),
        (np.zeros((0, 15)), [], 30, "no frames"),
        (np.full((10, 15), np.nan), [], 30, "NaN"),
        (np.zeros((10, 15)), [], 0, "fps"),
        (np.zeros((10, 15)), [], 29.97, "fps"),
        (np.zeros((10, 15)), [(0.0, 1.0, "bliss", 1.0)], 30, "bliss"),
        (np.zeros((10, 15)), [(0.0, 1.0, "joy", 1.5)], 30, "intensity"),
        (np.zeros((10, 15)), [(1.0, 0.5, "joy", 1.0)], 30, "before"),
        (np.zeros((10, 15)), [(0.0, 1.0)], 30, "span 0"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(weights, spans, fps, message):
    with pytest.raises(ValueError, match=message):
        build_pose_track(weights, spans, fps)


def test_still_pose_and_validation_of_pose_tracks():
    pose = PoseTrack.still(3, 30, jaw_open=0.5)
    assert pose.jaw_open.tolist() == [0.5] * 3 and pose.smile.tolist() == [0.0] * 3
    with pytest.raises(ValueError, match="unknown pose channels"):
        PoseTrack.still(3, 30, grin=1.0)
    with pytest.raises(ValueError, match="frames"):
        dataclasses.replace(pose, smile=np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="fps"):
        PoseTrack.still(3, 0)
