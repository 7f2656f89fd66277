"""Fault drill 2 of Operations: a cloud that refuses some calls, and one that refuses for good.

The cloud is OpenAI's Chat Completions API (``AURA_EMOTION=openai``: tag_emotions asks the
model through the openai SDK, whose own retries are off), stood in for on a loopback
socket. Twenty exports run at once, in-process, while the stand-in answers three calls in
ten with 429 or 503: Prefect's retries finish every one. A 401 fails the job at its first
attempt, with a reason a person can act on.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import TaskRun
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

import flows.script_to_video as pipeline
from core.db import session_scope
from core.errors import PermanentError
from core.settings import RetrySettings, get_settings
from flows.script_to_video import create_export_job, script_to_video
from models import jobs
from models.domain import RenderSpec
from models.schema import upgrade_database
from tasks.emotion import tag_emotions
from tasks.policy import task_options
from tests.support.openai import Flaky, api_error, numbered

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.drill]

API_KEY = "sk-test-drill-0123456789abcdef"
SPEC = RenderSpec(aspect="1:1", quality="draft")
EXPORTS = 20
REFUSED_SHARE = 0.3
SEED = 21
"""With this seed the stand-in refuses 9 calls of 29, and one export meets four refusals in
a row: the whole of the default retry budget."""
PREFECT_CLIENT_RETRIES = 8
"""The test Prefect server keeps its state in SQLite, which answers a burst of 20 flow runs
starting at once with 503s (SQLITE_BUSY) for up to a minute on a busy machine; its client
retries those, with backoff, but by default only 5 times (about 60 s). Production runs
Prefect on PostgreSQL (README, Scaling out)."""


async def use_flaky_openai(configure, monkeypatch, openai_loopback, **values: str) -> None:
    """Tag emotions with OpenAI's stand-in, under the retry policy ``values`` configure."""
    configure(EMOTION="openai", OPENAI__API_KEY=API_KEY,
              OPENAI__BASE_URL=f"http://127.0.0.1:{openai_loopback.server_port}/v1", **values)
    await upgrade_database()
    # tag_emotions took its policy from the settings when it was imported (the test suite's,
    # without backoff); the drill runs it under the policy configured here.
    policy = task_options()
    monkeypatch.setattr(pipeline, "tag_emotions", tag_emotions.with_options(
        retries=policy["retries"], retry_delay_seconds=policy["retry_delay_seconds"],
        retry_jitter_factor=policy["retry_jitter_factor"],
        retry_condition_fn=policy["retry_condition_fn"]))


async def tagging_of(job) -> TaskRun:  # noqa: ANN001 (an ExportJob row)
    """The tag_emotions task run of a job's flow run."""
    async with get_client() as client:
        runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[job.flow_run_id])))
    [run] = [run for run in runs if run.name.startswith("tag_emotions")]
    return run


async def test_twenty_exports_complete_while_the_cloud_refuses_three_calls_in_ten(
        configure, monkeypatch, openai_loopback):
    await use_flaky_openai(configure, monkeypatch, openai_loopback,
                           RETRY__BACKOFF_FACTOR_S="0.05", RETRY__JITTER_FACTOR="0")
    assert get_settings().retry.retries == RetrySettings().retries == 4  # production's count
    cloud = Flaky(REFUSED_SHARE, seed=SEED)
    openai_loopback.reply = cloud
    # A script each: artifacts are content-addressed, so equal scripts would share a tagging.
    scripts = [f"Take number {i}." for i in range(EXPORTS)]
    job_ids = [await create_export_job(SPEC) for _ in scripts]

    with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: PREFECT_CLIENT_RETRIES}):
        outcomes = await asyncio.gather(
            *(script_to_video(script, SPEC, job_id=job_id)
              for script, job_id in zip(scripts, job_ids, strict=True)),
            return_exceptions=True)

    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    async with session_scope() as session:
        rows = [await jobs.get_job(session, job_id) for job_id in job_ids]
    assert [row.status for row in rows] == ["completed"] * EXPORTS
    assert all(row.video_key and row.error is None for row in rows)
    # The stand-in refused about three calls in ten, both ways, and each refusal was
    # followed by another call, until every script was tagged once.
    assert set(cloud.refusals) == {429, 503}
    assert 0.2 <= len(cloud.refusals) / cloud.calls <= 0.4
    assert cloud.calls == len(openai_loopback.requests) == EXPORTS + len(cloud.refusals)
    # Prefect made those calls: one tag_emotions attempt per call, the last one good.
    calls = Counter(numbered(request)[1] for request in openai_loopback.requests)
    attempts = {script: (await tagging_of(row)).run_count
                for script, row in zip(scripts, rows, strict=True)}
    assert attempts == dict(calls)
    assert max(attempts.values()) == 1 + RetrySettings().retries


async def test_a_401_fails_the_job_in_one_attempt_with_a_readable_reason(
        configure, monkeypatch, openai_loopback):
    await use_flaky_openai(configure, monkeypatch, openai_loopback)
    openai_loopback.reply = lambda request: api_error(
        401, f"Incorrect API key provided: {API_KEY[:8]}{'*' * 16}{API_KEY[-4:]}. You can "
        "find your API key at https://platform.openai.com/account/api-keys.",
        "invalid_request_error", "invalid_api_key")
    job_id = await create_export_job(SPEC)

    with pytest.raises(PermanentError, match="rejected the API key"):
        await script_to_video("Take number one.", SPEC, job_id=job_id)

    async with session_scope() as session:
        job = await jobs.get_job(session, job_id)
    assert job.status == "failed"
    assert job.error == "openai: OpenAI rejected the API key (401); check AURA_OPENAI__API_KEY"
    assert job.video_key is None and job.steps == {}
    assert len(openai_loopback.requests) == 1
    tagging = await tagging_of(job)
    assert tagging.run_count == 1 and tagging.state.is_failed()
