"""Benchmark: render a script end to end through the real flow and print the figures.

    .venv/bin/python bench/render.py [SCRIPT] [--aspect 9:16] [--resolution 720p]
                                     [--photo astronaut|PHOTO]

With ``--photo`` the avatar is made from a photo first (``astronaut``: scikit-image's
public-domain portrait) and the photo renderer animates it; its making is timed apart.

Prints the audio duration, the seconds of every step, the real-time factor (wall seconds
per second of audio; below 1 is faster than real time) and the peak resident memory of
this process. Runs in a fresh data folder so nothing is reused from earlier runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SCRIPT = ROOT.parent / "shared" / "eval" / "scripts" / "minute.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("script", type=Path, nargs="?", default=DEFAULT_SCRIPT)
    parser.add_argument("--aspect", default="9:16", choices=("9:16", "16:9", "1:1"))
    parser.add_argument("--resolution", default="720p", choices=("720p", "1080p", "4k"))
    parser.add_argument("--quality", default="standard", choices=("draft", "standard", "high"))
    parser.add_argument("--photo", help="'astronaut' or a photo file: render a photo avatar")
    args = parser.parse_args()
    if not args.script.is_file():
        sys.exit(f"bench: script {args.script} does not exist")

    home = tempfile.mkdtemp(prefix="aura-bench-")
    os.environ["AURA_HOME"] = home
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))

    from flows.reconstruct_avatar import reconstruct_avatar
    from flows.script_to_video import script_to_video
    from models.domain import RenderSpec
    from models.schema import upgrade_database

    script = args.script.read_text(encoding="utf-8")
    from core.settings import get_settings

    spec = RenderSpec(aspect=args.aspect, resolution=args.resolution,
                      fps=get_settings().video.fps, quality=args.quality)

    async def run():
        await upgrade_database()
        nonlocal spec
        if args.photo:
            started = time.perf_counter()
            created = await reconstruct_avatar(_store_photo(args.photo), "bench")
            print(f"avatar from photo {time.perf_counter() - started:8.2f} s "
                  "(flow: check, reconstruct, store)")
            spec = spec.model_copy(update={"avatar": str(created.avatar_id)})
        started = time.perf_counter()
        result = await script_to_video(script, spec)
        return result, time.perf_counter() - started

    result, wall_s = asyncio.run(run())
    steps_s = sum(step.seconds for step in result.steps.values())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    width, height = spec.size_px
    print(f"script            {args.script.name}")
    print(f"video             {width}x{height} @ {spec.fps} fps, {result.video.size_bytes:,} bytes")
    print(f"audio duration    {result.duration_s:8.2f} s")
    for name, step in result.steps.items():
        share = step.seconds / steps_s if steps_s else 0.0
        print(f"  {name:<16}{step.seconds:8.2f} s  ({share:5.1%}, "
              f"{step.seconds / result.duration_s:.3f} x real time)")
    print(f"flow wall time    {wall_s:8.2f} s  (steps {steps_s:.2f} s, "
          f"Prefect overhead {wall_s - steps_s:.2f} s)")
    print(f"real-time factor  {wall_s / result.duration_s:8.3f}  (wall / audio seconds)")
    print(f"peak memory       {peak_mib:8.1f} MiB  (this process, ru_maxrss)")


def _store_photo(photo: str) -> str:
    from core.storage import get_storage

    if photo == "astronaut":
        import cv2
        from skimage import data

        ok, png = cv2.imencode(".png", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
        payload = png.tobytes()
    else:
        payload = Path(photo).read_bytes()
    key = "uploads/bench/photo"
    get_storage().put_bytes(key, payload, "application/octet-stream")
    return key


if __name__ == "__main__":
    main()
