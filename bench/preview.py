"""Benchmark: the studio's live preview (tasks/render/preview.py) against a full render.

    .venv/bin/python bench/preview.py [SCRIPT] [--avatar stock:aura]

Prints, for one script in a fresh data folder: the seconds until a preview is ready the
first time (tag, voice, alignment, the stock face meshed) and again (all reused), the
JSON payload the browser downloads, and the seconds of a full 720p render of the same
script through the real flow, with the ratios. Defaults to the shared short script.
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

    async def run() -> tuple[list[float], int, float, float, float]:
        await upgrade_database()
        ready_s = []
        for _ in range(2):
            started = time.perf_counter()
            rig = await preview_rig(script, args.avatar, fps)
            ready_s.append(time.perf_counter() - started)
        payload_bytes = len(json.dumps(rig.payload(), separators=(",", ":")))
        started = time.perf_counter()
        result = await script_to_video(script, RenderSpec(
            fps=fps, avatar=args.avatar))
        # The render reuses the preview's voice; time the render step alone as well.
        return ready_s, payload_bytes, time.perf_counter() - started, \
            result.steps["render_video"].seconds, result.duration_s

    ready_s, payload_bytes, render_flow_s, render_step_s, audio_s = asyncio.run(run())
    print(f"script              {args.script.name} ({audio_s:.2f} s of speech)")
    print(f"preview, first      {ready_s[0]:8.2f} s  (tag, voice, alignment, face mesh)")
    print(f"preview, again      {ready_s[1]:8.2f} s  (all reused)")
    print(f"preview payload     {payload_bytes / 1024:8.1f} KiB JSON "
          f"({payload_bytes / audio_s / 1024:.1f} KiB per second of speech)")
    print(f"full render flow    {render_flow_s:8.2f} s  (voice reused; render step "
          f"{render_step_s:.2f} s)")
    print(f"ratio               first preview is {render_flow_s / ready_s[0]:.1f}x faster "
          f"than waiting for the render; a repeat {render_flow_s / ready_s[1]:.0f}x")


if __name__ == "__main__":
    main()
