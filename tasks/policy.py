"""The operational policy shared by every pipeline task: retries, backoff, jitter.

Only transient failures (rate limits, server errors, timeouts, lost connections) are
retried; everything else fails at once. :func:`core.errors.is_transient` decides.
"""

from __future__ import annotations

from typing import Any

from prefect import Task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.tasks import exponential_backoff

from core.errors import is_transient
from core.settings import get_settings


async def retry_if_transient(task: Task[Any, Any], task_run: TaskRun,
                             state: State[Any]) -> bool:
    """Prefect ``retry_condition_fn``: retry only when the failure was transient.

    Prefect hands over a Failed state whose data is the task's exception (or a stored
    result that resolves to it); async so that it works in sync and async task engines.
    """
    outcome = state.data
    if not isinstance(outcome, BaseException):
        outcome = await state.aresult(raise_on_failure=False)
    return isinstance(outcome, BaseException) and is_transient(outcome)


def task_options(*, timeout_s: float | None = None, tags: tuple[str, ...] = ()) -> dict[str, Any]:
    """Keyword arguments for ``@task``: the retry policy from settings.

    Artifacts are reused through content-addressed storage keys (see tasks.artifacts), so
    Prefect's own result cache is off.
    """
    retry = get_settings().retry
    return {
        "retries": retry.retries,
        "retry_delay_seconds": exponential_backoff(backoff_factor=retry.backoff_factor_s),
        "retry_jitter_factor": retry.jitter_factor,
        "retry_condition_fn": retry_if_transient,
        "cache_policy": NO_CACHE,
        "timeout_seconds": timeout_s,
        "tags": list(tags),
    }
