"""What a render shows in the Prefect UI: a progress artifact, a report at the end and task
runs named after what they work on (tasks/publish/report.py, flows/script_to_video.py)."""

from __future__ import annotations

import asyncio
import logging
import re
from uuid import UUID, uuid4

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
)

import tasks.publish.report as report
from core.db import session_scope
from core.errors import InputError
from flows.script_to_video import (
    STEP_SHARE,
    STEPS,
    StepReport,
    create_export_job,
    script_to_video,
)
from models import jobs
from models.domain import PublishedVideo, RenderSpec, VideoArtifact
from models.schema import upgrade_database
from tasks.publish.report import (
    RenderProgress,
    completed_report,
    failed_report,
    progress_key,
    report_key,
)

SCRIPT = "[joy] Hi there! This is a test.\n[pause 0.3]\nThe mouth should move."
JOB_ID = UUID("0b9a3c1e-5d2f-4f7a-9c1b-2e8d7f6a5b4c")


def percent_before(step: str) -> float:
    """Where the progress artifact stands when ``step`` starts, for a job of STEPS."""
    return 100 * sum(STEP_SHARE[s] for s in STEPS[:STEPS.index(step)])


async def artifacts(key: str, flow_run_id: UUID | None = None):
    """Every artifact under ``key`` (of one flow run, if given), newest first."""
    runs = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])) if flow_run_id else None
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            flow_run_filter=runs)
    return sorted(found, key=lambda a: a.created, reverse=True)


async def flow_run_of(job_id: UUID) -> UUID:
    async with session_scope() as session:
        job = await jobs.get_job(session, job_id)
    return job.flow_run_id


# The report, as a pure function of what a run made


def test_the_report_of_a_completed_render_says_what_was_made_and_where_the_time_went():
    spec = RenderSpec(aspect="1:1", resolution="1080p", fps=25, avatar="stock:aura")
    video = VideoArtifact(key="render/abc.mp4", width=1080, height=1080, fps=25,
                          n_frames=81, duration_s=3.24)
    published = PublishedVideo(key=f"published/{JOB_ID}.mp4", size_bytes=2_500_000,
                               url=f"https://bucket.example/published/{JOB_ID}.mp4?sig=1")
    steps = {"tag_emotions": StepReport(seconds=0.012), "synthesize_voice":
             StepReport(seconds=1.5, reused=True), "render_video": StepReport(seconds=4.2)}

    markdown = completed_report(job_id=JOB_ID, spec=spec, voice="joe-deep", effect="bright",
                                audio_duration_s=3.21, video=video, published=published,
                                steps=steps, run_s=6.05)

    assert markdown.startswith(f"# Render {JOB_ID}\n")
    assert (f"[published/{JOB_ID}.mp4](https://bucket.example/published/{JOB_ID}.mp4?sig=1)"
            " (2.50 MB)") in markdown
    assert "- **Avatar:** stock:aura\n" in markdown
    assert "- **Voice:** joe-deep\n- **Effect:** bright\n" in markdown
    assert "1:1, 1080p (1080x1080 px), 25 fps, 81 frames" in markdown
    assert "audio 3.21 s, video 3.24 s" in markdown
    assert "- **Run time:** 6.05 s" in markdown
    table = markdown[markdown.index("| step |"):].splitlines()
    assert table == ["| step | seconds | reused |", "|---|---:|---|",
                     "| tag_emotions | 0.01 | no |", "| synthesize_voice | 1.50 | yes |",
                     "| render_video | 4.20 | no |", "| **all steps** | **5.71** | |"]


def test_a_report_without_an_effect_says_none_and_names_cannot_break_its_markdown():
    markdown = completed_report(
        job_id=JOB_ID, spec=RenderSpec(avatar="stock:aura"), voice="my | [voice]",
        effect=None, audio_duration_s=1.0,
        video=VideoArtifact(key="v", width=720, height=1280, fps=30, n_frames=30,
                            duration_s=1.0),
        published=PublishedVideo(key="published/x.mp4", url="file:///x.mp4", size_bytes=1),
        steps={}, run_s=1.0)
    assert "- **Voice:** my \\| \\[voice\\]\n- **Effect:** none\n" in markdown
    assert "| **all steps** | **0.00** | |" in markdown


def test_the_report_of_a_failed_render_says_where_it_failed_and_why():
    done = {"tag_emotions": StepReport(seconds=0.02), "synthesize_voice": StepReport(seconds=2)}

    in_a_step = failed_report(job_id=JOB_ID, step="render_video",
                              reason="avatar 'stock:x' does not exist\nsee the list",
                              steps=done)
    between = failed_report(job_id=JOB_ID, step=None, reason="no voice called 'x'",
                            steps={"tag_emotions": done["tag_emotions"]})
    before = failed_report(job_id=JOB_ID, step=None, reason="set AURA_STORAGE=s3", steps={})

    assert in_a_step.startswith(f"# Render {JOB_ID} failed\n")
    assert ("Failed in step **render_video**:\n\n> avatar 'stock:x' does not exist\n"
            "> see the list\n") in in_a_step
    assert "| synthesize_voice | 2.00 | no |" in in_a_step
    assert "render_video |" not in in_a_step  # it did not finish
    assert "Failed after step **tag_emotions**:\n\n> no voice called 'x'\n" in between
    assert "Failed before the first step:" in before and "No step had finished." in before


# The progress artifact, against the Prefect API


@pytest.mark.usefixtures("prefect_api")
async def test_progress_from_a_worker_thread_moves_the_artifact_within_the_step_once_a_second():
    job_id = uuid4()

    @flow
    async def a_step_that_reports_progress() -> None:
        progress = await RenderProgress.start(job_id)
        progress.begin_step("render_video", 0.3, 0.9)
        await asyncio.to_thread(progress.part_way, 50, 100)
        await asyncio.to_thread(progress.part_way, 99, 100)  # within the second: dropped
        await progress.settle()

    await a_step_that_reports_progress()

    [artifact] = await artifacts(progress_key(job_id))
    assert artifact.type == "progress" and artifact.data == pytest.approx(60.0)
    assert artifact.description == f"Job {job_id}: render_video, 50 of 100 frames"


@pytest.mark.usefixtures("prefect_api")
async def test_progress_never_goes_back_and_a_refused_update_only_logs(caplog):
    job_id = uuid4()

    @flow
    async def steps_out_of_order() -> None:
        progress = await RenderProgress.start(job_id)
        await progress.reach(0.5, "half")
        await progress.reach(0.4, "a late report")
        lost = RenderProgress(job_id, uuid4(), asyncio.get_running_loop(),
                              logging.getLogger("test"))
        await lost.reach(0.7, "an artifact the API does not know")

    caplog.set_level(logging.WARNING)
    await steps_out_of_order()

    [artifact] = await artifacts(progress_key(job_id))
    assert (artifact.data, artifact.description) == (50.0, "half")
    assert f"Could not update the progress artifact of job {job_id} to 70.0 %" in caplog.text


# A real run of the script-to-video flow


@pytest.fixture
async def ready(configure) -> None:
    configure()
    await upgrade_database()


@pytest.mark.usefixtures("prefect_api", "ready")
async def test_a_render_leaves_its_progress_at_100_and_a_report_with_the_video_link(
        monkeypatch):
    sent: list[tuple[float, str | None]] = []
    real_update = report.aupdate_progress_artifact

    async def update_and_remember(artifact_id, progress, description=None, client=None):
        sent.append((progress, description))
        return await real_update(artifact_id, progress, description=description,
                                 client=client)

    monkeypatch.setattr(report, "aupdate_progress_artifact", update_and_remember)

    result = await script_to_video(SCRIPT, RenderSpec(aspect="1:1"))

    flow_run_id = await flow_run_of(result.job_id)
    [progress] = await artifacts(progress_key(result.job_id), flow_run_id)
    assert progress.data == 100.0
    percents = [percent for percent, _ in sent]
    assert percents == sorted(percents) and percents[-1] == 100.0
    # The render moved it between the render step's start and end share.
    start, end = percent_before("render_video"), percent_before("upload_video")
    assert any(start < percent < end and "frames" in (description or "")
               for percent, description in sent)
    [markdown] = await artifacts(report_key(result.job_id), flow_run_id)
    assert markdown.type == "markdown"
    assert f"]({result.video.url})" in markdown.data
    assert "- **Voice:** joe (default)\n- **Effect:** none\n" in markdown.data
    for step, figures in result.steps.items():
        reused = "yes" if figures.reused else "no"
        assert f"| {step} | {figures.seconds:.2f} | {reused} |" in markdown.data


@pytest.mark.usefixtures("prefect_api", "ready")
async def test_task_runs_are_named_after_what_they_work_on():
    result = await script_to_video(SCRIPT, RenderSpec(aspect="1:1", avatar="stock:aura"),
                                   voice="joe-deep")

    async with get_client() as client:
        runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[await flow_run_of(result.job_id)])))
    names = sorted(run.name for run in runs)
    patterns = [r"align_lipsync\[\d+\.\d s at 30 fps\]",
                rf"notify\[job {result.job_id}\]",
                r"render_video\[stock:aura, 720p 1:1, \d+ frames\]",
                r"synthesize_voice\[joe-deep, 4 segments\]",
                rf"tag_emotions\[3 lines, {len(SCRIPT)} chars\]",
                rf"upload_video\[job {result.job_id}\]"]
    assert len(names) == len(patterns)
    for name, pattern in zip(names, patterns, strict=True):
        assert re.fullmatch(pattern, name), name


@pytest.mark.usefixtures("prefect_api", "ready")
async def test_a_failed_render_leaves_a_report_of_the_step_and_the_reason():
    spec = RenderSpec(aspect="1:1", avatar="stock:nobody")
    job_id = await create_export_job(spec)

    with pytest.raises(InputError, match="avatar 'stock:nobody' does not exist"):
        await script_to_video(SCRIPT, spec, job_id=job_id)

    flow_run_id = await flow_run_of(job_id)
    [markdown] = await artifacts(report_key(job_id), flow_run_id)
    assert markdown.description == f"Job {job_id} failed in render_video"
    assert ("Failed in step **render_video**:\n\n> avatar 'stock:nobody' does not exist"
            in markdown.data)
    assert "| align_lipsync |" in markdown.data and "| upload_video |" not in markdown.data
    [progress] = await artifacts(progress_key(job_id), flow_run_id)
    assert progress.data == pytest.approx(percent_before("render_video"))
