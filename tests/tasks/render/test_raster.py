"""Specifications of the stock avatar's rasteriser, measured on the pixels it draws."""

from __future__ import annotations

import numpy as np
import pytest

from models.domain import RenderSpec
from tasks.render.raster import PIXEL_FORMAT, StockFace
from tasks.render.rig import PoseTrack

# Mouth shapes as the rig makes them from visemes (see rig.VISEME_MOUTH).
AA = {"jaw_open": 0.85, "mouth_width": 0.15}
SIL: dict[str, float] = {}
PP = {"lips_pressed": 1.0, "mouth_width": -0.05}
OU = {"jaw_open": 0.3, "mouth_width": -0.6, "lip_round": 0.9}
E = {"jaw_open": 0.5, "mouth_width": 0.45}


@pytest.fixture(scope="module")
def face() -> StockFace:
    return StockFace(720, 1280)


def render(face: StockFace, **pose: float) -> np.ndarray:
    return next(face.frames(PoseTrack.still(1, 30, **pose))).copy()


def crop(frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return frame[y0:y1, x0:x1].astype(np.int32)


def dark(pixels: np.ndarray) -> np.ndarray:
    """The mouth's cavity and the lashes/pupils: nearly black."""
    return pixels.max(axis=-1) < 70


def white(pixels: np.ndarray) -> np.ndarray:
    """Teeth and the whites of the eyes: bright and nearly grey."""
    return (pixels.min(axis=-1) > 205) & (pixels.max(axis=-1) - pixels.min(axis=-1) < 30)


def iris(pixels: np.ndarray) -> np.ndarray:
    """The warm brown of the irises."""
    r, b = pixels[..., 0], pixels[..., 2]
    return (r > 90) & (r < 200) & (b < 90) & (r - b > 60)


def lips(pixels: np.ndarray) -> np.ndarray:
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return (r > 150) & (r - g > 70) & (r - b > 60)


def test_frames_are_rgb24_of_the_frame_size(face):
    frame = render(face)
    assert PIXEL_FORMAT == "rgb24"
    assert frame.shape == (1280, 720, 3) and frame.dtype == np.uint8
    # The background is the warm, light gradient; the top is its reddest part (R > B).
    top = frame[5, 5].astype(int)
    assert top.min() > 180 and top[0] > top[2]


@pytest.mark.parametrize("aspect", ["9:16", "16:9", "1:1"])
@pytest.mark.parametrize("resolution", ["720p", "1080p", "4k"])
def test_every_render_spec_size_renders_a_centred_head_of_the_right_size(aspect, resolution):
    width, height = RenderSpec(aspect=aspect, resolution=resolution).size_px
    face = StockFace(width, height)
    frame = render(face, **AA)
    assert frame.shape == (height, width, 3) and frame.dtype == np.uint8
    short = min(width, height)
    # Measure the head (hair and skin) along the row through the eyes.
    eye_y = (face.regions["eye_left"][1] + face.regions["eye_left"][3]) // 2
    row = frame[eye_y].astype(int)
    skin = (row[:, 0] > 200) & (row[:, 0] - row[:, 2] > 45)
    hair = row.max(axis=1) < 110
    cols = np.flatnonzero(skin | hair)
    head_w = cols.max() - cols.min()
    assert 0.45 * short <= head_w <= 0.6 * short
    assert abs((cols.max() + cols.min()) / 2 - width / 2) <= 0.01 * width
    # The whole head is inside the frame, with room above it.
    x0, y0, x1, y1 = face.regions["head"]
    assert 0 <= x0 and x1 <= width and 0 < y0 and y1 <= height


def test_open_mouth_shows_a_dark_cavity_and_teeth_and_a_closed_one_does_not(face):
    box = face.regions["mouth"]
    area = (box[2] - box[0]) * (box[3] - box[1])
    open_ = crop(render(face, **AA), box)
    closed = crop(render(face, **SIL), box)
    pressed = crop(render(face, **PP), box)
    assert dark(open_).sum() > 0.04 * area
    assert white(open_).sum() > 0.005 * area
    for shut in (closed, pressed):
        assert dark(shut).sum() == 0
        assert white(shut).sum() == 0
    # The mouth region changes a lot between the two shapes.
    changed = np.abs(open_ - closed).max(axis=-1) > 40
    assert changed.mean() > 0.1


def test_the_opening_grows_with_the_jaw(face):
    box = face.regions["mouth"]
    counts = [dark(crop(render(face, jaw_open=j), box)).sum() for j in (0.2, 0.5, 0.9)]
    assert counts[0] < counts[1] < counts[2]


def test_rounded_lips_are_narrower_than_spread_lips(face):
    def lip_width(pose: dict[str, float]) -> int:
        cols = np.flatnonzero(lips(crop(render(face, **pose), face.regions["mouth"])).any(0))
        return int(cols.max() - cols.min())

    assert lip_width(OU) < 0.8 * lip_width(E)


def eye_whites(face: StockFace, frame: np.ndarray) -> int:
    return sum(int(white(crop(frame, face.regions[k])).sum()) for k in ("eye_left", "eye_right"))


def test_a_blink_closes_both_eyes(face):
    open_ = render(face)
    closed = render(face, blink=1.0)
    half = render(face, blink=0.5)
    assert eye_whites(face, open_) > 100
    assert eye_whites(face, closed) == 0
    assert 0 < eye_whites(face, half) < eye_whites(face, open_)
    # The iris is hidden too: no iris-brown pixels left in the eye boxes.
    for key in ("eye_left", "eye_right"):
        e_open, e_shut = crop(open_, face.regions[key]), crop(closed, face.regions[key])
        assert iris(e_open).sum() > 50 and iris(e_shut).sum() == 0


def test_blinks_from_the_rig_change_the_eye_region_only_while_blinking(face):
    blink = np.zeros(6, np.float32)
    blink[3] = 1.0
    base = PoseTrack.still(6, 30)
    pose = PoseTrack(**{**{n: getattr(base, n) for n in base.channels()}, "fps": 30,
                        "blink": blink})
    whites = [eye_whites(face, f.copy()) for f in face.frames(pose)]
    assert whites[0] == whites[1] == whites[2] == whites[4] > 100
    assert whites[3] == 0


def pupil_centre(face: StockFace, frame: np.ndarray, key: str) -> np.ndarray:
    """Mean (x, y) in px of the pupil's near-black pixels in an eye's box."""
    ys, xs = np.nonzero(crop(frame, face.regions[key]).max(axis=-1) < 30)
    return np.array([xs.mean(), ys.mean()])


def test_the_pupils_follow_the_gaze_and_stay_inside_the_eyes(face):
    ahead = render(face)
    right, left = render(face, gaze_x=0.5), render(face, gaze_x=-0.5)
    down, up = render(face, gaze_y=0.5), render(face, gaze_y=-0.5)
    for key in ("eye_left", "eye_right"):
        centre = pupil_centre(face, ahead, key)
        assert pupil_centre(face, right, key)[0] > centre[0] + 4
        assert pupil_centre(face, left, key)[0] < centre[0] - 4
        assert pupil_centre(face, down, key)[1] > centre[1] + 1.5
        assert pupil_centre(face, up, key)[1] < centre[1] - 1.5
    # Only the eyes change, and the whites stay white around the turned iris.
    changed = np.abs(right.astype(int) - ahead).max(axis=-1) > 0
    for key in ("eye_left", "eye_right"):
        ex0, ey0, ex1, ey1 = face.regions[key]
        changed[ey0:ey1, ex0:ex1] = False
    assert not changed.any()
    assert eye_whites(face, right) > 0.8 * eye_whites(face, ahead)
    # However far the gaze, the iris stays inside the eye and a blink still hides it.
    for gaze in ({"gaze_x": 1.0, "gaze_y": 1.0}, {"gaze_x": -1.0, "gaze_y": -1.0}):
        shut = render(face, blink=1.0, **gaze)
        assert all(iris(crop(shut, face.regions[k])).sum() == 0
                   for k in ("eye_left", "eye_right"))
        assert np.array_equal(shut, render(face, blink=1.0))


def mouth_corner_lift_px(face: StockFace, frame: np.ndarray) -> float:
    """How far the mouth's corners sit above its middle (negative: below), in px."""
    m = lips(crop(frame, face.regions["mouth"]))
    cols = np.flatnonzero(m.any(axis=0))
    left, right = cols.min(), cols.max()
    span = right - left
    ys, xs = np.nonzero(m)

    def mean_y(x0: float, x1: float) -> float:
        sel = (xs >= x0) & (xs <= x1)
        return float(ys[sel].mean())

    corners = (mean_y(left, left + 0.1 * span) + mean_y(right - 0.1 * span, right)) / 2
    middle = mean_y(left + 0.45 * span, left + 0.55 * span)
    return middle - corners


def inner_brow_y(face: StockFace, frame: np.ndarray) -> float:
    """Mean height (px) of the brow pixels nearest the middle of the face."""
    box = face.regions["brow_right"]
    b = crop(frame, box).max(axis=-1) < 110
    cols = np.flatnonzero(b.any(axis=0))
    inner = b[:, cols.min():cols.min() + max(3, (cols.max() - cols.min()) // 6)]
    return float(np.nonzero(inner)[0].mean())


def test_joy_and_sadness_change_mouth_corners_and_brows(face):
    neutral = render(face)
    joy = render(face, smile=0.95, brow_raise=0.2, eye_squint=0.4)
    sad = render(face, mouth_corner_down=0.75, brow_inner_up=0.85, lid_droop=0.45)
    angry = render(face, brow_furrow=0.95, eye_squint=0.35)
    assert mouth_corner_lift_px(face, joy) > mouth_corner_lift_px(face, neutral) + 3
    assert mouth_corner_lift_px(face, sad) < mouth_corner_lift_px(face, neutral) - 3
    assert inner_brow_y(face, sad) < inner_brow_y(face, neutral) - 3      # inner ends up
    assert inner_brow_y(face, angry) > inner_brow_y(face, neutral) + 3    # and down


def test_frames_change_only_inside_the_head_region(face):
    a = render(face, **AA, smile=1.0, head_dx=0.02, head_roll_deg=1.5)
    b = render(face, blink=1.0, head_dy=-0.02)
    x0, y0, x1, y1 = face.regions["head"]
    outside = np.ones(a.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(a[outside], b[outside])
    assert not np.array_equal(a[~outside], b[~outside])


def test_head_motion_moves_the_head_by_the_pose_offset(face):
    head_px = 0.5 * 720

    def eyes_centroid(frame: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = face.regions["head"]
        ys, xs = np.nonzero(dark(frame[y0:y1, x0:x1].astype(int)))
        return np.array([xs.mean(), ys.mean()])

    still = eyes_centroid(render(face))
    moved = eyes_centroid(render(face, head_dx=0.02, head_dy=-0.01))
    np.testing.assert_allclose(moved - still, [0.02 * head_px, -0.01 * head_px], atol=0.6)


def test_frames_yields_one_reused_buffer_per_pose_frame(face):
    pose = PoseTrack.still(5, 30, jaw_open=0.4)
    frames = list(face.frames(pose))
    assert len(frames) == 5
    assert all(f is frames[0] for f in frames)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="at least 64"):
        StockFace(32, 720)
    with pytest.raises(TypeError, match="PoseTrack"):
        next(StockFace(128, 128).frames({"jaw_open": [0.5]}))


def test_each_stock_look_is_its_own_avatar():
    from tasks.render.raster import LOOKS

    assert {"aura", "ben", "cleo"} <= set(LOOKS)
    frames = {name: render(StockFace(360, 640, look), **AA) for name, look in LOOKS.items()}
    for name, look in LOOKS.items():
        face = StockFace(360, 640, look)
        x0, y0, x1, y1 = face.regions["eye_left"]
        cheek = frames[name][y1 + (y1 - y0), (x0 + x1) // 2].astype(int)
        assert np.abs(cheek - np.array(look.skin)).max() < 40, name
    assert not np.array_equal(frames["aura"], frames["ben"])
    assert not np.array_equal(frames["ben"], frames["cleo"])
