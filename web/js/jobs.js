// Export jobs as the screens show them. A realtime "export_job" event and an HTTP job
// differ in names (job_id vs id, url vs video_url); `fromEvent` makes events look like jobs.

import { api } from "./api.js";

export const ACTIVE = new Set(["queued", "running"]);

export function percent(job) {
  return Math.max(0, Math.min(100, Math.round(Number(job?.progress ?? 0) * 100)));
}

/** The dashboard badge: Draft, Queued, Rendering 42%, Ready, Failed, Cancelled. */
export function badgeText(job) {
  if (!job) return "Draft";
  switch (job.status) {
    case "queued": return "Queued";
    case "running": return `Rendering ${percent(job)}%`;
    case "completed": return "Ready";
    case "failed": return "Failed";
    case "cancelled": return "Cancelled";
    default: return job.status;
  }
}

/** The editor's progress text: "Rendering: render_video (64%)", "Queued", "Done", ... */
export function statusText(job) {
  switch (job.status) {
    case "queued": return "Queued";
    case "running":
      return job.step ? `Rendering: ${job.step} (${percent(job)}%)` : `Rendering (${percent(job)}%)`;
    case "completed": return "Done";
    case "failed": return `Failed: ${job.error || "the render did not finish"}`;
    case "cancelled": return "Cancelled";
    default: return job.status;
  }
}

/** A realtime export_job event in the shape of an HTTP job (video_url filled in later). */
export function fromEvent(event) {
  return {
    id: event.job_id,
    project_id: event.project_id,
    status: event.status,
    progress: event.progress,
    step: event.step,
    error: event.error,
    video_url: null,
    updated_at: event.updated_at,
  };
}

/** The newest job of each project, from a newest-first list of jobs. */
export function latestByProject(jobs) {
  const latest = new Map();
  for (const job of jobs) {
    if (job.project_id && !latest.has(job.project_id)) latest.set(job.project_id, job);
  }
  return latest;
}

/** GET /api/export?limit=100: the newest jobs, newest first. */
export async function listJobs() {
  return (await api("/api/export?limit=100")).items;
}

/** Merge an event into a job we hold, keeping the video link we already know. */
export function merge(job, event) {
  const update = fromEvent(event);
  return { ...job, ...update, video_url: update.status === "completed" ? job?.video_url ?? null : null };
}
