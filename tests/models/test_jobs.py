"""The export_jobs repository: lifecycle, step reports, failures, refused transitions."""

from __future__ import annotations

import math
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import session_scope
from core.errors import AuraError
from models.domain import JobStatus
from models.jobs import (
    JobNotFoundError,
    JobStateError,
    create_job,
    get_job,
    mark_completed,
    mark_failed,
    mark_running,
    record_step,
)
from models.tables import ExportJob

SPEC = {"script": "[joy] Hello!", "render": {"aspect": "9:16", "fps": 30}}


async def _running_job(session: AsyncSession) -> ExportJob:
    job = await create_job(session, spec=SPEC)
    return await mark_running(session, job.id)


async def test_a_new_job_is_queued_with_nothing_done(session: AsyncSession) -> None:
    user_id = uuid.uuid4()

    job = await create_job(session, spec=SPEC, user_id=user_id)

    assert isinstance(job.id, uuid.UUID)
    assert job.status == JobStatus.queued
    assert job.progress == 0.0
    assert job.steps == {} and job.step is None
    assert job.user_id == user_id and job.spec == SPEC
    assert job.started_at is None and job.finished_at is None


async def test_a_job_runs_reports_its_steps_and_completes(
    session: AsyncSession, database_url: str
) -> None:
    flow_run_id = uuid.uuid4()
    job = await create_job(session, spec=SPEC)
    job_id = job.id
    await session.commit()

    async with session_scope(database_url) as db:
        job = await mark_running(db, job_id, flow_run_id=flow_run_id)
        assert job.status == JobStatus.running and job.started_at is not None
    async with session_scope(database_url) as db:
        await record_step(db, job_id, "tag_emotions", progress=0.1, info={"segments": 3})
    async with session_scope(database_url) as db:
        await record_step(db, job_id, "synthesize_voice", progress=0.4, info={"seconds": 1.2})
    async with session_scope(database_url) as db:
        # A second report of the same step adds to what it said before.
        await record_step(db, job_id, "synthesize_voice", progress=0.45, info={"reused": True})
    async with session_scope(database_url) as db:
        job = await mark_completed(db, job_id, video_key="videos/abc.mp4", url="https://x/abc")

    async with session_scope(database_url) as db:
        job = await get_job(db, job_id)
        assert job.status == JobStatus.completed
        assert job.progress == 1.0
        assert job.flow_run_id == flow_run_id
        assert job.step == "synthesize_voice"
        assert job.steps == {
            "tag_emotions": {"segments": 3},
            "synthesize_voice": {"seconds": 1.2, "reused": True},
        }
        assert (job.video_key, job.url, job.error) == ("videos/abc.mp4", "https://x/abc", None)
        assert job.started_at is not None and job.finished_at is not None
        assert job.started_at <= job.finished_at
        assert job.finished_at.tzinfo is not None


async def test_progress_never_goes_backwards(session: AsyncSession) -> None:
    job = await _running_job(session)

    await record_step(session, job.id, "render_video", progress=0.8)
    await record_step(session, job.id, "align_lipsync", progress=0.5, info={"retried": True})

    assert job.progress == 0.8
    assert job.step == "align_lipsync"
    assert job.steps["align_lipsync"] == {"retried": True}


async def test_a_step_without_info_is_still_listed(session: AsyncSession) -> None:
    job = await _running_job(session)

    await record_step(session, job.id, "upload_video", progress=0.9)

    assert job.steps == {"upload_video": {}}


async def test_a_failed_job_keeps_what_it_had_reached(
    session: AsyncSession, database_url: str
) -> None:
    job = await _running_job(session)
    await record_step(session, job.id, "synthesize_voice", progress=0.4, info={"seconds": 2.0})
    job.video_key = "videos/partial.mp4"  # as if an earlier attempt had published
    await session.commit()

    async with session_scope(database_url) as db:
        await mark_failed(db, job.id, "render_video: the GPU ran out of memory")

    async with session_scope(database_url) as db:
        failed = await get_job(db, job.id)
        assert failed.status == JobStatus.failed
        assert failed.error == "render_video: the GPU ran out of memory"
        assert failed.progress == 0.4
        assert failed.step == "synthesize_voice"
        assert failed.steps == {"synthesize_voice": {"seconds": 2.0}}
        assert failed.video_key == "videos/partial.mp4"
        assert failed.finished_at is not None


async def test_a_queued_job_can_fail_before_it_starts(session: AsyncSession) -> None:
    job = await create_job(session, spec=SPEC)

    await mark_failed(session, job.id, "no worker picked it up")

    assert job.status == JobStatus.failed and job.started_at is None


async def test_a_retried_flow_run_marks_its_running_job_running_again(
    session: AsyncSession,
) -> None:
    job = await _running_job(session)
    started_at = job.started_at
    retry_run_id = uuid.uuid4()

    await mark_running(session, job.id, flow_run_id=retry_run_id)

    assert job.status == JobStatus.running
    assert job.started_at == started_at
    assert job.flow_run_id == retry_run_id


async def test_a_failed_job_runs_again_when_its_own_flow_run_is_retried(
    session: AsyncSession,
) -> None:
    run_id = uuid.uuid4()
    job = await create_job(session, spec=SPEC)
    await mark_running(session, job.id, flow_run_id=run_id)
    await record_step(session, job.id, "synthesize_voice", progress=0.3)
    await mark_failed(session, job.id, "the render failed: out of disk")

    await mark_running(session, job.id, flow_run_id=run_id)  # "Retry" in the Prefect UI

    assert job.status == JobStatus.running
    assert job.error is None and job.finished_at is None
    assert job.progress == 0.3 and "synthesize_voice" in job.steps


async def test_a_failed_job_is_not_reopened_by_another_flow_run(
    session: AsyncSession,
) -> None:
    job = await create_job(session, spec=SPEC)
    await mark_running(session, job.id, flow_run_id=uuid.uuid4())
    await mark_failed(session, job.id, "boom")

    with pytest.raises(JobStateError, match="is failed"):
        await mark_running(session, job.id, flow_run_id=uuid.uuid4())

    assert job.status == JobStatus.failed and job.error == "boom"


async def _completed_job(session: AsyncSession) -> ExportJob:
    job = await _running_job(session)
    return await mark_completed(session, job.id, video_key="v.mp4", url="https://x/v.mp4")


async def _failed_job(session: AsyncSession) -> ExportJob:
    job = await _running_job(session)
    return await mark_failed(session, job.id, "boom")


@pytest.mark.parametrize("make_final", [_completed_job, _failed_job], ids=["completed", "failed"])
@pytest.mark.parametrize(
    "action",
    [
        lambda s, job_id: mark_running(s, job_id),
        lambda s, job_id: record_step(s, job_id, "render_video", progress=0.9),
        lambda s, job_id: mark_completed(s, job_id, video_key="k", url="u"),
        lambda s, job_id: mark_failed(s, job_id, "again"),
    ],
    ids=["mark_running", "record_step", "mark_completed", "mark_failed"],
)
async def test_completed_and_failed_jobs_are_final(session, make_final, action) -> None:
    job = await make_final(session)
    status = job.status

    with pytest.raises(JobStateError, match=f"is {status.value}.*final") as raised:
        await action(session, job.id)

    assert str(job.id) in str(raised.value)
    assert (await get_job(session, job.id)).status == status


async def test_a_queued_job_must_run_before_it_reports_or_completes(
    session: AsyncSession,
) -> None:
    job = await create_job(session, spec=SPEC)

    with pytest.raises(JobStateError, match="is queued.*record step 'render_video'"):
        await record_step(session, job.id, "render_video", progress=0.5)
    with pytest.raises(JobStateError, match="is queued.*completed.*mark it running first"):
        await mark_completed(session, job.id, video_key="k", url="u")

    assert job.status == JobStatus.queued and job.progress == 0.0


async def test_a_missing_job_is_reported_by_its_id(session: AsyncSession) -> None:
    missing = uuid.uuid4()

    for call in (
        get_job(session, missing),
        mark_running(session, missing),
        record_step(session, missing, "tag_emotions", progress=0.1),
        mark_completed(session, missing, video_key="k", url="u"),
        mark_failed(session, missing, "boom"),
    ):
        with pytest.raises(JobNotFoundError, match=str(missing)) as raised:
            await call
        assert isinstance(raised.value, AuraError)
        assert raised.value.job_id == missing


async def test_a_malformed_job_id_is_not_found(session: AsyncSession) -> None:
    with pytest.raises(JobNotFoundError, match="'not-a-uuid'.*not a valid job id"):
        await get_job(session, "not-a-uuid")


async def test_a_job_id_may_be_given_as_text(session: AsyncSession) -> None:
    job = await create_job(session, spec=SPEC)

    assert await get_job(session, str(job.id)) is job


@pytest.mark.parametrize("progress", [-0.1, 1.5, math.nan, math.inf])
async def test_progress_outside_zero_to_one_is_refused(
    session: AsyncSession, progress: float
) -> None:
    job = await _running_job(session)

    with pytest.raises(ValueError, match=f"progress must be a number from 0 to 1, got {progress}"):
        await record_step(session, job.id, "render_video", progress=progress)

    assert job.progress == 0.0


@pytest.mark.parametrize("step", ["", "x" * 65])
async def test_a_step_name_must_be_short_and_not_empty(session: AsyncSession, step: str) -> None:
    job = await _running_job(session)

    with pytest.raises(ValueError, match="step name must be 1 to 64 characters"):
        await record_step(session, job.id, step, progress=0.5)


async def test_completing_needs_the_video(session: AsyncSession) -> None:
    job = await _running_job(session)

    with pytest.raises(ValueError, match="video_key"):
        await mark_completed(session, job.id, video_key="", url="https://x/v.mp4")

    assert job.status == JobStatus.running
