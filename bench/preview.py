"""Benchmark: the studio's live preview (tasks/render/preview.py) against a full render.

    .venv/bin/python bench/preview.py [SCRIPT] [--avatar stock:aura]

Prints, for one script in a fresh data folder, after a warm-up preview of another text
(models loaded, the face meshed): the seconds until the script's preview is ready (tag,
voice, alignment, rig) and again (all reused), the JSON payload the browser downloads,
and the seconds a 720p video of the same script takes on top (the real flow, reusing the
voice), with the ratios. Defaults to the shared short script.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SCRIPT = ROOT.parent / "shared" / "eval" / "scripts" / "short.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("script", type=Path, nargs="?", default=DEFAULT_SCRIPT)
    parser.add_argument("--avatar", default="stock:aura")
    args = parser.parse_args()
    if not args.script.is_file():
        sys.exit(f"bench: script {args.script} does not exist")
    os.environ["AURA_HOME"] = tempfile.mkdtemp(prefix="aura-bench-")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "ERROR")
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    sys.path.insert(0, str(ROOT))

    from core.settings import get_settings
    from flows.script_to_video import script_to_video
    from models.domain import RenderSpec
    from models.schema import upgrade_database
    from tasks.render.preview import preview_rig

    script = args.script.read_text(encoding="utf-8")
    fps = get_settings().video.fps

    async def run() -> tuple[list[float], int, float, float]:
        await upgrade_database()
        await preview_rig("Warming up.", args.avatar, fps)  # models loaded, face meshed
        ready_s = []
        for _ in range(2):
            started = time.perf_counter()
            rig = await preview_rig(script, args.avatar, fps)
            ready_s.append(time.perf_counter() - started)
        payload_bytes = len(json.dumps(rig.payload(), separators=(",", ":")))
        # The render reuses the voice the preview made: what it adds is the video itself.
        result = await script_to_video(script, RenderSpec(fps=fps, avatar=args.avatar))
        video_s = sum(step.seconds for name, step in result.steps.items()
                      if name not in ("tag_emotions", "synthesize_voice", "align_lipsync"))
        return ready_s, payload_bytes, video_s, result.duration_s

    ready_s, payload_bytes, video_s, audio_s = asyncio.run(run())
    first_s, again_s = ready_s
    print(f"script              {args.script.name} ({audio_s:.2f} s of speech)")
    print(f"preview, new script {first_s:8.2f} s  (tag, voice, alignment, rig; models warm)")
    print(f"preview, again      {again_s:8.2f} s  (all reused)")
    print(f"preview payload     {payload_bytes / 1024:8.1f} KiB JSON "
          f"({payload_bytes / audio_s / 1024:.1f} KiB per second of speech)")
    print(f"video on top        {video_s:8.2f} s  (render, upload, notify: the wait a "
          "preview saves)")
    print(f"ratio               the video is ready {(first_s + video_s) / first_s:.1f}x later "
          f"than the first preview, {(first_s + video_s) / again_s:.0f}x later than a repeat")


if __name__ == "__main__":
    main()
