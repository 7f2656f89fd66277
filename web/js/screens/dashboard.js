// "Your projects": create, open, rename, duplicate and delete projects, with a badge per
// project for its latest export that follows realtime events (renders started elsewhere
// included) without a reload.

import { api } from "../api.js";
import { announce, ago, debounce, h, replace } from "../dom.js";
import { badgeText, latestByProject, listJobs, merge } from "../jobs.js";
import { onMessage, onRealtime, realtime } from "../realtime.js";

const DEFAULT_SETTINGS = { aspect: "9:16", resolution: "720p", quality: "standard", avatar: "stock:aura" };
const MAX_TITLE_CHARS = 200;
const MAX_PROJECT_TOPICS = 90; // the server allows 100 topics per connection, jobs included

export function mount(main) {
  document.title = "Your projects · AuraStudio";
  const projects = new Map(); // id -> project, in the server's order (recently changed first)
  const latest = new Map(); // project id -> its newest job
  const knownJobs = new Set(); // job ids we have seen, to tell a new render from an old one
  const avatarNames = new Map(); // handle -> name
  const items = new Map(); // project id -> {li, mode, key}
  let topics = [];
  let gone = false;

  const titleInput = h("input", { id: "new-project-title", type: "text", maxlength: MAX_TITLE_CHARS,
                                  placeholder: "e.g. Spring launch teaser", autocomplete: "off" });
  const createButton = h("button", { type: "submit", class: "button button-primary" }, "Create project");
  const alert = h("p", { class: "alert", role: "alert" });
  const status = h("p", { class: "visually-hidden", role: "status" }, "Loading your projects…");
  const list = h("ul", { class: "project-grid", "aria-label": "Projects" });
  const empty = h("p", { class: "empty", hidden: true }, "No projects yet");

  const form = h("form", { class: "create-form card card-padded", onsubmit: create },
    h("div", { class: "field grow" }, h("label", { for: "new-project-title" }, "New project title"), titleInput),
    createButton);

  replace(main,
    h("div", { class: "page-head" }, h("h1", {}, "Your projects"),
      h("p", { class: "muted" }, "Write a script, pick an avatar, export a video.")),
    form, alert, status, list, empty);

  async function create(event) {
    event.preventDefault();
    alert.textContent = "";
    const title = titleInput.value.trim() || "Untitled project";
    createButton.disabled = true;
    try {
      const project = await api("/api/projects", {
        method: "POST", body: { title, script: "", settings: DEFAULT_SETTINGS },
      });
      location.hash = `#/projects/${project.id}`;
    } catch (error) {
      alert.textContent = error.detail || error.message;
      createButton.disabled = false;
    }
  }

  // --- Loading

  async function load() {
    try {
      const [page, jobs, avatars] = await Promise.all([
        api("/api/projects?limit=100"),
        listJobs(),
        avatarNames.size ? null : api("/api/avatars").catch(() => null),
      ]);
      if (gone) return;
      for (const avatar of avatars?.items ?? []) avatarNames.set(avatar.handle, avatar.name);
      projects.clear();
      for (const project of page.items) projects.set(project.id, project);
      latest.clear();
      for (const [projectId, job] of latestByProject(jobs)) latest.set(projectId, job);
      jobs.forEach((job) => knownJobs.add(job.id));
      status.textContent = page.total === 1 ? "1 project" : `${page.total} projects`;
      renderList();
      follow();
    } catch (error) {
      if (gone) return;
      status.textContent = "";
      alert.textContent = `Could not load your projects: ${error.detail || error.message}`;
    }
  }
  const reload = debounce(load, 300);

  // Project events (renamed or deleted elsewhere) come per project topic.
  function follow() {
    const wanted = [...projects.keys()].slice(0, MAX_PROJECT_TOPICS).map((id) => `project:${id}`);
    realtime.unsubscribe(topics.filter((topic) => !wanted.includes(topic)));
    realtime.subscribe(wanted);
    topics = wanted;
  }

  // --- Rendering (items are reused, so focus and open inline forms survive updates)

  function renderList() {
    const ids = [...projects.keys()];
    for (const [id, item] of items) {
      if (!projects.has(id)) {
        item.li.remove();
        items.delete(id);
      }
    }
    ids.forEach((id, index) => {
      const project = projects.get(id);
      const key = `${project.title}|${project.updated_at}|${project.settings?.avatar}`;
      let item = items.get(id);
      if (!item) {
        item = { li: h("li", { class: "project card" }), mode: "view", key: null };
        items.set(id, item);
      }
      if (item.key !== key && item.mode === "view") {
        drawItem(id);
        item.key = key;
      }
      if (list.children[index] !== item.li) list.insertBefore(item.li, list.children[index] ?? null);
    });
    empty.hidden = ids.length > 0;
  }

  function drawItem(id, focus) {
    const project = projects.get(id);
    const item = items.get(id);
    const title = project.title;
    const job = latest.get(id);
    const badge = h("span", { class: `badge badge-${job?.status ?? "draft"}` }, badgeText(job));
    const children = [
      h("div", { class: "thumb" }, thumbnail(project, job)),
      h("div", { class: "project-body" },
        h("h2", { class: "project-title" }, h("a", { href: `#/projects/${id}` }, title)),
        h("p", { class: "project-meta" }, badge,
          h("span", { class: "muted" }, `Edited ${ago(project.updated_at)}`))),
    ];
    if (item.mode === "rename") children.push(renameForm(project));
    else if (item.mode === "delete") children.push(deleteConfirm(project));
    else children.push(actions(project));
    replace(item.li, ...children);
    item.badge = badge;
    if (focus) item.li.querySelector(focus)?.focus();
  }

  function thumbnail(project, job) {
    if (job?.status === "completed" && job.video_url) {
      return h("video", { src: `${job.video_url}#t=0.1`, muted: true, preload: "metadata",
                          playsinline: true, "aria-hidden": "true", tabindex: "-1" });
    }
    const handle = project.settings?.avatar ?? "";
    const name = avatarNames.get(handle) ?? handle.replace(/^stock:/, "");
    return h("span", { class: "thumb-initial", "aria-hidden": "true" }, (name[0] ?? "A").toUpperCase());
  }

  function setMode(id, mode, focus) {
    items.get(id).mode = mode;
    items.get(id).key = null;
    drawItem(id, focus);
  }

  function actions(project) {
    const { id, title } = project;
    return h("div", { class: "project-actions" },
      h("button", { type: "button", class: "button button-small", "aria-label": `Rename ${title}`,
                    onclick: () => setMode(id, "rename", "input") }, "Rename"),
      h("button", { type: "button", class: "button button-small", "aria-label": `Duplicate ${title}`,
                    onclick: (event) => duplicate(project, event.currentTarget) }, "Duplicate"),
      h("button", { type: "button", class: "button button-small button-danger-quiet",
                    "aria-label": `Delete ${title}`,
                    onclick: () => setMode(id, "delete", ".button-danger") }, "Delete"));
  }

  function renameForm(project) {
    const { id, title } = project;
    const inputId = `rename-${id}`;
    const input = h("input", { id: inputId, type: "text", value: title, maxlength: MAX_TITLE_CHARS,
                               required: true, autocomplete: "off",
                               onkeydown: (event) => { if (event.key === "Escape") cancel(); } });
    const error = h("p", { class: "alert", role: "alert" });
    const cancel = () => setMode(id, "view", `[aria-label="Rename ${CSS.escape(title)}"]`);
    return h("form", {
      class: "inline-form",
      onsubmit: async (event) => {
        event.preventDefault();
        const newTitle = input.value.trim();
        if (!newTitle) {
          error.textContent = "The title cannot be empty.";
          input.focus();
          return;
        }
        try {
          const saved = await api(`/api/projects/${id}`, { method: "PATCH", body: { title: newTitle } });
          projects.set(id, saved);
          setMode(id, "view", "a");
          announce(`Renamed to ${saved.title}`);
        } catch (failure) {
          error.textContent = failure.detail || failure.message;
          input.focus();
        }
      },
    },
      h("label", { for: inputId }, `New title for ${title}`),
      h("div", { class: "inline-row" }, input,
        h("button", { type: "submit", class: "button button-primary button-small" }, "Save title"),
        h("button", { type: "button", class: "button button-small", onclick: cancel }, "Cancel")),
      error);
  }

  function deleteConfirm(project) {
    const { id, title } = project;
    const error = h("p", { class: "alert", role: "alert" });
    return h("div", { class: "inline-form confirm", role: "group", "aria-label": `Delete ${title}?` },
      h("p", {}, "Delete this project? This cannot be undone."),
      h("div", { class: "inline-row" },
        h("button", {
          type: "button", class: "button button-danger button-small",
          "aria-label": `Confirm delete ${title}`,
          onclick: async (event) => {
            event.currentTarget.disabled = true;
            try {
              await api(`/api/projects/${id}`, { method: "DELETE" });
              const next = items.get(id).li.nextElementSibling ?? items.get(id).li.previousElementSibling;
              projects.delete(id);
              renderList();
              (next?.querySelector("a") ?? titleInput).focus();
              announce(`Deleted ${title}`);
            } catch (failure) {
              if (failure.status === 404) { reload(); return; }
              error.textContent = failure.detail || failure.message;
              event.target.disabled = false;
            }
          },
        }, "Confirm delete"),
        h("button", { type: "button", class: "button button-small",
                      onclick: () => setMode(id, "view", `[aria-label="Delete ${CSS.escape(title)}"]`) },
          "Cancel")),
      error);
  }

  async function duplicate(project, button) {
    alert.textContent = "";
    button.disabled = true;
    let title = `${project.title} (copy)`;
    if (title.length > MAX_TITLE_CHARS) title = `${project.title.slice(0, MAX_TITLE_CHARS - 8)}… (copy)`;
    try {
      const copy = await api("/api/projects", {
        method: "POST", body: { title, script: project.script, settings: project.settings },
      });
      await load();
      announce(`Created ${copy.title}`);
    } catch (error) {
      alert.textContent = error.detail || error.message;
    } finally {
      button.disabled = false;
    }
  }

  // --- Live updates

  // How to find the focused control again after its item is drawn anew.
  function focusSelector(li) {
    const focused = document.activeElement;
    if (!li.contains(focused)) return null;
    if (focused.tagName === "A") return "a";
    const label = focused.getAttribute("aria-label");
    return label ? `[aria-label="${CSS.escape(label)}"]` : null;
  }

  function updateJob(projectId) {
    const item = items.get(projectId);
    if (!item) return;
    if (item.mode === "view") {
      drawItem(projectId, focusSelector(item.li));
    } else if (item.badge) {
      // Keep an open inline form as it is; only the badge changes.
      const job = latest.get(projectId);
      item.badge.className = `badge badge-${job?.status ?? "draft"}`;
      item.badge.textContent = badgeText(job);
    }
  }

  const stops = [
    onMessage("export_job", async (event) => {
      const projectId = event.project_id;
      if (!projectId) return;
      const current = latest.get(projectId);
      const same = current?.id === event.job_id;
      if (!same && knownJobs.has(event.job_id)) return; // an older render of this project
      if (same && new Date(event.updated_at) < new Date(current.updated_at)) return;
      knownJobs.add(event.job_id);
      const job = merge(same ? current : null, event);
      latest.set(projectId, job);
      if (!projects.has(projectId)) { reload(); return; }
      updateJob(projectId);
      const title = projects.get(projectId).title;
      if (job.status === "completed" && (!same || current.status !== "completed")) {
        announce(`${title} is ready`);
        try {
          const full = await api(`/api/export/${event.job_id}`); // events carry no video_url
          if (latest.get(projectId)?.id === full.id) {
            latest.set(projectId, full);
            updateJob(projectId);
          }
        } catch { /* the badge is right already; the thumbnail waits for the next load */ }
      } else if (job.status === "failed" && current?.status !== "failed") {
        announce(`The export of ${title} failed`);
      }
    }),
    onMessage("project", () => reload()),
    onRealtime("open", () => reload()), // events missed while the socket was down
  ];

  load();

  return () => {
    gone = true;
    reload.cancel();
    stops.forEach((stop) => stop());
    realtime.unsubscribe(topics);
  };
}
