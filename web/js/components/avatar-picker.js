// The editor's "Avatar" section: the avatars as radios (stock ones first, then the
// person's own photo avatars) and a photo drop zone that makes a new avatar from a photo
// (POST /api/avatars), then selects it.

import { ApiError, api } from "../api.js";
import { announce, h, replace } from "../dom.js";
import { freshToken } from "../session.js";

const NAME_CHARS = 40;

/** The avatar name a photo's file name suggests ("my_photo.jpg" → "My photo"). */
function nameFromFile(file) {
  const stem = (file.name || "").replace(/\.[^.]*$/, "").replace(/[_\-.]+/g, " ")
    .replace(/[\u0000-\u001f\u007f]/g, "").trim();
  const name = (stem || "My photo").slice(0, NAME_CHARS).trim();
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/**
 * POST a form with upload progress: `onSent()` once the browser has sent the body (the
 * server works on it after that). Errors are thrown as ApiError, like api() does; a 401
 * is retried once through api(), which refreshes the session.
 */
async function postForm(path, form, onSent) {
  const token = await freshToken();
  const answer = await new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.upload.addEventListener("load", () => onSent?.());
    xhr.addEventListener("load", () => {
      let body = null;
      try { body = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { body = null; }
      resolve({ status: xhr.status, body });
    });
    xhr.addEventListener("error", () => reject(new Error("the upload failed; check the connection")));
    xhr.send(form);
  });
  if (answer.status === 401) return api(path, { method: "POST", body: form });
  if (answer.status < 200 || answer.status >= 300) throw new ApiError(answer.status, answer.body, null);
  return answer.body;
}

/**
 * @param {object} options
 * @param {object[]} options.avatars GET /api/avatars items
 * @param {() => object} options.project the project as it is now (settings.avatar)
 * @param {(changes: object) => Promise} options.saveSettings merges changes into settings
 */
export function createAvatarPicker({ avatars: initial, project, saveSettings }) {
  let avatars = initial;
  let busy = false;

  const alert = h("p", { class: "alert", role: "alert" });
  const list = h("div");
  const uploadStatus = h("p", { class: "upload-status", role: "status" });
  const uploadAlert = h("p", { class: "alert", role: "alert" });
  const warnings = h("ul", { class: "avatar-warnings", "aria-label": "Photo warnings", hidden: true });
  const fileInput = h("input", {
    type: "file", id: "avatar-photo", accept: "image/*",
    "aria-describedby": "avatar-photo-hint",
    onchange: () => { if (fileInput.files[0]) upload(fileInput.files[0]); },
  });
  const drop = h("div", { class: "photo-drop" },
    h("label", { for: "avatar-photo" }, "Upload a photo"),
    fileInput,
    h("p", { class: "hint", id: "avatar-photo-hint" },
      "Or drop one here. One face, looking at the camera (JPEG, PNG, WebP; up to 20 MB)."));
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (event) => {
      if (![...(event.dataTransfer?.types ?? [])].includes("Files")) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      drop.classList.add("dragging");
    });
  }
  drop.addEventListener("dragleave", (event) => {
    if (!drop.contains(event.relatedTarget)) drop.classList.remove("dragging");
  });
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("dragging");
    const file = [...(event.dataTransfer?.files ?? [])][0];
    if (file) upload(file);
  });

  const fieldset = h("fieldset", { class: "avatar-fieldset" },
    h("legend", {}, "Avatar"), list, alert);
  const element = h("div", { class: "stack" }, fieldset,
    h("div", { class: "stack avatar-upload" }, drop, uploadStatus, uploadAlert, warnings));

  function renderList() {
    const radios = avatars.map((avatar) => {
      const radioId = `avatar-${avatar.id}`;
      const radio = h("input", {
        type: "radio", name: "avatar", id: radioId, value: avatar.handle,
        checked: project().settings.avatar === avatar.handle,
        onchange: () => choose(avatar),
      });
      return h("li", { class: avatar.kind === "photo" ? "avatar-option avatar-own" : "avatar-option" },
        h("label", { for: radioId }, radio,
          h("span", { class: "avatar-face", "aria-hidden": "true" }, avatar.name.slice(0, 1).toUpperCase()),
          avatar.name));
    });
    replace(list, avatars.length ? h("ul", { class: "avatar-list" }, radios)
      : h("p", { class: "muted" }, "No avatars available."));
  }

  async function choose(avatar) {
    alert.textContent = "";
    try {
      await saveSettings({ avatar: avatar.handle });
      announce(`Avatar: ${avatar.name}`);
    } catch (error) {
      alert.textContent = `Could not change the avatar: ${error.detail || error.message}`;
      sync(); // back to the one the project has
    }
  }

  function sync() {
    for (const radio of list.querySelectorAll('input[name="avatar"]')) {
      radio.checked = radio.value === project().settings.avatar;
    }
  }

  function showWarnings(items) {
    replace(warnings, (items ?? []).map((text) => h("li", {}, text.charAt(0).toUpperCase() + text.slice(1))));
    warnings.hidden = !items?.length;
  }

  async function upload(file) {
    if (busy) return;
    uploadAlert.textContent = "";
    showWarnings([]);
    if (file.type && !file.type.startsWith("image/")) {
      uploadAlert.textContent = `“${file.name}” is not a photo: choose a JPEG, PNG or WebP image.`;
      return;
    }
    busy = true;
    fileInput.disabled = true;
    drop.setAttribute("aria-busy", "true");
    uploadStatus.textContent = "Uploading…";
    try {
      const form = new FormData();
      form.append("photo", file, file.name || "photo");
      form.append("name", nameFromFile(file));
      const made = await postForm("/api/avatars", form, () => {
        uploadStatus.textContent = "Finding the face…";
      });
      uploadStatus.textContent = "Finding the face…";
      avatars = (await api("/api/avatars")).items;
      const avatar = avatars.find((item) => item.id === made.avatar_id)
        ?? { id: made.avatar_id, name: made.name, kind: "photo", handle: made.avatar_id };
      if (!avatars.includes(avatar)) avatars.push(avatar);
      renderList();
      await saveSettings({ avatar: avatar.handle });
      sync();
      showWarnings(made.warnings);
      uploadStatus.textContent = `Your avatar “${avatar.name}” is ready and selected.`;
      announce(`Avatar: ${avatar.name}`);
    } catch (error) {
      uploadStatus.textContent = "";
      const detail = error.detail || error.message;
      uploadAlert.textContent = `Could not make an avatar from “${file.name}”: ${detail}`;
    } finally {
      busy = false;
      fileInput.disabled = false;
      fileInput.value = "";
      drop.removeAttribute("aria-busy");
    }
  }

  renderList();
  return { element, sync };
}
