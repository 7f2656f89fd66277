"""The ``gpu`` concurrency limit in tests (a pytest plugin, registered in conftest.py).

- ``one_gpu_slot``: the limit exists on the test's Prefect API with a single slot, so a
  render waits while anything else holds it; deleted afterwards (without it, renders
  are not limited at all).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest


@pytest.fixture
async def one_gpu_slot(prefect_api) -> AsyncIterator[None]:  # noqa: ANN001
    from prefect.client.orchestration import get_client

    from deployments.setup import ensure_gpu_limit
    from tasks.render import GPU_LIMIT

    await ensure_gpu_limit(1)
    yield
    async with get_client() as client:
        await client.delete_global_concurrency_limit_by_name(GPU_LIMIT)
