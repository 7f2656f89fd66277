"""Progress bars on the terminal, one per pipeline step, fed by realtime events."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from core.realtime import Event, bus, export_jobs_topic

STEP_LABELS = {
    "tag_emotions": "Emotions",
    "synthesize_voice": "Voice",
    "align_lipsync": "Lip sync",
    "render_video": "Render",
    "sync_lips": "Sync Labs",
    "upload_video": "Upload",
    "notify": "Notify",
}


class StepProgress:
    """Shows a bar per step for one job while the block runs (does nothing when disabled)."""

    def __init__(self, job_id: UUID, *, enabled: bool, user_id: UUID | None = None):
        self.job_id = str(job_id)
        self.enabled = enabled
        self.topic = export_jobs_topic(user_id)
        self._progress = Progress(TextColumn("{task.description:<10}"), BarColumn(),
                                  TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                                  console=Console(stderr=True))
        self._bars: dict[str, TaskID] = {}
        from core.settings import get_settings
        from flows.script_to_video import job_steps

        self._labels = {step: STEP_LABELS[step] for step in job_steps(get_settings())}
        self._unsubscribe = None

    def __enter__(self) -> StepProgress:
        if self.enabled:
            for step, label in self._labels.items():
                self._bars[step] = self._progress.add_task(label, total=1, start=False)
            self._progress.start()
            self._progress.start_task(self._bars["tag_emotions"])
            self._unsubscribe = bus.subscribe(self.topic, self._on_event)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        if self.enabled:
            self._progress.stop()

    def _on_event(self, topic: str, event: Event) -> None:
        if event.get("job_id") != self.job_id:
            return
        kind = event.get("type")
        if kind == "export_job.frames":
            bar = self._bars["render_video"]
            self._progress.update(bar, total=event["total"], completed=event["done"])
        elif kind in ("export_job.step", "export_job.completed"):
            steps = list(self._labels)
            done = steps.index(event["step"]) if event.get("step") in steps else -1
            if kind == "export_job.completed":
                done = len(steps) - 1
            for step in steps[: done + 1]:
                bar = self._bars[step]
                self._progress.start_task(bar)
                total = self._progress.tasks[bar].total or 1
                self._progress.update(bar, completed=total)
            if done + 1 < len(steps):
                self._progress.start_task(self._bars[steps[done + 1]])
