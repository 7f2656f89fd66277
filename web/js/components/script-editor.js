// The script editor: a monospace textarea over a backdrop that draws line numbers and
// marks the line of a markup error, the script's sentences with emotion chips, choosing
// a sentence's emotion, Auto-tag and Save.
//
// Errors are found locally while typing (markup.js, debounced) and confirmed by the
// server (POST /api/scripts/analyze) once typing pauses; the server's detail wins.

import { api } from "../api.js";
import { announce, debounce, h, replace } from "../dom.js";
import { EMOTIONS, applyEmotion, autoTag, checkScript, describeError } from "../markup.js";

const LOCAL_CHECK_MS = 300;
const SERVER_CHECK_MS = 1500;

/**
 * @param {object} options
 * @param {string} options.script the saved script
 * @param {(script: string) => Promise<object>} options.save PATCHes the script (throws ApiError)
 * @returns {{element, save, isDirty, setSaved, showError, destroy}}
 */
export function createScriptEditor({ script, save }) {
  let saved = script; // the text the server has
  let sentences = [];
  let analysis = null; // {text, sentences} from the server, for the text it was asked about
  let selected = -1;
  let error = null; // {detail, line, column}
  let saving = null;
  let destroyed = false;

  // --- Elements

  const textarea = h("textarea", {
    id: "script-text", class: "script-input", spellcheck: "true", rows: "12",
    "aria-describedby": "script-help script-error", "aria-errormessage": "script-error",
    autocapitalize: "sentences", value: script,
  });
  const backdrop = h("div", { class: "script-backdrop", "aria-hidden": "true" });
  const errorBox = h("p", { id: "script-error", class: "alert", role: "alert" });
  const saveStatus = h("p", { class: "save-status", role: "status" }, "Saved");
  const saveButton = h("button", { type: "button", class: "button button-primary", onclick: () => saveNow() }, "Save");
  const autoButton = h("button", { type: "button", class: "button", onclick: () => runAutoTag() }, "Auto-tag");
  const list = h("ol", { class: "sentences", "aria-label": "Sentences" });
  const listNote = h("p", { class: "muted small" });
  const emotionSelect = h("select", { id: "sentence-emotion" },
    EMOTIONS.map((emotion) => h("option", { value: emotion }, emotion)));
  const applyButton = h("button", { type: "button", class: "button button-primary", onclick: () => applySelected() },
                        "Apply emotion");
  const selectedText = h("p", { class: "selected-text" });
  const choose = h("div", { class: "choose-emotion", hidden: true },
    selectedText,
    h("div", { class: "inline-row" },
      h("div", { class: "field" },
        h("label", { for: "sentence-emotion" }, "Emotion for the selected sentence"), emotionSelect),
      applyButton));

  const element = h("div", { class: "script-editor stack" },
    h("p", { id: "script-help", class: "hint" },
      "Put an emotion before the text it applies to: ", h("code", {}, "[joy]"), ", ",
      h("code", {}, "[sadness:0.6]"), " (intensity 0–1), ", h("code", {}, "[pause 0.8]"),
      " for silence. Lines starting with ", h("code", {}, "#"), " are comments."),
    h("div", { class: "script-box" }, backdrop, textarea),
    errorBox,
    h("div", { class: "toolbar" }, saveButton, autoButton, saveStatus),
    h("h3", { class: "subhead" }, "Sentences"),
    listNote, list, choose);

  // --- Drawing

  // Line numbers and the error line live in the backdrop, which wraps exactly like the
  // textarea (same font, padding and width), so each number sits at its line's first row.
  function drawBackdrop() {
    const lines = textarea.value.split("\n");
    const current = selected >= 0 && sentences[selected] ? sentences[selected].line : 0;
    while (backdrop.children.length > lines.length) backdrop.lastChild.remove();
    lines.forEach((text, index) => {
      let row = backdrop.children[index];
      if (!row) row = backdrop.appendChild(h("div", { class: "line" }));
      const content = text || "\u200b"; // an empty line still needs its height
      if (row.textContent !== content) row.textContent = content;
      row.classList.toggle("bad", error?.line === index + 1);
      row.classList.toggle("current", current === index + 1);
    });
    // Grow with the text, so the page scrolls and the backdrop never needs to (the page's
    // scroll position is kept: collapsing the height for a moment would move it).
    const scrollY = window.scrollY;
    textarea.style.height = "auto";
    textarea.style.height = `${textarea.scrollHeight}px`;
    if (window.scrollY !== scrollY) window.scrollTo(window.scrollX, scrollY);
  }

  function chip(sentence) {
    if (!sentence.emotion) return h("span", { class: "chip chip-untagged" }, "untagged");
    const label = sentence.intensity < 1
      ? `${sentence.emotion} ${Number(sentence.intensity.toFixed(2))}` : sentence.emotion;
    return h("span", { class: `chip chip-${sentence.emotion}` }, label);
  }

  function drawSentences() {
    if (selected >= sentences.length) selected = -1;
    const hadFocus = list.contains(document.activeElement) ? [...list.querySelectorAll("button")].indexOf(document.activeElement) : -1;
    replace(list, sentences.map((sentence, index) => h("li", {},
      h("button", {
        type: "button", class: "sentence", "aria-pressed": String(index === selected),
        onclick: () => select(index),
      }, h("span", { class: "sentence-text" }, sentence.text), chip(sentence)))));
    if (hadFocus >= 0) list.querySelectorAll("button")[Math.min(hadFocus, sentences.length - 1)]?.focus();
    if (error) listNote.textContent = "Fix the error above to see the sentences.";
    else if (!sentences.length) listNote.textContent = "No sentences yet: write your script above.";
    else listNote.textContent = "Choose a sentence to set its emotion.";
    choose.hidden = selected < 0;
    if (selected >= 0) {
      selectedText.replaceChildren("Selected: ", h("q", {}, sentences[selected].text));
    }
  }

  function drawError() {
    errorBox.textContent = error ? describeError(error) : "";
    if (error) textarea.setAttribute("aria-invalid", "true");
    else textarea.removeAttribute("aria-invalid");
    applyButton.disabled = Boolean(error);
  }

  function drawStatus() {
    if (saving) saveStatus.textContent = "Saving…";
    else saveStatus.textContent = isDirty() ? "Unsaved changes" : "Saved";
  }

  function select(index) {
    selected = index;
    const sentence = sentences[index];
    emotionSelect.value = sentence.emotion
      ?? (analysis?.text === textarea.value ? analysis.sentences[index]?.emotion : null) ?? "neutral";
    drawSentences();
    drawBackdrop();
  }

  // --- Checking

  /** Parse locally; an empty script is simply "nothing yet", not an error. */
  function checkLocally() {
    const text = textarea.value;
    if (!text.trim()) {
      sentences = [];
      error = null;
    } else {
      const result = checkScript(text);
      sentences = result.sentences;
      error = result.error;
    }
    drawError();
    drawSentences();
    drawBackdrop();
  }

  async function analyze(text) {
    if (analysis?.text === text) return analysis.sentences;
    const answer = await api("/api/scripts/analyze", { method: "POST", body: { text } });
    analysis = { text, sentences: answer.sentences };
    return answer.sentences;
  }

  async function checkOnServer() {
    const text = textarea.value;
    if (!text.trim() || error) return; // local errors are shown already
    try {
      await analyze(text);
      if (textarea.value === text && error) { error = null; drawError(); drawBackdrop(); }
    } catch (failure) {
      if (textarea.value === text && failure.status === 422) showError(failure);
      // Other failures (offline, rate limit) leave the local check standing.
    }
  }

  const checkSoon = debounce(checkLocally, LOCAL_CHECK_MS);
  const checkServerSoon = debounce(checkOnServer, SERVER_CHECK_MS);

  /** Show a server error (422 with line and column) on the script. */
  function showError(failure) {
    error = { detail: failure.detail, line: failure.line, column: failure.column };
    drawError();
    drawSentences();
    drawBackdrop();
  }

  // --- Changing the text

  // Replace the whole text as one undoable edit where the browser allows it.
  function setText(text) {
    const focused = document.activeElement;
    const caret = textarea.selectionStart;
    textarea.focus({ preventScroll: true });
    textarea.select();
    const undoable = document.execCommand?.("insertText", false, text);
    if (!undoable || textarea.value !== text) textarea.value = text;
    textarea.setSelectionRange(Math.min(caret, text.length), Math.min(caret, text.length));
    if (focused && focused !== textarea) focused.focus({ preventScroll: true });
    changed();
    checkSoon.cancel();
    checkLocally();
  }

  function changed() {
    drawStatus();
    drawBackdrop();
    checkSoon();
    checkServerSoon();
  }

  function applySelected() {
    if (selected < 0 || error) return;
    const known = analysis?.text === textarea.value ? analysis.sentences : [];
    const emotion = emotionSelect.value;
    try {
      setText(applyEmotion(textarea.value, selected, emotion, 1, known));
      announce(`Sentence ${selected + 1} is now ${emotion}`);
    } catch (failure) {
      errorBox.textContent = failure.detail ? describeError(failure) : failure.message;
    }
  }

  async function runAutoTag() {
    const text = textarea.value;
    if (!text.trim()) {
      errorBox.textContent = "Write a script first.";
      return;
    }
    autoButton.disabled = true;
    autoButton.setAttribute("aria-busy", "true");
    try {
      const analysed = await analyze(text);
      if (textarea.value !== text) return; // typed meanwhile: the user can press it again
      const local = checkScript(text).sentences;
      if (local.length !== analysed.length) {
        throw new Error("The sentences could not be matched to the script; save and try again.");
      }
      const auto = analysed.filter((sentence) => sentence.source === "auto").length;
      if (auto === 0) {
        announce("Every sentence has an emotion tag already");
        return;
      }
      setText(autoTag(text, analysed));
      announce(`Tagged ${auto} ${auto === 1 ? "sentence" : "sentences"}`);
    } catch (failure) {
      if (failure.status === 422 && failure.line) showError(failure);
      else errorBox.textContent = failure.detail || failure.message;
    } finally {
      autoButton.disabled = false;
      autoButton.removeAttribute("aria-busy");
    }
  }

  function isDirty() {
    return textarea.value !== saved;
  }

  /** PATCH the script if it changed; throws the server's error (also shown here). */
  async function saveNow() {
    if (saving) await saving.catch(() => {});
    if (!isDirty() || destroyed) return;
    const text = textarea.value;
    saving = save(text);
    drawStatus();
    try {
      await saving;
      saved = text;
      if (error && textarea.value === text) { error = null; drawError(); drawSentences(); drawBackdrop(); }
    } catch (failure) {
      if (failure.status === 422 && failure.line) showError(failure);
      else errorBox.textContent = `Could not save: ${failure.detail || failure.message}`;
      throw failure;
    } finally {
      saving = null;
      if (!destroyed) drawStatus();
    }
  }

  textarea.addEventListener("input", changed);
  textarea.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
      event.preventDefault();
      saveNow().catch(() => {});
    }
  });
  const onResize = debounce(drawBackdrop, 100);
  window.addEventListener("resize", onResize);

  checkLocally();
  requestAnimationFrame(drawBackdrop); // heights are right once the element is in the page
  if (script.trim()) checkServerSoon();

  return {
    element,
    save: saveNow,
    isDirty,
    showError,
    /** The server has a new script (changed elsewhere): show it unless we have edits. */
    setSaved(text) {
      if (isDirty() || text === textarea.value) { saved = text; drawStatus(); return; }
      saved = text;
      textarea.value = text;
      changed();
    },
    destroy() {
      destroyed = true;
      checkSoon.cancel();
      checkServerSoon.cancel();
      window.removeEventListener("resize", onResize);
    },
  };
}
