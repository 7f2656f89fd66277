"""The photo-avatar issue's read-back: real portraits made to speak a script, then the face
found again in every frame by a tracker the renderer does not use (dlib's 68 points), and
by MediaPipe, and checked for speech that looks like speech.

With dlib (inner-lip gap over inner mouth width, tests/support/readback.py), the issue's
goals, on a script of 20 s (bench/readback.py measures minute.txt):
- a face is found in at least 99% of the frames;
- the opening follows the loudness (both band-passed to 2-7 Hz): r >= 0.6 at a best lag
  within one frame (on this short script: 0.55, see R_ON_THIS_SCRIPT);
- while speaking the opening's 90th percentile is at least 0.35 (a real speaker's is
  about 0.6; the photo avatars read 0.09-0.17 before this issue);
- the lips are closed in at least 95% of the pause frames and at 90% of the p/b/m;
- 8 to 30 blinks a minute;
- nothing changes far from the head: no block, halo or seam in the rest of the picture.

The portraits (tests/support/portraits.py): a woman and a man, frontal, each with her or
his own teeth in the photo, a woman with closed lips and glasses, a man turned aside.
Where a figure still misses its goal on one of them, the test says so (a strict xfail
with the figure it reads).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.dlib_face import read_face_68
from tests.support.portraits import PORTRAITS
from tests.support.readback import measure, measure_68, outside_head_changed
from tests.support.speaking import photo_face, speak

SCRIPT = (
    "[joy] Hello everyone, and welcome back to the studio! Today I have something really "
    "exciting to show you.\n"
    "[neutral] We are going to take a plain text script and turn it into a finished video, "
    "with a voice, a face and moving lips.\n"
    "[pause 0.6]\n"
    "Please remember to keep both hands on the rope, because the wind picks up by mid "
    "morning. Maybe bring a map, a pump and a warm blanket, just in case.")


def portrait_or_skip(name: str):
    portrait = PORTRAITS[name]
    if not portrait.available():
        pytest.skip(f"portrait {name} is not fetched ({portrait.package}): run "
                    "`make portraits`")
    return portrait


class Rendered:
    def __init__(self, name: str, out: Path):
        portrait = portrait_or_skip(name)
        self.spoken = speak(photo_face(portrait.png(), name), SCRIPT, out)
        self.video = self.spoken.video
        self.reading = read_face_68(self.video)
        self.figures = measure_68(self.video, self.spoken.voice, self.reading)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Each portrait rendered and read back once for the tests of this module."""
    made: dict[str, Rendered] = {}

    def render(name: str) -> Rendered:
        if name not in made:
            made[name] = Rendered(name, tmp_path_factory.mktemp(name))
        return made[name]

    return render


def known_gap(name: str, reason: str):
    """A portrait on which a figure still misses the issue's goal (strict: the test
    fails once it is met, so the mark is taken off)."""
    return pytest.param(name, marks=pytest.mark.xfail(reason=reason, strict=True))


PORTRAIT_NAMES = ["astronaut", "obama", "grace_hopper", "pinkman"]


@pytest.mark.parametrize("name", PORTRAIT_NAMES)
def test_dlib_finds_the_face_in_every_frame(rendered, name):
    assert rendered(name).figures.found_share >= 0.99, rendered(name).figures


R_ON_THIS_SCRIPT = 0.55
"""The goal is r >= 0.6 on minute.txt (bench/readback.py: 0.63-0.68 on these portraits);
20 s of speech give r a wider spread (0.57-0.63 on these)."""


@pytest.mark.parametrize("name", PORTRAIT_NAMES)
def test_the_opening_follows_the_loudness(rendered, name):
    figures = rendered(name).figures
    assert figures.mouth_loudness_r >= R_ON_THIS_SCRIPT, figures
    assert abs(figures.mouth_lag_frames) <= 1, figures


@pytest.mark.parametrize("name", [
    "astronaut", "obama", "grace_hopper",
    known_gap("pinkman", "p90 0.34 on this script (0.42 on minute.txt)")])
def test_the_openings_are_speech_sized(rendered, name):
    assert rendered(name).figures.opening_p90_speaking >= 0.35, rendered(name).figures


@pytest.mark.parametrize("name", PORTRAIT_NAMES)
def test_the_lips_close_in_pauses_and_on_p_b_m(rendered, name):
    figures = rendered(name).figures
    assert figures.pause_frames >= 20 and figures.closures >= 10
    assert figures.pause_closed_share >= 0.95, figures
    assert figures.closed_share >= 0.9, figures


@pytest.mark.parametrize("name", [
    "astronaut", "obama",
    known_gap("grace_hopper", "her narrowed eyes behind glasses close on screen, but "
              "dlib's eye aspect ratio only dips to 0.7 of open"),
    known_gap("pinkman", "on his turned face the lids do not close far enough")])
def test_the_face_blinks_8_to_30_times_a_minute(rendered, name):
    assert 8 <= rendered(name).figures.blinks_per_minute <= 30, rendered(name).figures


@pytest.mark.parametrize("name", ["astronaut", "pinkman"])
def test_nothing_moves_far_from_the_head(rendered, name):
    video = rendered(name)
    # Beyond a face height around the head (hair, ears, the neck under the chin): still.
    assert outside_head_changed(video.video, video.reading, grow_face_heights=1.0) == 0.0


def test_the_astronaut_read_back_by_mediapipe_speaks_blinks_and_closes_on_p_b_m(rendered):
    video = rendered("astronaut")
    figures = measure(video.video, video.spoken.voice.phones)
    assert figures.found_share >= 0.98
    assert figures.mouth_loudness_r >= 0.5 and abs(figures.mouth_lag_frames) <= 1, figures
    assert figures.closures >= 10
    assert figures.closed_share >= 0.8, np.round(figures.mouth_at_closures, 3)
    assert 6 <= figures.blinks_per_minute <= 30, figures


def _still_video_with(path: Path, *, blinking_block: bool) -> None:
    """A still, finely textured picture for 2 s; with ``blinking_block`` a small square far
    from the face turns light and dark every 10 frames."""
    import av
    import cv2

    rng = np.random.default_rng(7)
    still = cv2.GaussianBlur(rng.integers(0, 255, (480, 320, 3), dtype=np.uint8), (3, 3), 0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 480, "yuv420p"
        for i in range(50):
            frame = still.copy()
            if blinking_block and (i // 10) % 2:
                frame[400:430, 250:280] = 255
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


@pytest.mark.parametrize("blinking_block, changed", [(False, False), (True, True)])
def test_the_outside_measure_sees_a_block_that_moves_beside_the_head(tmp_path, blinking_block,
                                                                     changed):
    from tests.support.dlib_face import Reading68

    video = tmp_path / "still.mp4"
    _still_video_with(video, blinking_block=blinking_block)
    angles = np.linspace(np.pi / 2, np.pi / 2 + 2 * np.pi, 68, endpoint=False)
    face = np.stack([160 + 40 * np.cos(angles), 150 + 40 * np.sin(angles)], axis=1)
    face[17:27, 1] = 110  # brows on top, the chin (8) at the bottom
    reading = Reading68(fps=25.0, width=320, height=480, points=np.repeat(face[None], 50, 0))
    share = outside_head_changed(video, reading, grow_face_heights=1.0)
    assert (share > 0) == changed, share
