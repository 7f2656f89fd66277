"""Read-back: render a script with a photo avatar through the real flow, then find the face
again in every frame, with dlib's 68-point predictor (independent of the renderer) and
with MediaPipe, and print the photo-avatar issue's figures.

    .venv/bin/python bench/readback.py [SCRIPT] [--photo NAME|PHOTO] [--out DIR]
                                       [--resolution 720p] [--no-mediapipe]

NAME is a portrait of tests/support/portraits.py (astronaut, obama, pinkman, ...; `make
portraits` fetches those that come from source distributions) or a photo file. The video,
its mouth contact sheet (PNG: the 12 widest openings and 6 pause frames, cut around dlib's
mouth points) and the figures go to DIR (a new temporary folder by default).

dlib's figures and goals: face found >= 99% of frames; opening (inner-lip gap over inner
mouth width) against loudness, both band-passed to 2-7 Hz, r >= 0.6 at a best lag within
±1 frame; opening p90 while speaking >= 0.35 (a real speaker: p50 0.20, p90 0.61); lips
closed in >= 95% of pause frames and at >= 90% of p/b/m; 8-30 blinks a minute; no pixel
outside the head changing. MediaPipe's are printed beside them (the rig is built from
MediaPipe's mesh, so it reads its own geometry back and is easily fooled).
tests/e2e/test_face_readback.py checks the same on short scripts; this runs the long ones
(minute.txt by default: a few minutes on 2 cores, most of it reading 1,800 frames back).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SCRIPT = ROOT.parent / "shared" / "eval" / "scripts" / "minute.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("script", type=Path, nargs="?", default=DEFAULT_SCRIPT)
    parser.add_argument("--photo", default="astronaut",
                        help="a portrait's name (tests/support/portraits.py) or a photo file")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the video, its contact sheet and the figures")
    parser.add_argument("--resolution", default="720p", choices=("720p", "1080p"))
    parser.add_argument("--no-mediapipe", action="store_true",
                        help="read back with dlib only (saves a few minutes)")
    args = parser.parse_args()
    if not args.script.is_file():
        sys.exit(f"bench: script {args.script} does not exist")
    out = args.out or Path(tempfile.mkdtemp(prefix="aura-readback-out-"))
    out.mkdir(parents=True, exist_ok=True)
    os.environ["AURA_HOME"] = tempfile.mkdtemp(prefix="aura-readback-")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))

    from core.storage import get_storage
    from flows.reconstruct_avatar import reconstruct_avatar
    from flows.script_to_video import script_to_video
    from models.domain import RenderSpec
    from models.schema import upgrade_database
    from tasks.emotion import tag_emotions
    from tasks.voice import synthesize_voice
    from tests.support.contact_sheet import mouth_contact_sheet
    from tests.support.dlib_face import read_face_68
    from tests.support.portraits import PORTRAITS
    from tests.support.readback import measure, measure_68

    if args.photo in PORTRAITS:
        photo_bytes = PORTRAITS[args.photo].png()
    elif Path(args.photo).is_file():
        photo_bytes = Path(args.photo).read_bytes()
    else:
        sys.exit(f"bench: --photo {args.photo} is neither a portrait "
                 f"({', '.join(PORTRAITS)}) nor a file")
    photo_key = "uploads/bench/photo"
    get_storage().put_bytes(photo_key, photo_bytes, "application/octet-stream")
    script = args.script.read_text(encoding="utf-8")

    async def run():
        await upgrade_database()
        created = await reconstruct_avatar(photo_key, "readback")
        spec = RenderSpec(resolution=args.resolution, avatar=str(created.avatar_id))
        result = await script_to_video(script, spec)
        # The same inputs give back the voice the flow made (reused), with its phones.
        track = await synthesize_voice(await tag_emotions(script), None)
        return result, track

    started = time.perf_counter()
    result, track = asyncio.run(run())
    render_s = time.perf_counter() - started
    video = out / "readback.mp4"
    video.write_bytes(get_storage().get_bytes(result.video.key))
    started = time.perf_counter()
    reading = read_face_68(video)
    figures = measure_68(video, track, reading)
    read_s = time.perf_counter() - started
    sheet = mouth_contact_sheet(video, reading.points,
                                {"widest": figures.widest, "pauses": figures.pauses},
                                out / "readback.mouths.png", reading.mouth_opening)
    lines = [f"script            {args.script.name} ({result.duration_s:.1f} s of speech, "
             f"{result.width}x{result.height}), photo {args.photo}",
             f"render / read     {render_s:.1f} s / {read_s:.1f} s (dlib)",
             "dlib 68 points (independent of the renderer):",
             *(f"  {line}" for line in figures.lines())]
    if not args.no_mediapipe:
        mp = measure(video, track.phones)
        lines += ["MediaPipe (the rig's own landmarks):",
                  f"  face found        {mp.found_share:8.1%}",
                  f"  mouth ~ loudness  r = {mp.mouth_loudness_r:.3f} at lag "
                  f"{mp.mouth_lag_frames:+d} frames",
                  f"  lips closed p/b/m {mp.closed_share:8.1%}   of {mp.closures}",
                  f"  blinks            {mp.blinks_per_minute:8.1f} per minute"]
    lines += [f"video             {video}", f"contact sheet     {sheet}"]
    (out / "readback.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))

if __name__ == "__main__":
    main()
