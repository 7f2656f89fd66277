// The library: the user's uploaded files (photos, recordings, videos) and finished
// exports. Asset bytes on this server need the bearer header, so previews and downloads
// fetch them as Blobs and use object URLs (revoked when the user leaves).

import { api, apiBlob } from "../api.js";
import { announce, ago, debounce, h, replace } from "../dom.js";
import { listJobs } from "../jobs.js";
import { onMessage, onRealtime } from "../realtime.js";

const PREVIEW_CONCURRENCY = 2; // keeps clear of the per-minute rate limit and the network

export function mount(main) {
  document.title = "Library · AuraStudio";
  const objectUrls = new Map(); // asset id -> Promise<object URL>
  const waiting = []; // preview loads not started yet
  let running = 0;
  let gone = false;

  const alert = h("p", { class: "alert", role: "alert" });
  const status = h("p", { class: "visually-hidden", role: "status" }, "Loading your library…");
  const empty = h("p", { class: "empty", hidden: true }, "Nothing here yet");
  const assetList = h("ul", { class: "media-grid", "aria-label": "Assets" });
  const videoList = h("ul", { class: "media-grid", "aria-label": "Exported videos" });
  const assetSection = h("section", { "aria-labelledby": "files-heading", hidden: true },
    h("h2", { id: "files-heading" }, "Files"), assetList);
  const videoSection = h("section", { "aria-labelledby": "videos-heading", hidden: true },
    h("h2", { id: "videos-heading" }, "Exported videos"), videoList);

  const fileInput = h("input", { id: "upload-file", type: "file", accept: "image/*,audio/*,video/*" });
  const uploadButton = h("button", { type: "submit", class: "button button-primary" }, "Upload");
  const uploadForm = h("form", { class: "create-form card card-padded", onsubmit: upload },
    h("div", { class: "field grow" }, h("label", { for: "upload-file" }, "Choose a file"), fileInput,
      h("p", { class: "hint" }, "A photo, a voice recording or a short video.")),
    uploadButton);

  replace(main,
    h("div", { class: "page-head" }, h("h1", {}, "Library"),
      h("p", { class: "muted" }, "Your photos, recordings and finished videos.")),
    uploadForm, alert, status, empty, videoSection, assetSection);

  // Observe previews as they scroll into view, so a long library does not load at once.
  const observer = "IntersectionObserver" in window
    ? new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (entry.isIntersecting) {
          observer.unobserve(entry.target);
          entry.target.dispatchEvent(new Event("aura:visible"));
        }
      }
    }, { rootMargin: "200px" })
    : null;

  function whenVisible(element, load) {
    element.addEventListener("aura:visible", load, { once: true });
    if (observer) observer.observe(element);
    else load();
  }

  function isOurs(url) {
    return new URL(url, location.href).origin === location.origin;
  }

  /** An object URL of the asset's bytes (fetched once; at most two at a time). */
  function contentUrl(asset) {
    if (!isOurs(asset.url)) return Promise.resolve(asset.url); // a presigned link needs no token
    if (!objectUrls.has(asset.id)) {
      objectUrls.set(asset.id, new Promise((resolve, reject) => {
        waiting.push({ asset, resolve, reject });
        pump();
      }));
    }
    return objectUrls.get(asset.id);
  }

  function pump() {
    while (running < PREVIEW_CONCURRENCY && waiting.length) {
      const { asset, resolve, reject } = waiting.shift();
      running += 1;
      apiBlob(asset.url)
        .then((blob) => resolve(URL.createObjectURL(blob)))
        .catch((error) => { objectUrls.delete(asset.id); reject(error); })
        .finally(() => { running -= 1; if (!gone) pump(); });
    }
  }

  // --- Assets

  function assetName(asset) {
    return asset.name || `${asset.kind}-${asset.id.slice(0, 8)}`;
  }

  function preview(asset, name) {
    const type = asset.content_type ?? "";
    const box = h("div", { class: "media-preview" }, h("span", { class: "muted small" }, "Loading preview…"));
    whenVisible(box, async () => {
      try {
        const url = await contentUrl(asset);
        if (gone) return;
        let media;
        if (type.startsWith("image/")) media = h("img", { src: url, alt: `Preview of ${name}`, loading: "lazy" });
        else if (type.startsWith("audio/")) media = h("audio", { controls: true, src: url, "aria-label": `Play ${name}` });
        else if (type.startsWith("video/")) {
          media = h("video", { controls: true, src: url, preload: "metadata", playsinline: true,
                               "aria-label": `Preview of ${name}` });
        } else media = h("span", { class: "muted small" }, "No preview");
        replace(box, media);
      } catch {
        replace(box, h("span", { class: "muted small" }, "Preview unavailable"));
      }
    });
    return box;
  }

  function drawAsset(li, asset, mode = "view") {
    const name = assetName(asset);
    const card = [
      preview(asset, name),
      h("div", { class: "media-body" },
        h("h3", { class: "media-title" }, name),
        h("p", { class: "muted small" }, `${asset.kind} · ${size(asset.size_bytes)} · added ${ago(asset.created_at)}`)),
    ];
    const error = h("p", { class: "alert", role: "alert" });
    if (mode === "view") {
      card.push(h("div", { class: "project-actions" },
        h("button", { type: "button", class: "button button-small", "aria-label": `Download ${name}`,
                      onclick: () => download(asset, name, error) }, "Download"),
        h("button", { type: "button", class: "button button-small button-danger-quiet", "aria-label": `Delete ${name}`,
                      onclick: () => { drawAsset(li, asset, "delete"); li.querySelector(".button-danger").focus(); } },
          "Delete"),
        error));
    } else {
      card.push(h("div", { class: "inline-form confirm", role: "group", "aria-label": `Delete ${name}?` },
        h("p", {}, "Delete this file? Avatars made from it keep working."),
        h("div", { class: "inline-row" },
          h("button", { type: "button", class: "button button-danger button-small", "aria-label": `Confirm delete ${name}`,
                        onclick: (event) => remove(li, asset, name, event.currentTarget, error) }, "Confirm delete"),
          h("button", { type: "button", class: "button button-small",
                        onclick: () => { drawAsset(li, asset); li.querySelector(`[aria-label="Delete ${CSS.escape(name)}"]`)?.focus(); } },
            "Cancel")),
        error));
    }
    replace(li, ...card);
  }

  async function download(asset, name, error) {
    error.textContent = "";
    try {
      const link = h("a", { href: await contentUrl(asset), download: name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
    } catch (failure) {
      error.textContent = `Could not download: ${failure.detail || failure.message}`;
    }
  }

  async function remove(li, asset, name, button, error) {
    button.disabled = true;
    try {
      await api(`/api/assets/${asset.id}`, { method: "DELETE" });
      const next = li.nextElementSibling ?? li.previousElementSibling;
      li.remove();
      objectUrls.get(asset.id)?.then((url) => url.startsWith("blob:") && URL.revokeObjectURL(url)).catch(() => {});
      objectUrls.delete(asset.id);
      assetSection.hidden = assetList.children.length === 0;
      updateEmpty();
      (next?.querySelector("button") ?? main.querySelector("h1")).focus();
      announce(`Deleted ${name}`);
    } catch (failure) {
      if (failure.status === 404) { li.remove(); updateEmpty(); return; }
      error.textContent = failure.detail || failure.message;
      button.disabled = false;
    }
  }

  // --- Exported videos

  let videosKey = null;
  function drawVideos(jobs, titles) {
    const done = jobs.filter((job) => job.status === "completed" && job.video_url);
    // Redraw only when the list changed: a redraw reloads every video.
    const key = JSON.stringify(done.map((job) => [job.id, titles.get(job.project_id)]));
    if (key === videosKey) return;
    videosKey = key;
    replace(videoList, done.map((job) => {
      const title = titles.get(job.project_id) ?? "Deleted project";
      return h("li", { class: "card media" },
        h("div", { class: "media-preview" },
          h("video", { controls: true, src: job.video_url, preload: "metadata", playsinline: true,
                       "aria-label": `Video of ${title}` })),
        h("div", { class: "media-body" },
          h("h3", { class: "media-title" },
            titles.has(job.project_id) ? h("a", { href: `#/projects/${job.project_id}` }, title) : title),
          h("p", { class: "muted small" }, `Exported ${ago(job.updated_at)}`)),
        h("div", { class: "project-actions" },
          h("a", { class: "button button-small", href: job.video_url, download: `${title}.mp4`,
                   "aria-label": `Download video of ${title}` }, "Download video")));
    }));
    videoSection.hidden = done.length === 0;
  }

  function updateEmpty() {
    empty.hidden = assetList.children.length > 0 || videoList.children.length > 0;
  }

  async function load() {
    try {
      const [assets, jobs, projects] = await Promise.all([
        api("/api/assets?limit=100"),
        listJobs(),
        api("/api/projects?limit=100"),
      ]);
      if (gone) return;
      const titles = new Map(projects.items.map((project) => [project.id, project.title]));
      replace(assetList, assets.items.map((asset) => {
        const li = h("li", { class: "card media" });
        drawAsset(li, asset);
        return li;
      }));
      assetSection.hidden = assets.items.length === 0;
      drawVideos(jobs, titles);
      updateEmpty();
      status.textContent = `${assets.total} files, ${videoList.children.length} videos`;
    } catch (error) {
      if (gone) return;
      status.textContent = "";
      alert.textContent = `Could not load your library: ${error.detail || error.message}`;
    }
  }

  // Realtime only tells about exports, so only the videos are read again.
  async function loadVideos() {
    try {
      const [jobs, projects] = await Promise.all([listJobs(), api("/api/projects?limit=100")]);
      if (gone) return;
      drawVideos(jobs, new Map(projects.items.map((project) => [project.id, project.title])));
      updateEmpty();
    } catch { /* the list stays as it was */ }
  }
  const reload = debounce(loadVideos, 500);

  async function upload(event) {
    event.preventDefault();
    alert.textContent = "";
    const file = fileInput.files?.[0];
    if (!file) {
      alert.textContent = "Choose a file to upload.";
      fileInput.focus();
      return;
    }
    const body = new FormData();
    body.append("file", file, file.name);
    uploadButton.disabled = true;
    uploadButton.textContent = "Uploading…";
    try {
      const asset = await api("/api/assets", { method: "POST", body });
      fileInput.value = "";
      announce(`Uploaded ${assetName(asset)}`);
      await load();
    } catch (error) {
      alert.textContent = `Could not upload: ${error.detail || error.message}`;
    } finally {
      uploadButton.disabled = false;
      uploadButton.textContent = "Upload";
    }
  }

  const stops = [
    onMessage("export_job", (event) => { if (event.status === "completed") reload(); }),
    onRealtime("open", () => reload()),
  ];

  load();

  return () => {
    gone = true;
    reload.cancel();
    stops.forEach((stop) => stop());
    observer?.disconnect();
    waiting.length = 0;
    for (const promise of objectUrls.values()) {
      promise.then((url) => url.startsWith("blob:") && URL.revokeObjectURL(url)).catch(() => {});
    }
  };
}

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
