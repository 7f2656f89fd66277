"""Encode: a stream of RGB24 frames plus a voice track -> a social-ready MP4, with PyAV.

Video is H.264 (libx264, High profile, yuv420p, BT.709 limited range, closed GOPs with a
keyframe every 2 s); audio is AAC-LC, 48 kHz stereo by default; the ``moov`` atom is
moved to the front (``movflags=+faststart``) so players can start before the download
ends.

Frames are streamed, never collected: a producer thread pulls frames from the caller's
iterable (that is where drawing happens), converts each to a yuv420p ``av.VideoFrame`` and
hands it over through a small bounded queue; the calling thread encodes and muxes. The
draw of the next frame thus overlaps the encode of the previous one (libx264 runs its own
threads too). The file is written under a temporary name next to ``out_path`` and renamed
at the end, so a failure never leaves a half-written ``out_path``.
"""

from __future__ import annotations

import os
import queue
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import soundfile as sf
from av.video.reformatter import ColorRange, Colorspace

GOP_S = 2
"""Seconds between keyframes."""
QUEUE_FRAMES = 4
"""Frames that may wait between the drawing thread and the encoder."""
AUDIO_FRAME_SAMPLES = 1024
"""Samples per AAC frame."""
X264_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
    "veryslow", "placebo",
)
_AVCOL_BT709 = 1  # AVCOL_PRI_BT709 = AVCOL_TRC_BT709 = AVCOL_SPC_BT709
_AVCOL_RANGE_MPEG = 1


@dataclass(frozen=True)
class EncodeResult:
    """What :func:`encode_mp4` wrote: frame count, duration (s), size (px) and bytes."""

    n_frames: int
    duration_s: float
    width: int
    height: int
    size_bytes: int


def encode_mp4(
    frames: Iterable[np.ndarray],
    *,
    n_frames: int,
    fps: int,
    audio_path: Path,
    out_path: Path,
    preset: str = "veryfast",
    crf: int = 20,
    audio_sample_rate_hz: int = 48000,
    audio_bitrate_bps: int = 128000,
    on_progress: Callable[[int, int], None] | None = None,
) -> EncodeResult:
    """Encode ``n_frames`` frames and the audio file into an MP4 at ``out_path``.

    Args:
        frames: RGB24 frames, each a ``(height, width, 3)`` uint8 array; width and height
            must be even (yuv420p). Iterated in a separate thread; each frame is copied
            before the next is requested, so an iterator may reuse one buffer. Exactly
            ``n_frames`` are taken; fewer is an error.
        n_frames: number of video frames; the video lasts ``n_frames / fps`` seconds.
        fps: frames per second.
        audio_path: the voice track (any format and sample rate ``soundfile`` reads, mono
            or stereo). It is resampled, then padded with silence or trimmed to the
            video's duration.
        out_path: the MP4 to write (its folder is created if needed; an existing file is
            replaced only when the new one is complete).
        preset, crf: libx264 speed preset and constant rate factor (0..51, lower is
            better quality).
        audio_sample_rate_hz, audio_bitrate_bps: AAC sample rate and bit rate.
        on_progress: called as ``on_progress(frames_done, n_frames)`` from the calling
            thread after every encoded frame (keep it cheap, or throttle it yourself).

    Returns:
        An :class:`EncodeResult`.

    Raises:
        ValueError: a bad argument or frame (the message names it).
        Whatever ``frames`` raises, unchanged; nothing is left at ``out_path`` then.
    """
    audio_path, out_path = Path(audio_path), Path(out_path)
    _validate(n_frames, fps, audio_path, preset, crf, audio_sample_rate_hz, audio_bitrate_bps)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex[:12]}.part")
    producer = _FrameProducer(frames, n_frames)
    producer.start()
    container = None
    try:
        first = producer.get()
        width, height = first.width, first.height
        container = av.open(str(tmp_path), mode="w", format="mp4",
                            container_options={"movflags": "+faststart"})
        video = _add_video_stream(container, width, height, fps, preset, crf)
        audio = container.add_stream("aac", rate=audio_sample_rate_hz)
        audio.layout = "stereo"
        audio.bit_rate = audio_bitrate_bps
        target_samples = round(n_frames * audio_sample_rate_hz / fps)
        audio_frames = _audio_frames(audio_path, audio_sample_rate_hz, target_samples)
        audio_done = 0
        frame = first
        for i in range(n_frames):
            if i > 0:
                frame = producer.get()
            frame.pts = i
            container.mux(video.encode(frame))
            # Keep the audio level with the video so the muxer can interleave.
            video_end = (i + 1) * audio_sample_rate_hz // fps
            while audio_done < video_end:
                chunk = next(audio_frames, None)
                if chunk is None:
                    break
                audio_done += chunk.samples
                container.mux(audio.encode(chunk))
            if on_progress is not None:
                on_progress(i + 1, n_frames)
        container.mux(video.encode(None))
        for chunk in audio_frames:
            container.mux(audio.encode(chunk))
        container.mux(audio.encode(None))
        container.close()
        container = None
        os.replace(tmp_path, out_path)
    except BaseException:
        producer.stop()
        if container is not None:
            try:
                container.close()
            except Exception:  # noqa: BLE001 - the original error is the one to report
                pass
        tmp_path.unlink(missing_ok=True)
        raise
    finally:
        producer.stop()
        producer.join()
    return EncodeResult(
        n_frames=n_frames,
        duration_s=n_frames / fps,
        width=width,
        height=height,
        size_bytes=out_path.stat().st_size,
    )


def _validate(n_frames: int, fps: int, audio_path: Path, preset: str, crf: int,
              audio_sample_rate_hz: int, audio_bitrate_bps: int) -> None:
    def positive_int(name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")

    positive_int("n_frames", n_frames)
    positive_int("fps", fps)
    positive_int("audio_sample_rate_hz", audio_sample_rate_hz)
    positive_int("audio_bitrate_bps", audio_bitrate_bps)
    if preset not in X264_PRESETS:
        raise ValueError(f"preset must be one of {X264_PRESETS}, got {preset!r}")
    if isinstance(crf, bool) or not isinstance(crf, int | np.integer) or not 0 <= crf <= 51:
        raise ValueError(f"crf must be an integer in 0..51, got {crf!r}")
    if not audio_path.is_file():
        raise ValueError(f"audio file not found: {audio_path}")
    try:
        sf.info(str(audio_path))
    except Exception as e:  # soundfile raises its own error types
        raise ValueError(f"cannot read audio file {audio_path}: {e}") from e


def _add_video_stream(container: Any, width: int, height: int, fps: int, preset: str,
                      crf: int) -> Any:
    gop = GOP_S * fps
    video = container.add_stream("libx264", rate=fps)
    video.width, video.height = width, height
    video.pix_fmt = "yuv420p"
    cc = video.codec_context
    cc.time_base = Fraction(1, fps)
    cc.gop_size = gop
    cc.color_primaries = cc.color_trc = cc.colorspace = _AVCOL_BT709
    cc.color_range = _AVCOL_RANGE_MPEG
    video.options = {
        "preset": preset,
        "crf": str(int(crf)),
        "profile": "high",
        # Fixed 2 s GOPs: no scene-cut keyframes, and closed so each GOP decodes alone.
        "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0",
    }
    return video


def _audio_frames(path: Path, rate_hz: int, target_samples: int) -> Iterator[av.AudioFrame]:
    """The audio file as stereo fltp frames at ``rate_hz``, exactly ``target_samples`` long.

    Reads the file block by block, resamples with ``av.AudioResampler``, trims what runs
    past ``target_samples`` and pads a short file with silence.
    """
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate_hz,
                                  frame_size=AUDIO_FRAME_SAMPLES)
    done = 0

    def emit(frames: list[av.AudioFrame]) -> Iterator[av.AudioFrame]:
        nonlocal done
        for f in frames:
            if done >= target_samples:
                return
            keep = min(f.samples, target_samples - done)
            data = f.to_ndarray()[:, :keep]
            yield _stereo_frame(data, rate_hz, done)
            done += keep

    with sf.SoundFile(str(path)) as src:
        src_rate = src.samplerate
        read = 0
        for block in src.blocks(blocksize=src_rate, dtype="float32", always_2d=True):
            if done >= target_samples:
                break
            if block.shape[1] > 2:
                block = block.mean(axis=1, keepdims=True)
            layout = "mono" if block.shape[1] == 1 else "stereo"
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block.T), format="fltp",
                                               layout=layout)
            frame.sample_rate = src_rate
            frame.pts = read
            frame.time_base = Fraction(1, src_rate)
            read += block.shape[0]
            yield from emit(resampler.resample(frame))
    yield from emit(resampler.resample(None))
    while done < target_samples:
        n = min(AUDIO_FRAME_SAMPLES, target_samples - done)
        yield _stereo_frame(np.zeros((2, n), np.float32), rate_hz, done)
        done += n


def _stereo_frame(data: np.ndarray, rate_hz: int, pts: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data, dtype=np.float32),
                                       format="fltp", layout="stereo")
    frame.sample_rate = rate_hz
    frame.pts = pts
    frame.time_base = Fraction(1, rate_hz)
    return frame


class _FrameProducer(threading.Thread):
    """Pulls frames from an iterable in its own thread and queues them as yuv420p frames.

    Errors raised while drawing (or by a bad frame) travel through the queue and are
    re-raised by :meth:`get` in the consumer's thread.
    """

    def __init__(self, frames: Iterable[np.ndarray], n_frames: int):
        super().__init__(name="render-frames", daemon=True)
        self._frames = frames
        self._n_frames = n_frames
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=QUEUE_FRAMES)
        self._stopped = threading.Event()

    def run(self) -> None:
        it = None
        try:
            it = iter(self._frames)
            shape = None
            for i in range(self._n_frames):
                try:
                    arr = next(it)
                except StopIteration:
                    raise ValueError(
                        f"frames ended after {i} frames, expected n_frames={self._n_frames}"
                    ) from None
                shape = _check_frame(arr, i, shape)
                rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
                yuv = rgb.reformat(format="yuv420p", dst_colorspace=Colorspace.ITU709,
                                   dst_color_range=ColorRange.MPEG)
                if not self._put(("frame", yuv)):
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consumer thread
            self._put(("error", e))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self) -> av.VideoFrame:
        kind, value = self._queue.get()
        if kind == "error":
            raise value
        return value

    def stop(self) -> None:
        self._stopped.set()


def _check_frame(arr: Any, index: int, shape: tuple[int, ...] | None) -> tuple[int, ...]:
    if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.ndim != 3 \
            or arr.shape[2] != 3:
        desc = (f"{arr.dtype} array of shape {arr.shape}" if isinstance(arr, np.ndarray)
                else type(arr).__name__)
        raise ValueError(f"frame {index}: expected a (height, width, 3) uint8 RGB24 array, "
                         f"got {desc}")
    if shape is None:
        height, width = arr.shape[:2]
        if width % 2 or height % 2:
            raise ValueError(
                f"frame size {width}×{height} px: width and height must be even for yuv420p"
            )
        return arr.shape
    if arr.shape != shape:
        raise ValueError(f"frame {index} has shape {arr.shape}, frame 0 had {shape}")
    return shape
