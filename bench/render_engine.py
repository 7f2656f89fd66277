"""Benchmark: the render engines alone (rig, raster, encoder), on synthetic visemes.

    .venv/bin/python bench/render_engine.py [--seconds 10] [--fps 30]

For 720×1280 and 1080×1920 it prints frames per second and the ratio to real time (how
many seconds of video one second of wall time makes; above 1 is faster than real time)
for: the rig alone, rig + raster (drawing only), and raster + encode (the whole local
render: drawing in one thread, libx264/AAC encoding in the other, preset veryfast, CRF 20).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
SIZES = ((720, 1280), (1080, 1920))


def synthetic_visemes(n_frames: int, seed: int = 0) -> np.ndarray:
    """Speech-like viseme weights (n_frames, 15): runs of 2-6 frames with soft edges and
    a pause of silence now and then."""
    from tasks.lipsync.visemes import VISEMES

    rng = np.random.default_rng(seed)
    runs = rng.integers(2, 7, n_frames)
    ids = rng.integers(1, len(VISEMES), n_frames)
    ids[rng.random(n_frames) < 0.1] = 0
    idx = np.repeat(ids, runs)[:n_frames]
    w = np.eye(len(VISEMES), dtype=np.float32)[idx]
    # Coarticulation: blend each frame with its neighbours.
    padded = np.pad(w, ((1, 1), (0, 0)), mode="edge")
    return 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=int, default=30)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))

    from tasks.render.encode import encode_mp4
    from tasks.render.raster import StockFace
    from tasks.render.rig import build_pose_track

    fps = args.fps
    n = int(round(args.seconds * fps))
    weights = synthetic_visemes(n)
    spans = [(0.0, args.seconds / 2, "joy", 1.0), (args.seconds / 2, args.seconds, "sadness", 0.7)]

    def report(label: str, seconds: float) -> None:
        rate = n / seconds
        print(f"  {label:<22} {rate:7.1f} frames/s   {rate / fps:5.2f}× real time")

    with tempfile.TemporaryDirectory(prefix="aura-bench-") as tmp:
        audio = Path(tmp) / "voice.wav"
        t = np.arange(int(args.seconds * 22050)) / 22050
        sf.write(audio, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 22050)
        print(f"{n} frames ({args.seconds:g} s at {fps} fps) of synthetic visemes")

        start = time.perf_counter()
        pose = build_pose_track(weights, spans, fps)
        report("rig", time.perf_counter() - start)

        for width, height in SIZES:
            print(f"{width}×{height}")
            start = time.perf_counter()
            face = StockFace(width, height)
            print(f"  {'raster setup':<22} {time.perf_counter() - start:7.2f} s (once per render)")

            start = time.perf_counter()
            pose = build_pose_track(weights, spans, fps)
            for _ in face.frames(pose):
                pass
            report("rig + raster", time.perf_counter() - start)

            start = time.perf_counter()
            result = encode_mp4(face.frames(pose), n_frames=n, fps=fps, audio_path=audio,
                                out_path=Path(tmp) / f"{width}x{height}.mp4")
            report("raster + encode", time.perf_counter() - start)
            print(f"  {'file':<22} {result.size_bytes / 1e6:7.2f} MB "
                  f"({result.size_bytes * 8 / result.duration_s / 1e6:.2f} Mbit/s)")


if __name__ == "__main__":
    main()
