"""Serve every deployment from one process (no work pool needed).

    python -m deployments.serve     (or: make serve, which aura serve runs)

Starts a runner for the deployments below against the Prefect API in PREFECT_API_URL
(start one with `prefect server start`; its UI is then at http://127.0.0.1:4200), after
making the ``gpu`` concurrency limit (deployments/setup.py). At scale, `prefect deploy
--all` reads prefect.yaml instead, with the same deployment names, and workers pick up
the runs.
"""

from __future__ import annotations

import asyncio

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

from deployments.setup import ensure_gpu_limit, ensure_lost_run_automation
from flows.batch_export import batch_export
from flows.reconstruct_avatar import reconstruct_avatar
from flows.script_to_video import script_to_video
from flows.trickster import trickster
from models.schema import upgrade_database

BATCH_EXPORT_CRON = "*/5 * * * *"
"""When the batch export runs (also in prefect.yaml)."""
ONE_AT_A_TIME = ConcurrencyLimitConfig(limit=1,
                                       collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)
"""A scheduled batch export that finds the last one still going is cancelled."""


def deployments() -> list:
    return [script_to_video.to_deployment(name="render", tags=["aurastudio"]),
            batch_export.to_deployment(name="batch-export", tags=["aurastudio", "batch"],
                                       cron=BATCH_EXPORT_CRON,
                                       concurrency_limit=ONE_AT_A_TIME),
            trickster.to_deployment(name="trickster", tags=["aurastudio", "voice"]),
            reconstruct_avatar.to_deployment(name="reconstruct-avatar",
                                             tags=["aurastudio", "avatar"])]


async def prepare() -> None:
    """What the served flows need before the first run: the database's tables, the
    ``gpu`` concurrency limit and the automation that ends lost runs."""
    await upgrade_database()
    await ensure_gpu_limit()
    await ensure_lost_run_automation()


def main() -> None:
    asyncio.run(prepare())
    serve(*deployments())


if __name__ == "__main__":
    main()
