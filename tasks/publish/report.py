"""Telling operators about a render in the Prefect UI: a progress artifact while it runs,
and a markdown report when it ends.

The progress artifact (key :func:`progress_key`) moves after every step and, inside a
step that reports its own progress (render_video's frames), in between. The report
(key :func:`report_key`) says what was made, how long each step took and where the video
is, or which step failed and why. Both keys are derived from the export job's id, so the
UI's Artifacts page lists a job's latest report under one name whatever run made it.

This is bookkeeping: nothing here may fail a render. When the Prefect API refuses an
artifact, a warning is logged and the render carries on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol
from uuid import UUID

from prefect import get_run_logger
from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    aupdate_progress_artifact,
)
from prefect.exceptions import MissingContextError

from models.domain import PublishedVideo, RenderSpec, VideoArtifact

PART_WAY_INTERVAL_S = 1.0
"""Least wall time between two part-way updates of the progress artifact, in seconds:
each is a call to the Prefect API, and a render reports every frame."""

RunLogger = logging.Logger | logging.LoggerAdapter[logging.Logger]

_module_logger = logging.getLogger(__name__)


def progress_key(job_id: UUID) -> str:
    """The progress artifact's key (Prefect keys allow lowercase letters, digits, dashes:
    a UUID's text is all three)."""
    return f"render-progress-{job_id}"


def report_key(job_id: UUID) -> str:
    """The key of the report published when a job ends, completed or failed."""
    return f"render-report-{job_id}"


class StepFigures(Protocol):
    """What the report needs of a finished step (the flow's ``StepReport``)."""

    seconds: float
    reused: bool


def completed_report(*, job_id: UUID, spec: RenderSpec, voice: str, effect: str | None,
                     audio_duration_s: float, video: VideoArtifact, published: PublishedVideo,
                     steps: Mapping[str, StepFigures], run_s: float) -> str:
    """The markdown report of a completed render.

    Args:
        job_id: the export job.
        spec: what was asked for (avatar, aspect, resolution, fps).
        voice: the voice that spoke, as the user would name it (``joe (default)``).
        effect: the trickster preset on top of the voice, None for none.
        audio_duration_s: length of the voice track, in seconds.
        video: the rendered video (its size and length).
        published: where the video was published.
        steps: seconds and artifact reuse of every step, in pipeline order.
        run_s: wall time of the whole run, in seconds (steps plus bookkeeping).
    """
    lines = [
        f"# Render {job_id}",
        "",
        f"- **Video:** [{_plain(published.key)}]({published.url}) "
        f"({published.size_bytes / 1_000_000:.2f} MB)",
        f"- **Avatar:** {_plain(spec.avatar)}",
        f"- **Voice:** {_plain(voice)}",
        f"- **Effect:** {_plain(effect) if effect else 'none'}",
        f"- **Picture:** {spec.aspect}, {spec.resolution} ({video.width}x{video.height} px), "
        f"{video.fps} fps, {video.n_frames} frames",
        f"- **Duration:** audio {audio_duration_s:.2f} s, video {video.duration_s:.2f} s",
        f"- **Run time:** {run_s:.2f} s",
        "",
        *_steps_table(steps),
    ]
    return "\n".join(lines) + "\n"


def failed_report(*, job_id: UUID, step: str | None, reason: str,
                  steps: Mapping[str, StepFigures]) -> str:
    """The markdown report of a failed render.

    Args:
        job_id: the export job.
        step: the step that was running when it failed; None if none was (checking the
            settings before the first step, choosing the voice between two).
        reason: why, as the job row says it (``describe_failure``).
        steps: the steps that finished before the failure, in pipeline order.
    """
    if step:
        where = f"in step **{step}**"
    elif steps:
        where = f"after step **{list(steps)[-1]}**"
    else:
        where = "before the first step"
    lines = [f"# Render {job_id} failed", "", f"Failed {where}:", "",
             *(f"> {line}" for line in reason.splitlines() or [""]), ""]
    lines += _steps_table(steps) if steps else ["No step had finished."]
    return "\n".join(lines) + "\n"


def _steps_table(steps: Mapping[str, StepFigures]) -> list[str]:
    rows = [f"| {step} | {figures.seconds:.2f} | {'yes' if figures.reused else 'no'} |"
            for step, figures in steps.items()]
    total_s = sum(figures.seconds for figures in steps.values())
    return ["| step | seconds | reused |", "|---|---:|---|", *rows,
            f"| **all steps** | **{total_s:.2f}** | |"]


def _plain(text: str) -> str:
    """``text`` safe inside a markdown table or link label (no pipes, brackets, lines)."""
    return " ".join(text.split()).replace("|", "\\|").replace("[", "\\[").replace("]", "\\]")


async def publish_report(job_id: UUID, markdown: str, description: str) -> None:
    """Publish ``markdown`` as the job's report artifact; a refusal is only logged."""
    try:
        await acreate_markdown_artifact(markdown, key=report_key(job_id),
                                        description=description)
    except Exception:  # the render's outcome stands whatever the Prefect API says
        _run_logger().warning("Could not publish the report of job %s", job_id,
                              exc_info=True)


class RenderProgress:
    """A job's Prefect progress artifact, in percent.

    The flow sets it after each step (:meth:`reach`) and opens a window for the step it
    starts (:meth:`begin_step`); inside that window the step reports how far it has got
    (:meth:`part_way`), from any thread. Updates never go backwards: they are sent one
    at a time and a value below the last one sent is dropped, so a part-way update that
    arrives late cannot undo a later step.
    """

    def __init__(self, job_id: UUID, artifact_id: UUID | None,
                 loop: asyncio.AbstractEventLoop, logger: RunLogger):
        self.job_id = job_id
        self.artifact_id = artifact_id
        self._loop = loop
        self._logger = logger
        self._sending = asyncio.Lock()
        self._sent_percent = 0.0
        self._window = (0.0, 0.0)
        self._step = ""
        self._throttle = threading.Lock()
        self._last_part_way_s = float("-inf")
        self._in_flight: set[concurrent.futures.Future[None]] = set()

    @classmethod
    async def start(cls, job_id: UUID) -> RenderProgress:
        """Create the job's progress artifact at 0 %; if the Prefect API refuses, the
        returned object does nothing."""
        logger = _run_logger()
        artifact_id = None
        try:
            artifact_id = await acreate_progress_artifact(
                0.0, key=progress_key(job_id), description=f"Job {job_id}: starting")
        except Exception:  # a render without a progress bar is still a render
            logger.warning("Could not create the progress artifact of job %s", job_id,
                           exc_info=True)
        return cls(job_id, artifact_id, asyncio.get_running_loop(), logger)

    @contextmanager
    def current(self) -> Iterator[RenderProgress]:
        """Make this the :func:`current_progress` of the code run inside the block (and
        of the tasks and threads it starts, which copy the context)."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)

    def begin_step(self, step: str, start: float, end: float) -> None:
        """``step`` runs now and takes the job from ``start`` to ``end`` (fractions 0..1)."""
        self._step = step
        self._window = (start, end)

    async def reach(self, fraction: float, description: str) -> None:
        """Set the artifact to ``fraction`` (0..1) of the job, now."""
        await self._send(fraction * 100, description)

    def part_way(self, done: int, total: int, unit: str = "frames") -> None:
        """The current step has done ``done`` of ``total`` ``unit``.

        Safe to call from any thread and as often as work happens: at most one update per
        :data:`PART_WAY_INTERVAL_S` is sent, without waiting for it.
        """
        if self.artifact_id is None or total <= 0:
            return
        now_s = time.monotonic()
        with self._throttle:
            if now_s - self._last_part_way_s < PART_WAY_INTERVAL_S:
                return
            self._last_part_way_s = now_s
        start, end = self._window
        percent = (start + (end - start) * min(done, total) / total) * 100
        description = f"Job {self.job_id}: {self._step}, {done} of {total} {unit}"
        try:
            future = asyncio.run_coroutine_threadsafe(self._send(percent, description),
                                                      self._loop)
        except RuntimeError:  # the flow's event loop is gone: nobody is watching
            return
        with self._throttle:
            self._in_flight.add(future)
        future.add_done_callback(self._landed)

    async def settle(self) -> None:
        """Wait for the part-way updates still on their way."""
        with self._throttle:
            in_flight = list(self._in_flight)
        if in_flight:
            await asyncio.gather(*(asyncio.wrap_future(f) for f in in_flight),
                                 return_exceptions=True)

    def _landed(self, future: concurrent.futures.Future[None]) -> None:
        with self._throttle:
            self._in_flight.discard(future)

    async def _send(self, percent: float, description: str) -> None:
        if self.artifact_id is None:
            return
        percent = round(min(100.0, max(0.0, percent)), 1)
        async with self._sending:
            if percent < self._sent_percent:
                return
            try:
                await aupdate_progress_artifact(self.artifact_id, percent,
                                                description=description)
            except Exception:  # progress is for watching; the render goes on
                self._logger.warning("Could not update the progress artifact of job %s "
                                     "to %.1f %%", self.job_id, percent, exc_info=True)
                return
            self._sent_percent = percent


_current: ContextVar[RenderProgress | None] = ContextVar("aura_render_progress",
                                                          default=None)


def current_progress() -> RenderProgress | None:
    """The progress artifact of the job this code runs for, if a flow started one.

    Tasks read it to report progress inside their step; it is None when a task runs
    outside the script-to-video flow.
    """
    return _current.get()


def _run_logger() -> RunLogger:
    try:
        return get_run_logger()
    except MissingContextError:
        return _module_logger
