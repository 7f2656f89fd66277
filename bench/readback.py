"""Read-back: render a script with a photo avatar through the real flow, then find the face
again in every frame with MediaPipe and print the Face issue's figures.

    .venv/bin/python bench/readback.py [SCRIPT] [--photo astronaut|PHOTO] [--resolution 720p]

Prints the share of frames with a face found (goal >= 98%), the correlation of mouth
opening with audio loudness, both band-passed to 2-7 Hz, and its best lag (goal r >= 0.5
within ±1 frame), the share of p/b/m phones with the lips closed at their middle (goal
>= 80%) and blinks per minute (goal 6-30). tests/e2e/test_face_readback.py checks the
same on a short script; this runs the long ones (minute.txt by default: about 10 minutes
on 2 cores, most of it MediaPipe reading 2,000 frames).
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
                        help="'astronaut' (scikit-image's portrait) or a photo file")
    parser.add_argument("--resolution", default="720p", choices=("720p", "1080p"))
    args = parser.parse_args()
    if not args.script.is_file():
        sys.exit(f"bench: script {args.script} does not exist")
    os.environ["AURA_HOME"] = tempfile.mkdtemp(prefix="aura-readback-")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))

    from render import _store_photo

    from core.storage import get_storage
    from flows.reconstruct_avatar import reconstruct_avatar
    from flows.script_to_video import script_to_video
    from models.domain import RenderSpec
    from models.schema import upgrade_database
    from tasks.emotion import tag_emotions
    from tasks.voice import synthesize_voice
    from tests.support.readback import measure

    script = args.script.read_text(encoding="utf-8")

    async def run():
        await upgrade_database()
        created = await reconstruct_avatar(_store_photo(args.photo), "readback")
        spec = RenderSpec(resolution=args.resolution, avatar=str(created.avatar_id))
        result = await script_to_video(script, spec)
        # The same inputs give back the voice the flow made (reused), with its phones.
        track = await synthesize_voice(await tag_emotions(script), None)
        return result, track

    started = time.perf_counter()
    result, track = asyncio.run(run())
    render_s = time.perf_counter() - started
    with get_storage().local_path(result.video.key) as video:
        started = time.perf_counter()
        figures = measure(video, track.phones)
        read_s = time.perf_counter() - started
    print(f"script            {args.script.name} ({result.duration_s:.1f} s of speech, "
          f"{result.width}x{result.height})")
    print(f"render / read     {render_s:.1f} s / {read_s:.1f} s")
    print(f"face found        {figures.found_share:8.1%}   (goal >= 98%)")
    print(f"mouth ~ loudness  r = {figures.mouth_loudness_r:.3f} at lag "
          f"{figures.mouth_lag_frames:+d} frames   (goal r >= 0.5, |lag| <= 1)")
    print(f"lips closed p/b/m {figures.closed_share:8.1%}   of {figures.closures} "
          "(goal >= 80%)")
    print(f"blinks            {figures.blinks_per_minute:8.1f} per minute   (goal 6-30)")


if __name__ == "__main__":
    main()
