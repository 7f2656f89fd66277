"""Reading back what AuraStudio wrote: MP4 streams, durations, box order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av


@dataclass(frozen=True)
class Mp4Facts:
    video_codec: str
    pixel_format: str
    width: int
    height: int
    fps: float
    video_duration_s: float
    n_video_frames: int
    audio_codec: str
    audio_sample_rate_hz: int
    audio_channels: int
    audio_duration_s: float
    moov_before_mdat: bool


def top_level_boxes(path: Path) -> list[str]:
    """Names of the MP4's top-level boxes, in file order (``moov`` before ``mdat``: faststart)."""
    names = []
    with path.open("rb") as f:
        while len(header := f.read(8)) == 8:
            size = int.from_bytes(header[:4], "big")
            names.append(header[4:8].decode("latin-1"))
            if size == 0:  # the box runs to the end of the file
                break
            if size == 1:  # a 64-bit size follows the name
                size = int.from_bytes(f.read(8), "big") - 8
            f.seek(size - 8, 1)
    return names


def probe_mp4(path: Path) -> Mp4Facts:
    """Decode the whole file and report its streams (durations from decoded content)."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        fps = float(video.average_rate)
        n_frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(path)) as container:
        n_samples = sum(frame.samples for frame in container.decode(audio=0))
        audio_stream = container.streams.audio[0]
        rate = audio_stream.codec_context.sample_rate
        # AAC encoders prime the stream with silent samples that players skip.
        priming = max(0, (audio_stream.codec_context.delay or 0))
    boxes = top_level_boxes(path)
    return Mp4Facts(
        video_codec=video.codec_context.name, pixel_format=video.codec_context.pix_fmt,
        width=video.codec_context.width, height=video.codec_context.height, fps=fps,
        video_duration_s=n_frames / fps, n_video_frames=n_frames,
        audio_codec=audio.codec_context.name, audio_sample_rate_hz=rate,
        audio_channels=audio.codec_context.channels,
        audio_duration_s=(n_samples - priming) / rate,
        moov_before_mdat="moov" in boxes and "mdat" in boxes
        and boxes.index("moov") < boxes.index("mdat"),
    )
