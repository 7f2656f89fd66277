// The export panel: format, resolution and quality, "Export video", the progress of the
// project's latest job (realtime events; polling only while the socket is down) and,
// once it is done, the video with download and share links.

import { api } from "../api.js";
import { announce, h, replace } from "../dom.js";
import { ACTIVE, fromEvent, percent, statusText } from "../jobs.js";
import { onMessage, onRealtime, realtime } from "../realtime.js";

const POLL_MS = 3000;

const CHOICES = {
  aspect: { label: "Format", options: [
    ["9:16", "TikTok / Reels / Shorts (9:16)"], ["16:9", "YouTube (16:9)"], ["1:1", "Square (1:1)"]] },
  resolution: { label: "Resolution", options: [["720p", "720p"], ["1080p", "1080p"], ["4k", "4K"]] },
  quality: { label: "Quality", options: [["draft", "Draft"], ["standard", "Standard"], ["high", "High"]] },
};

/**
 * @param {object} options
 * @param {object} options.project the project (id, settings)
 * @param {object|null} options.job its latest export job, if any
 * @param {(changes: object) => Promise} options.saveSettings merges changes into settings
 * @param {() => Promise} options.beforeExport saves the script (throws on a markup error)
 * @param {(error) => void} options.showScriptError shows a 422 with a line on the script
 */
export function createExportPanel({ project, job: initialJob, saveSettings, beforeExport, showScriptError }) {
  let job = null;
  const knownJobs = new Set(initialJob ? [initialJob.id] : []);
  let pollTimer = null;
  let shownVideo = null; // the job id whose video is shown (so it is not reloaded)

  const selects = {};
  const fields = Object.entries(CHOICES).map(([key, { label, options }]) => {
    const id = `export-${key}`;
    const current = project.settings?.[key];
    const all = options.some(([value]) => value === current) || !current ? options : [...options, [current, current]];
    selects[key] = h("select", { id, onchange: () => changeSetting(key) },
      all.map(([value, text]) => h("option", { value, selected: value === current }, text)));
    return h("div", { class: "field" }, h("label", { for: id }, label), selects[key]);
  });

  const alert = h("p", { class: "alert", role: "alert" });
  const exportButton = h("button", { type: "button", class: "button button-primary button-wide", onclick: start },
                         "Export video");
  const progress = h("progress", { "aria-label": "Export progress", max: "100", value: "0" });
  const status = h("p", { class: "export-status", role: "status" });
  const cancelButton = h("button", { type: "button", class: "button button-small", onclick: cancel }, "Cancel export");
  const progressBox = h("div", { class: "progress-box", hidden: true },
    progress, h("div", { class: "progress-line" }, status, cancelButton));
  const result = h("div", { class: "export-result" });

  const element = h("div", { class: "stack" },
    h("div", { class: "export-fields" }, fields),
    exportButton, alert, progressBox, result);

  // --- Settings

  async function changeSetting(key) {
    alert.textContent = "";
    try {
      await saveSettings({ [key]: selects[key].value });
    } catch (error) {
      alert.textContent = `Could not save the ${CHOICES[key].label.toLowerCase()}: ${error.detail || error.message}`;
    }
  }

  function current() {
    return Object.fromEntries(Object.entries(selects).map(([key, select]) => [key, select.value]));
  }

  /** Settings changed elsewhere: show them. */
  function setSettings(settings) {
    for (const [key, select] of Object.entries(selects)) {
      if (settings?.[key] && [...select.options].some((option) => option.value === settings[key])) {
        select.value = settings[key];
      }
    }
  }

  // --- Exporting

  async function start() {
    alert.textContent = "";
    exportButton.disabled = true;
    exportButton.textContent = "Starting…";
    try {
      await beforeExport();
      await saveSettings(current());
      const started = await api("/api/export", { method: "POST", body: { project_id: project.id } });
      knownJobs.add(started.id);
      show(started);
      announce("Export started");
    } catch (error) {
      if (error.line) showScriptError(error);
      alert.textContent = error.line
        ? "The script has an error; fix it and export again."
        : `Could not export: ${error.detail || error.message}`;
    } finally {
      exportButton.textContent = "Export video";
      exportButton.disabled = Boolean(job && ACTIVE.has(job.status));
    }
  }

  async function cancel() {
    if (!job) return;
    cancelButton.disabled = true;
    try {
      show(await api(`/api/export/${job.id}/cancel`, { method: "POST" }));
    } catch (error) {
      if (error.status === 409) await reread(); // it ended meanwhile
      else alert.textContent = `Could not cancel: ${error.detail || error.message}`;
    } finally {
      cancelButton.disabled = false;
    }
  }

  // --- Showing a job

  function show(next) {
    const before = job;
    job = next;
    const active = ACTIVE.has(job.status);
    progressBox.hidden = false;
    progress.value = job.status === "completed" ? 100 : percent(job);
    status.textContent = statusText(job);
    cancelButton.hidden = !active;
    exportButton.disabled = active;
    progressBox.dataset.status = job.status;
    if (job.status === "completed" && job.video_url) drawResult();
    else if (job.status !== "completed" || before?.id !== job.id) {
      shownVideo = null;
      replace(result);
    }
    // Events carry no video_url: read the job once when it completes.
    const wasCompleted = before?.id === job.id && before.status === "completed";
    if (job.status === "completed" && !job.video_url && !wasCompleted) reread();
    schedulePoll();
  }

  function drawResult() {
    if (shownVideo === job.id) return;
    shownVideo = job.id;
    const url = job.video_url;
    const copyStatus = h("p", { class: "copy-status", role: "status" });
    const fallback = h("div", { class: "field", hidden: true });
    const copyButton = h("button", {
      type: "button", class: "button",
      onclick: async () => {
        const absolute = new URL(url, location.href).href;
        copyStatus.textContent = "";
        try {
          await navigator.clipboard.writeText(absolute);
          copyStatus.textContent = "Link copied";
        } catch {
          // No clipboard here (refused, or not a secure page): show the link to copy by hand.
          replace(fallback,
            h("label", { for: "share-link" }, "Share link"),
            h("input", { id: "share-link", type: "text", readonly: true, value: absolute,
                         onfocus: (event) => event.target.select() }));
          fallback.hidden = false;
          fallback.querySelector("input").focus();
          copyStatus.textContent = "Copy the link below";
        }
      },
    }, "Copy share link");
    replace(result,
      h("video", { controls: true, "aria-label": "Exported video", src: url, preload: "metadata",
                   playsinline: true, class: `video video-${selects.aspect.value.replace(":", "x")}` }),
      h("div", { class: "toolbar" },
        h("a", { class: "button", href: url, download: `${project.title || "aura-video"}.mp4` }, "Download video"),
        copyButton, copyStatus),
      fallback);
  }

  async function reread() {
    if (!job) return;
    try {
      const fresh = await api(`/api/export/${job.id}`);
      if (fresh.id === job?.id) show(fresh);
    } catch (error) {
      if (error.status === 404) { job = null; progressBox.hidden = true; replace(result); }
    }
  }

  // Poll only while a job is running and the realtime socket is down.
  function schedulePoll() {
    clearTimeout(pollTimer);
    if (job && ACTIVE.has(job.status) && !realtime.connected) {
      pollTimer = setTimeout(async () => {
        if (!realtime.connected) await reread();
        else schedulePoll();
      }, POLL_MS);
    }
  }

  const stops = [
    onMessage("export_job", (event) => {
      if (event.project_id !== project.id) return;
      const same = event.job_id === job?.id;
      if (!same && knownJobs.has(event.job_id)) return; // an older job of this project
      if (same && new Date(event.updated_at) < new Date(job.updated_at)) return;
      knownJobs.add(event.job_id);
      const update = fromEvent(event);
      // Keep the link we have: a completed job's video_url does not change.
      show({ ...(same ? job : {}), ...update, video_url: same ? job.video_url : null });
    }),
    onRealtime("open", () => { clearTimeout(pollTimer); reread(); }),
    onRealtime("down", () => schedulePoll()),
  ];

  if (initialJob) show(initialJob);

  return {
    element,
    setSettings,
    destroy() {
      clearTimeout(pollTimer);
      stops.forEach((stop) => stop());
    },
  };
}
