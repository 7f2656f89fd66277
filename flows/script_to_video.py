"""The main flow: a script becomes a published MP4 through six or seven retryable tasks.

tag_emotions -> synthesize_voice -> align_lipsync -> render_video [-> sync_lips]
-> upload_video -> notify

``sync_lips`` runs only with ``AURA_LIPSYNC=synclabs``: Sync Labs redoes the mouth of the
rendered video (tasks/lipsync/resync.py). Its settings are checked before the first step.

An export_jobs row follows the run (queued -> running -> completed | failed) with the
progress, the current step and, per step, its seconds and whether it reused an artifact.
Operators see the same in the Prefect UI (tasks/publish/report.py): a progress artifact
that moves after every step and during the render, and a markdown report at the end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.exceptions import TerminationSignal
from prefect.runtime import flow_run
from pydantic import BaseModel

from core.db import session_scope
from core.errors import AuraError
from core.settings import Settings, get_settings
from models import jobs
from models.domain import PublishedVideo, RenderSpec
from models.jobs import JobStateError
from tasks.emotion import tag_emotions
from tasks.lipsync import align_lipsync, sync_lips
from tasks.lipsync.resync import check_ready as check_sync_labs_ready
from tasks.publish import notify, upload_video
from tasks.publish.notify import (
    report_cancelled,
    report_failed,
    report_running,
    report_step,
)
from tasks.publish.report import (
    RenderProgress,
    completed_report,
    failed_report,
    publish_report,
)
from tasks.render import render_video
from tasks.voice import synthesize_voice
from tasks.voice.catalogue import choose_voice

T = TypeVar("T")

STEP_SHARE: dict[str, float] = {
    "tag_emotions": 0.02,
    "synthesize_voice": 0.25,
    "align_lipsync": 0.03,
    "render_video": 0.60,
    "sync_lips": 0.30,
    "upload_video": 0.08,
    "notify": 0.02,
}
"""Every step in pipeline order, with the part of a job's time it takes, for the progress
figure. A job's progress adds up the shares of the steps it runs, divided by their sum:
the steps every job runs sum to 1, and a Sync Labs job scales them down to make room."""

OPTIONAL_STEPS: dict[str, Callable[[Settings], bool]] = {
    "sync_lips": lambda settings: settings.lipsync == "synclabs",
}
"""Steps that only some jobs run, and whether the settings call for them."""

STEPS = tuple(step for step in STEP_SHARE if step not in OPTIONAL_STEPS)
"""The steps every job runs, in order."""


def job_steps(settings: Settings) -> tuple[str, ...]:
    """The steps a job runs under ``settings``, in order."""
    return tuple(step for step in STEP_SHARE
                 if step not in OPTIONAL_STEPS or OPTIONAL_STEPS[step](settings))


class StepReport(BaseModel):
    seconds: float
    reused: bool = False


class ScriptToVideoResult(BaseModel):
    job_id: UUID
    video: PublishedVideo
    duration_s: float
    width: int
    height: int
    steps: dict[str, StepReport]


class _JobSteps:
    """Runs a job's steps in order, timing each and recording it on the job row and on
    the job's progress artifact."""

    def __init__(self, job_id: UUID, steps: tuple[str, ...], artifact: RenderProgress):
        self.job_id = job_id
        self.artifact = artifact
        self.reports: dict[str, StepReport] = {}
        self.progress = 0.0
        self.running: str | None = None
        """The step under way, None between steps (for the failure report)."""
        total = sum(STEP_SHARE[step] for step in steps)
        self._share = {step: STEP_SHARE[step] / total for step in steps}

    async def run(self, step: str, work: Awaitable[T], *, record: bool = True) -> T:
        self.running = step
        self.artifact.begin_step(step, self.progress,
                                 min(1.0, self.progress + self._share[step]))
        started = time.perf_counter()
        result = await work
        report = StepReport(seconds=round(time.perf_counter() - started, 3),
                            reused=bool(getattr(result, "reused", False)))
        self.reports[step] = report
        self.progress = min(1.0, self.progress + self._share[step])
        self.running = None
        if record:
            await report_step(self.job_id, step, progress=round(self.progress, 4),
                              info=report.model_dump())
        await self.artifact.reach(self.progress, f"Job {self.job_id}: {step} done "
                                  f"({len(self.reports)} of {len(self._share)} steps)")
        return result


def describe_failure(exc: BaseException) -> str:
    """A message for the job row: ours are written for people; others get their type."""
    if isinstance(exc, AuraError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def create_export_job(spec: RenderSpec, user_id: UUID | None = None,
                            project_id: UUID | None = None) -> UUID:
    """A queued export_jobs row for a render request; returns its id."""
    async with session_scope() as session:
        job = await jobs.create_job(session, spec=spec.model_dump(mode="json"),
                                    user_id=user_id, project_id=project_id)
        return job.id


@flow(name="script-to-video", log_prints=True)
async def script_to_video(script: str, spec: RenderSpec | None = None,
                          job_id: UUID | None = None,
                          user_id: UUID | None = None, voice: str | None = None,
                          effect: str | None = None) -> ScriptToVideoResult:
    """Render a script to a published MP4.

    Args:
        script: the script text, in AuraStudio's markup.
        spec: aspect, resolution, fps and avatar of the video.
        job_id: an export_jobs row made by the caller (queued); a new one if omitted.
        user_id: the owner, for realtime topics (None for local command-line renders).
        voice: a voice from the catalogue, or ``recording:KEY`` for a stored recording;
            None for the default voice.
        effect: a trickster preset applied on top of the voice.
    """
    run_started_s = time.perf_counter()
    settings = get_settings()
    spec = spec or RenderSpec(fps=settings.video.fps)
    logger = get_run_logger()
    planned = job_steps(settings)
    if job_id is None:
        job_id = await create_export_job(spec, user_id)
    run_id = flow_run.get_id()
    await report_running(job_id, UUID(run_id) if run_id else None)
    artifact = await RenderProgress.start(job_id)
    steps = _JobSteps(job_id, planned, artifact)
    try:
        with artifact.current():
            if "sync_lips" in planned:
                check_sync_labs_ready(settings)
            segments = await steps.run("tag_emotions", tag_emotions(script))
            choice = None
            if voice or effect:
                async with session_scope() as session:
                    choice = await choose_voice(session, voice, effect, user_id)
            track = await steps.run("synthesize_voice", synthesize_voice(segments, choice))
            visemes = await steps.run("align_lipsync", align_lipsync(track, spec.fps))
            video = await steps.run("render_video", render_video(
                segments, track, visemes, spec, job_id=job_id, user_id=user_id))
            if "sync_lips" in planned:
                video = await steps.run("sync_lips", sync_lips(video, track))
            published = await steps.run("upload_video", upload_video(video, job_id))
            await steps.run("notify", notify(job_id, published), record=False)
    except BaseException as exc:
        reason = describe_failure(exc)
        cancelled = isinstance(exc, asyncio.CancelledError | TerminationSignal)
        if cancelled:  # the runner stops a cancelled run's process with SIGTERM
            reason = "the render was cancelled"
        try:
            await (report_cancelled(job_id, reason) if cancelled
                   else report_failed(job_id, reason))
        except JobStateError:
            pass  # it ended already: cancelled through the API, say
        except Exception:  # the original failure matters more than the bookkeeping
            logger.exception("Could not mark job %s as failed", job_id)
        await publish_report(job_id, failed_report(job_id=job_id, step=steps.running,
                                                   reason=reason, steps=steps.reports),
                             description=f"Job {job_id} failed"
                             + (f" in {steps.running}" if steps.running else ""))
        raise
    finally:
        await artifact.settle()
    logger.info("Job %s: %.2f s video at %s", job_id, video.duration_s, published.url)
    await publish_report(job_id, completed_report(
        job_id=job_id, spec=spec, voice=voice or f"{track.voice} (default)", effect=effect,
        audio_duration_s=track.duration_s, video=video, published=published,
        steps=steps.reports, run_s=time.perf_counter() - run_started_s),
        description=f"Job {job_id}: {video.duration_s:.1f} s video, {spec.avatar}")
    return ScriptToVideoResult(job_id=job_id, video=published, duration_s=video.duration_s,
                               width=video.width, height=video.height, steps=steps.reports)
