// The project editor: the script (with emotions), the avatar, the voice and the export. Keeps the
// project in step with changes made elsewhere (realtime "project" events) and saves
// unsaved script edits when the user leaves.

import { api } from "../api.js";
import { h, replace } from "../dom.js";
import { listJobs } from "../jobs.js";
import { onMessage, onRealtime, realtime } from "../realtime.js";
import { createAvatarPicker } from "../components/avatar-picker.js";
import { createExportPanel } from "../components/export-panel.js";
import { createPreview } from "../components/preview.js";
import { createScriptEditor } from "../components/script-editor.js";
import { createVoicePanel } from "../components/voice-panel.js";

export function mount(main, { id }) {
  let project = null;
  let scriptEditor = null;
  let exportPanel = null;
  let preview = null;
  let avatarPicker = null;
  let voicePanel = null;
  let settingsChain = Promise.resolve();
  let gone = false;
  const stops = [];
  const topic = `project:${id}`;

  const heading = h("h1", { tabindex: "-1" }, "Loading…");
  const pageAlert = h("p", { class: "alert", role: "alert" });
  replace(main, heading, pageAlert);
  document.title = "Project · AuraStudio";

  // Settings are replaced as a whole by PATCH, so changes are merged onto the project's
  // current settings, one request at a time (so two quick changes cannot undo each other).
  function saveSettings(changes) {
    const run = settingsChain.then(async () => {
      const settings = { ...project.settings, ...changes };
      const same = Object.keys(changes).every((key) => project.settings[key] === changes[key]);
      if (same) return project;
      project = await api(`/api/projects/${id}`, { method: "PATCH", body: { settings } });
      return project;
    });
    settingsChain = run.catch(() => {});
    return run;
  }

  async function saveScript(script) {
    const saved = await api(`/api/projects/${id}`, { method: "PATCH", body: { script } });
    project = saved;
    return saved;
  }

  function syncAvatar() {
    avatarPicker?.sync();
  }

  async function load() {
    let avatars;
    let jobs;
    try {
      [project, avatars, jobs] = await Promise.all([
        api(`/api/projects/${id}`),
        api("/api/avatars").then((answer) => answer.items).catch(() => []),
        listJobs().catch(() => []),
      ]);
    } catch (error) {
      if (gone) return;
      const missing = error.status === 404 || error.status === 422;
      heading.textContent = missing ? "Project not found" : "Could not open the project";
      // The server's words: another user's project reads exactly like one that never was.
      const detail = error.detail || error.message;
      pageAlert.textContent = detail.charAt(0).toUpperCase() + detail.slice(1);
      return;
    }
    if (gone) return;
    heading.textContent = project.title;
    document.title = `${project.title} · AuraStudio`;

    scriptEditor = createScriptEditor({ script: project.script, save: saveScript });
    exportPanel = createExportPanel({
      project,
      job: jobs.find((job) => job.project_id === id) ?? null, // newest first
      saveSettings,
      beforeExport: () => scriptEditor.save(),
      showScriptError: (error) => scriptEditor.showError(error),
    });
    preview = createPreview({
      projectId: id,
      beforePreview: () => scriptEditor.save(),
      showScriptError: (error) => scriptEditor.showError(error),
    });
    avatarPicker = createAvatarPicker({ avatars, project: () => project, saveSettings });
    voicePanel = createVoicePanel({ project: () => project, saveSettings });
    main.append(h("div", { class: "editor-grid" },
      // No aria-labelledby on the sections: the textarea alone is labelled "Script".
      h("section", { class: "card card-padded editor-script" },
        h("h2", {}, h("label", { for: "script-text" }, "Script")),
        scriptEditor.element),
      h("div", { class: "editor-side" },
        h("section", { class: "card card-padded" }, avatarPicker.element),
        h("section", { class: "card card-padded" },
          h("h2", {}, "Voice"), voicePanel.element),
        h("section", { class: "card card-padded" },
          h("h2", {}, "Preview"), preview.element),
        h("section", { class: "card card-padded" },
          h("h2", {}, "Export"), exportPanel.element))));
    realtime.subscribe([topic]);
  }

  // Changed elsewhere (another tab, the API): show it; our own saves arrive here too.
  async function refresh() {
    if (!project) return;
    try {
      const fresh = await api(`/api/projects/${id}`);
      if (gone) return;
      project = fresh;
      heading.textContent = fresh.title;
      document.title = `${fresh.title} · AuraStudio`;
      scriptEditor.setSaved(fresh.script);
      exportPanel.setSettings(fresh.settings);
      syncAvatar();
      voicePanel?.setSettings(fresh.settings);
    } catch (error) {
      if (error.status === 404) deleted();
    }
  }

  function deleted() {
    pageAlert.replaceChildren("This project was deleted. ",
      h("a", { href: "#/projects" }, "Open the dashboard"));
    main.querySelectorAll(".editor-grid button, .editor-grid textarea, .editor-grid select, .editor-grid input")
      .forEach((control) => { control.disabled = true; });
  }

  stops.push(
    onMessage("project", (message) => {
      if (message.project?.id !== id || !project) return;
      if (message.op === "delete") deleted();
      else if (new Date(message.project.updated_at) > new Date(project.updated_at)) refresh();
    }),
    onRealtime("open", () => { if (project && !scriptEditor.isDirty()) refresh(); }),
  );

  // Warn before closing the tab with unsaved edits (leaving within the app saves them).
  const beforeUnload = (event) => {
    if (scriptEditor?.isDirty()) {
      event.preventDefault();
      event.returnValue = "";
    }
  };
  window.addEventListener("beforeunload", beforeUnload);

  load();

  return () => {
    gone = true;
    window.removeEventListener("beforeunload", beforeUnload);
    stops.forEach((stop) => stop());
    realtime.unsubscribe([topic]);
    if (scriptEditor?.isDirty()) scriptEditor.save().catch(() => {});
    scriptEditor?.destroy();
    exportPanel?.destroy();
    preview?.destroy();
    voicePanel?.destroy();
  };
}
