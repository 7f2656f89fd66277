"""Serve every deployment from one process (no work pool needed).

    python -m deployments.serve     (or: make serve)

Starts a runner for the deployments below against the Prefect API in PREFECT_API_URL
(start one with `prefect server start`; its UI is then at http://127.0.0.1:4200). At
scale, `prefect deploy --all` reads prefect.yaml instead and workers pick up the runs.
"""

from __future__ import annotations

import asyncio

from prefect import serve

from flows.reconstruct_avatar import reconstruct_avatar
from flows.script_to_video import script_to_video
from flows.trickster import trickster
from models.schema import upgrade_database


def deployments() -> list:
    return [script_to_video.to_deployment(name="default", tags=["aurastudio"]),
            trickster.to_deployment(name="default", tags=["aurastudio", "voice"]),
            reconstruct_avatar.to_deployment(name="default", tags=["aurastudio", "avatar"])]


def main() -> None:
    asyncio.run(upgrade_database())
    serve(*deployments())


if __name__ == "__main__":
    main()
