"""Specifications of the MP4 encoder (PyAV: H.264 High + AAC-LC, faststart)."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from tasks.render.encode import QUEUE_FRAMES, EncodeResult, encode_mp4
from tests.support.media import top_level_boxes

FPS = 30
W, H = 160, 96


def tone(path: Path, seconds: float, rate_hz: int = 22050, channels: int = 1) -> Path:
    t = np.arange(int(round(seconds * rate_hz))) / rate_hz
    wave = (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
    sf.write(path, np.stack([wave] * channels, axis=1) if channels > 1 else wave, rate_hz)
    return path


def moving_frames(n: int, width: int = W, height: int = H) -> Iterator[np.ndarray]:
    """A bar sliding over a gradient; one reused buffer, like the rasteriser's."""
    base = np.zeros((height, width, 3), np.uint8)
    base[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    base[..., 2] = 128
    frame = base.copy()
    for i in range(n):
        np.copyto(frame, base)
        x = (i * 3) % (width - 10)
        frame[:, x:x + 10] = 255
        yield frame


def decoded_audio_s(path: Path) -> float:
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        return sum(f.samples for f in c.decode(stream)) / stream.codec_context.sample_rate


def test_writes_an_h264_aac_mp4_with_faststart(tmp_path):
    audio = tone(tmp_path / "voice.wav", 1.5)
    out = tmp_path / "video.mp4"
    n = 45
    result = encode_mp4(moving_frames(n), n_frames=n, fps=FPS, audio_path=audio, out_path=out)
    assert result == EncodeResult(n_frames=n, duration_s=1.5, width=W, height=H,
                                  size_bytes=out.stat().st_size)
    with av.open(str(out)) as c:
        assert len(c.streams.video) == 1 and len(c.streams.audio) == 1
        v, a = c.streams.video[0], c.streams.audio[0]
        assert v.codec_context.name == "h264"
        assert v.codec_context.profile == "High"
        assert v.codec_context.pix_fmt == "yuv420p"
        assert (v.codec_context.width, v.codec_context.height) == (W, H)
        assert v.average_rate == Fraction(FPS)
        assert v.frames == n
        assert a.codec_context.name == "aac"
        assert a.codec_context.profile == "LC"
        assert a.codec_context.sample_rate == 48000
        assert a.codec_context.layout.nb_channels == 2
        video_s = float(v.duration * v.time_base)
        audio_s = float(a.duration * a.time_base)
    assert video_s == pytest.approx(1.5, abs=0.1)
    assert audio_s == pytest.approx(1.5, abs=0.1)
    assert abs(video_s - audio_s) < 0.1
    assert decoded_audio_s(out) == pytest.approx(1.5, abs=0.1)
    kinds = top_level_boxes(out)
    assert kinds[0] == "ftyp"
    assert kinds.index("moov") < kinds.index("mdat")  # faststart


@pytest.mark.parametrize("audio_s", [0.4, 4.0])
def test_audio_is_padded_or_trimmed_to_the_video(tmp_path, audio_s):
    audio = tone(tmp_path / "voice.wav", audio_s, rate_hz=16000)
    out = tmp_path / "video.mp4"
    encode_mp4(moving_frames(45), n_frames=45, fps=FPS, audio_path=audio, out_path=out)
    assert decoded_audio_s(out) == pytest.approx(1.5, abs=1 / FPS + 0.02)


def test_stereo_audio_at_another_rate_is_accepted(tmp_path):
    audio = tone(tmp_path / "voice.wav", 1.0, rate_hz=44100, channels=2)
    out = tmp_path / "video.mp4"
    encode_mp4(moving_frames(30), n_frames=30, fps=FPS, audio_path=audio, out_path=out,
               audio_sample_rate_hz=48000)
    assert decoded_audio_s(out) == pytest.approx(1.0, abs=0.05)


def test_a_keyframe_every_two_seconds(tmp_path):
    audio = tone(tmp_path / "voice.wav", 5.0)
    out = tmp_path / "video.mp4"
    encode_mp4(moving_frames(150), n_frames=150, fps=FPS, audio_path=audio, out_path=out,
               preset="ultrafast")
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        keys = sorted(float(p.pts * v.time_base) for p in c.demux(v)
                      if p.is_keyframe and p.pts is not None)
    assert keys == pytest.approx([0.0, 2.0, 4.0])


def test_each_frame_is_the_one_yielded_at_that_time(tmp_path):
    """The producer reuses one buffer; the video must still show every frame's content."""

    def ramp(n: int) -> Iterator[np.ndarray]:
        buf = np.zeros((H, W, 3), np.uint8)
        for i in range(n):
            buf[:] = 10 + 8 * i
            yield buf

    audio = tone(tmp_path / "voice.wav", 1.0)
    out = tmp_path / "video.mp4"
    encode_mp4(ramp(30), n_frames=30, fps=FPS, audio_path=audio, out_path=out, crf=10)
    with av.open(str(out)) as c:
        means = [f.to_ndarray(format="rgb24").mean() for f in c.decode(video=0)]
    np.testing.assert_allclose(means, 10 + 8 * np.arange(30), atol=3)


def test_the_drawing_thread_stays_a_few_frames_ahead(tmp_path):
    drawn = 0
    ahead: list[int] = []

    def counted(n: int) -> Iterator[np.ndarray]:
        nonlocal drawn
        for frame in moving_frames(n):
            drawn += 1
            yield frame

    def progress(done: int, total: int) -> None:
        ahead.append(drawn - done)

    audio = tone(tmp_path / "voice.wav", 3.0)
    encode_mp4(counted(90), n_frames=90, fps=FPS, audio_path=audio,
               out_path=tmp_path / "v.mp4", on_progress=progress)
    assert max(ahead) <= QUEUE_FRAMES + 2


def test_progress_is_reported_after_every_frame(tmp_path):
    calls: list[tuple[int, int]] = []
    audio = tone(tmp_path / "voice.wav", 2.0)
    encode_mp4(moving_frames(60), n_frames=60, fps=FPS, audio_path=audio,
               out_path=tmp_path / "v.mp4", preset="ultrafast",
               on_progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 60) for i in range(1, 61)]


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def test_a_failing_producer_raises_and_leaves_no_file(tmp_path):
    def broken(n: int) -> Iterator[np.ndarray]:
        for i, frame in enumerate(moving_frames(n)):
            if i == 20:
                raise RuntimeError("the rasteriser broke")
            yield frame

    audio = tone(tmp_path / "voice.wav", 2.0)
    out = tmp_path / "video.mp4"
    with pytest.raises(RuntimeError, match="the rasteriser broke"):
        encode_mp4(broken(60), n_frames=60, fps=FPS, audio_path=audio, out_path=out)
    assert not out.exists()
    assert leftovers(tmp_path, {"voice.wav"}) == []


def test_a_failure_keeps_an_existing_output_untouched(tmp_path):
    audio = tone(tmp_path / "voice.wav", 2.0)
    out = tmp_path / "video.mp4"
    out.write_bytes(b"the previous render")
    with pytest.raises(ValueError, match="frames ended after 10"):
        encode_mp4(moving_frames(10), n_frames=60, fps=FPS, audio_path=audio, out_path=out)
    assert out.read_bytes() == b"the previous render"
    assert leftovers(tmp_path, {"voice.wav", "video.mp4"}) == []


@pytest.mark.parametrize(
    ("kwargs", "frames", "message"),
    [
        ({"fps": 0}, None, "fps"),
        ({"n_frames": 0}, None, "n_frames"),
        ({"crf": 60}, None, "crf"),
        ({"preset": "warp9"}, None, "preset"),
        ({"audio_path": Path("/nonexistent/voice.wav")}, None, "audio file not found"),
        ({}, lambda: moving_frames(10, width=161), "even"),
        ({}, lambda: iter([np.zeros((H, W), np.uint8)] * 10), "uint8 RGB24"),
        ({}, lambda: iter([np.zeros((H, W, 3), np.float32)] * 10), "uint8 RGB24"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(tmp_path, kwargs, frames, message):
    args = {
        "n_frames": 10, "fps": FPS, "audio_path": tone(tmp_path / "voice.wav", 0.5),
        "out_path": tmp_path / "video.mp4", **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        encode_mp4(frames() if frames else moving_frames(10), **args)
    assert not (tmp_path / "video.mp4").exists()
    assert leftovers(tmp_path, {"voice.wav"}) == []


def test_an_unreadable_audio_file_is_rejected(tmp_path):
    bad = tmp_path / "voice.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(ValueError, match="cannot read audio file"):
        encode_mp4(moving_frames(10), n_frames=10, fps=FPS, audio_path=bad,
                   out_path=tmp_path / "video.mp4")
