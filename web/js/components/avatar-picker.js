// The editor's "Avatar" section: the avatars as radios (stock ones first, then the
// person's own photo avatars) and a photo drop zone that makes a new avatar from a photo
// (POST /api/avatars), then selects it. A photo with several faces makes an avatar of the
// largest; a "Use face" choice then remakes it from another face (the same photo posted
// again with `face`), and removes the avatar made first, so one stays in the list.

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
  const faceChoice = h("div", { class: "face-choice", role: "group", "aria-labelledby": "face-choice-label", hidden: true });
  let lastUpload = null; // { file, made }: the photo behind the avatar made last, for the face choice
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
    h("div", { class: "stack avatar-upload" }, drop, uploadStatus, uploadAlert, warnings, faceChoice));

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

  function faceLabel(face) {
    return face.position && face.position !== "only" ? `face ${face.number} (${face.position})` : `face ${face.number}`;
  }

  /** "Use face: 1 2 3" under a photo with several faces; the one in use is pressed. */
  function showFaceChoice(made) {
    const faces = made?.faces ?? [];
    if (faces.length < 2) {
      replace(faceChoice);
      faceChoice.hidden = true;
      return;
    }
    const buttons = faces.map((face) => {
      const used = face.number === made.face;
      return h("button", {
        type: "button", class: "button button-small face-button",
        "aria-pressed": used ? "true" : "false",
        "aria-label": `Use ${faceLabel(face)}${used ? ", in use" : ""}`,
        onclick: () => { if (!used) remake(face.number); },
      }, String(face.number));
    });
    replace(faceChoice,
      h("p", { id: "face-choice-label", class: "small" },
        `This photo has ${faces.length} faces, numbered from the left. Use face:`),
      h("div", { class: "face-buttons" }, buttons));
    faceChoice.hidden = false;
  }

  function setFaceChoiceDisabled(disabled) {
    for (const button of faceChoice.querySelectorAll("button")) button.disabled = disabled;
  }

  /** Make the avatar again from face `number` of the last photo; remove the first one. */
  function remake(number) {
    if (!lastUpload) return;
    upload(lastUpload.file, { face: number, replacing: lastUpload.made });
  }

  async function removeAvatar(made) {
    await api(`/api/avatars/${made.avatar_id}`, { method: "DELETE" });
    avatars = avatars.filter((item) => item.id !== made.avatar_id);
    renderList();
    sync();
  }

  async function upload(file, { face = null, replacing = null } = {}) {
    if (busy) return;
    uploadAlert.textContent = "";
    if (!replacing) {
      showWarnings([]);
      showFaceChoice(null);
      lastUpload = null;
    }
    if (file.type && !file.type.startsWith("image/")) {
      uploadAlert.textContent = `“${file.name}” is not a photo: choose a JPEG, PNG or WebP image.`;
      return;
    }
    busy = true;
    fileInput.disabled = true;
    setFaceChoiceDisabled(true);
    drop.setAttribute("aria-busy", "true");
    uploadStatus.textContent = replacing ? `Using face ${face}…` : "Uploading…";
    try {
      const form = new FormData();
      form.append("photo", file, file.name || "photo");
      form.append("name", nameFromFile(file));
      if (face) form.append("face", String(face));
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
      lastUpload = { file, made };
      showFaceChoice(made);
      const used = made.faces?.find((item) => item.number === made.face);
      let ready = made.faces?.length > 1
        ? `Your avatar “${avatar.name}” is ready and selected; it uses ${faceLabel(used ?? { number: made.face })}.`
        : `Your avatar “${avatar.name}” is ready and selected.`;
      if (replacing) {
        try {
          await removeAvatar(replacing);
          ready += ` The one made from face ${replacing.face} was removed.`;
        } catch (error) {
          ready += ` The one made from face ${replacing.face} is still in the list.`;
          uploadAlert.textContent = `Could not remove the avatar made from face ${replacing.face}: ${error.detail || error.message}`;
        }
      }
      uploadStatus.textContent = ready;
      announce(`Avatar: ${avatar.name}`);
    } catch (error) {
      uploadStatus.textContent = "";
      const detail = error.detail || error.message;
      uploadAlert.textContent = replacing
        ? `Could not use face ${face} of “${file.name}”: ${detail}. The avatar made from face ${replacing.face} stays selected.`
        : `Could not make an avatar from “${file.name}”: ${detail}`;
    } finally {
      busy = false;
      fileInput.disabled = false;
      fileInput.value = "";
      setFaceChoiceDisabled(false);
      drop.removeAttribute("aria-busy");
    }
  }

  renderList();
  return { element, sync };
}
