// The editor's "Voice" section: the project's voice (the catalogue, GET /api/voices, or
// the person's own recording), recording with the microphone, and the trickster effect:
// a preset (saved as the project's effect), three sliders, and "Try the effect" on the
// recording (POST /api/audio/trickster).

import { api, apiBlob } from "../api.js";
import { announce, h, replace, uid } from "../dom.js";

const RECORDING_PREFIX = "recording:";
const MIN_RECORDING_MS = 600; // the server wants at least 0.5 s of sound
const SLIDERS = [
  { key: "pitch_semitones", label: "Pitch (semitones)", min: -12, max: 12, step: 1, neutral: 0,
    show: (value) => `${value > 0 ? "+" : ""}${value}` },
  { key: "formant_ratio", label: "Formant", min: 0.5, max: 2, step: 0.05, neutral: 1,
    show: (value) => `×${value.toFixed(2)}` },
  { key: "tempo_ratio", label: "Tempo", min: 0.5, max: 2, step: 0.05, neutral: 1,
    show: (value) => `×${value.toFixed(2)}` },
];
function microphoneProblem(error) {
  switch (error?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Microphone permission was denied. Allow the microphone for this site and try again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No microphone was found. Connect one and try again.";
    case "NotReadableError":
      return "The microphone is in use by another program, or could not be started.";
    default:
      return `Could not record: ${error?.message || error}`;
  }
}

function recordingName(type) {
  const extension = /ogg/.test(type) ? "ogg" : /mp4|aac/.test(type) ? "m4a" : /wav/.test(type) ? "wav" : "webm";
  return `recording.${extension}`;
}

/**
 * @param {object} options
 * @param {() => object} options.project the project as it is now (settings.voice, .effect)
 * @param {(changes: object) => Promise} options.saveSettings merges changes into settings
 */
export function createVoicePanel({ project, saveSettings }) {
  let catalogue = { voices: [], effects: [] };
  let recorder = null;
  let stream = null;
  let chunks = [];
  let startedAt = 0;
  let recording = null; // {blob, url}
  let resultUrl = null;
  let slidersMoved = false;
  let gone = false;

  // --- The voice

  const voiceId = uid("voice");
  const voiceSelect = h("select", { id: voiceId, onchange: chooseVoice });
  const voiceAlert = h("p", { class: "alert", role: "alert" });
  const voiceField = h("div", { class: "field" }, h("label", { for: voiceId }, "Voice"), voiceSelect);

  // --- Recording

  const recordButton = h("button", { type: "button", class: "button", onclick: toggleRecording },
    "Start recording");
  const recordStatus = h("p", { class: "upload-status", role: "status" });
  const recordAlert = h("p", { class: "alert", role: "alert" });
  const recordingAudio = h("audio", { controls: true, "aria-label": "Your recording", hidden: true });
  const useButton = h("button", { type: "button", class: "button button-primary", hidden: true,
                                  onclick: useRecording }, "Use this recording");

  // --- Trickster

  const presetId = uid("effect-preset");
  const presetSelect = h("select", { id: presetId, onchange: choosePreset });
  const sliders = {};
  const outputs = {};
  const sliderFields = SLIDERS.map(({ key, label, min, max, step, neutral, show }) => {
    const id = uid(key);
    outputs[key] = h("output", { for: id, class: "slider-value", "aria-hidden": "true" }, show(neutral));
    sliders[key] = h("input", {
      type: "range", id, min: String(min), max: String(max), step: String(step), value: String(neutral),
      oninput: () => { slidersMoved = true; showValue(key); },
    });
    return h("div", { class: "field slider-field" },
      h("div", { class: "slider-head" }, h("label", { for: id }, label), outputs[key]),
      sliders[key]);
  });
  const tryButton = h("button", { type: "button", class: "button", onclick: tryEffect }, "Try the effect");
  const effectStatus = h("p", { class: "upload-status", role: "status" });
  const effectAlert = h("p", { class: "alert", role: "alert" });
  const resultAudio = h("audio", { controls: true, "aria-label": "Effect result", hidden: true });

  const element = h("div", { class: "stack voice-panel" },
    voiceField, voiceAlert,
    h("div", { class: "stack voice-record" },
      h("h3", {}, "Record your voice"),
      h("div", { class: "toolbar" }, recordButton, useButton),
      recordStatus, recordAlert, recordingAudio),
    h("div", { class: "stack voice-effect" },
      h("h3", {}, "Trickster"),
      h("div", { class: "field" }, h("label", { for: presetId }, "Effect preset"), presetSelect),
      h("div", { class: "slider-grid" }, sliderFields),
      tryButton, effectStatus, effectAlert, resultAudio));

  function showValue(key) {
    const spec = SLIDERS.find((slider) => slider.key === key);
    outputs[key].textContent = spec.show(Number(sliders[key].value));
  }

  function setSliders(values) {
    for (const { key, neutral } of SLIDERS) {
      sliders[key].value = String(values?.[key] ?? neutral);
      showValue(key);
    }
    slidersMoved = false;
  }

  function renderVoices() {
    const current = project().settings.voice ?? "";
    const fallback = catalogue.voices.find((voice) => voice.default);
    const options = [h("option", { value: "" }, fallback ? `Default (${fallback.name})` : "Default")];
    for (const voice of catalogue.voices) options.push(h("option", { value: voice.name }, voice.label));
    if (current.startsWith(RECORDING_PREFIX)) {
      options.push(h("option", { value: current }, "Your recording"));
    } else if (current && !catalogue.voices.some((voice) => voice.name === current)) {
      options.push(h("option", { value: current }, current));
    }
    replace(voiceSelect, options);
    voiceSelect.value = current;
  }

  function renderPresets() {
    const current = project().settings.effect ?? "";
    const options = [h("option", { value: "" }, "None")];
    for (const effect of catalogue.effects) {
      options.push(h("option", { value: effect.name }, effect.stock ? effect.name : `${effect.name} (yours)`));
    }
    if (current && !catalogue.effects.some((effect) => effect.name === current)) {
      options.push(h("option", { value: current }, current));
    }
    replace(presetSelect, options);
    presetSelect.value = current;
    setSliders(catalogue.effects.find((effect) => effect.name === current));
  }

  async function load() {
    try {
      catalogue = await api("/api/voices");
    } catch (error) {
      voiceAlert.textContent = `Could not load the voices: ${error.detail || error.message}`;
    }
    if (gone) return;
    renderVoices();
    renderPresets();
  }

  async function chooseVoice() {
    voiceAlert.textContent = "";
    const value = voiceSelect.value || null;
    try {
      await saveSettings({ voice: value });
      announce(`Voice: ${voiceSelect.selectedOptions[0]?.textContent ?? "default"}`);
    } catch (error) {
      voiceAlert.textContent = `Could not change the voice: ${error.detail || error.message}`;
      renderVoices();
    }
  }

  async function choosePreset() {
    effectAlert.textContent = "";
    const name = presetSelect.value || null;
    setSliders(catalogue.effects.find((effect) => effect.name === name));
    try {
      await saveSettings({ effect: name });
      announce(`Effect: ${name ?? "none"}`);
    } catch (error) {
      effectAlert.textContent = `Could not change the effect: ${error.detail || error.message}`;
    }
  }

  // --- Recording

  function stopTracks() {
    stream?.getTracks().forEach((track) => track.stop());
    stream = null;
  }

  async function toggleRecording() {
    if (recorder && recorder.state === "recording") {
      if (Date.now() - startedAt < MIN_RECORDING_MS) {
        await new Promise((resolve) => setTimeout(resolve, MIN_RECORDING_MS - (Date.now() - startedAt)));
      }
      recorder.stop();
      return;
    }
    recordAlert.textContent = "";
    if (!navigator.mediaDevices?.getUserMedia || typeof MediaRecorder === "undefined") {
      recordAlert.textContent = "This browser cannot record audio here (it needs a secure page and a microphone).";
      return;
    }
    recordButton.disabled = true;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      recordButton.disabled = false;
      recordAlert.textContent = microphoneProblem(error);
      return;
    }
    if (gone) { stopTracks(); return; }
    chunks = [];
    try {
      recorder = new MediaRecorder(stream);
    } catch (error) {
      stopTracks();
      recordButton.disabled = false;
      recordAlert.textContent = microphoneProblem(error);
      return;
    }
    recorder.addEventListener("dataavailable", (event) => { if (event.data.size) chunks.push(event.data); });
    recorder.addEventListener("stop", finishRecording);
    recorder.start();
    startedAt = Date.now();
    recordButton.textContent = "Stop recording";
    recordButton.setAttribute("aria-pressed", "true");
    recordButton.disabled = false;
    recordStatus.textContent = "Recording…";
  }

  function finishRecording() {
    const type = recorder?.mimeType || chunks[0]?.type || "audio/webm";
    stopTracks();
    recorder = null;
    recordButton.textContent = "Start recording";
    recordButton.removeAttribute("aria-pressed");
    if (gone) return;
    const blob = new Blob(chunks, { type });
    chunks = [];
    if (!blob.size) {
      recordStatus.textContent = "";
      recordAlert.textContent = "Nothing was recorded. Check the microphone and try again.";
      return;
    }
    if (recording) URL.revokeObjectURL(recording.url);
    recording = { blob, url: URL.createObjectURL(blob) };
    recordingAudio.src = recording.url;
    recordingAudio.hidden = false;
    useButton.hidden = false;
    useButton.disabled = false;
    recordStatus.textContent = `Recorded ${((Date.now() - startedAt) / 1000).toFixed(1)} s.`;
  }

  /** settings.voice for an uploaded recording: recording:<storage key>. */
  async function voiceOfAsset(asset) {
    return (await api(`/api/voices/recordings/${asset.id}`)).voice;
  }

  async function useRecording() {
    if (!recording) return;
    recordAlert.textContent = "";
    useButton.disabled = true;
    recordStatus.textContent = "Uploading the recording…";
    try {
      const form = new FormData();
      form.append("file", recording.blob, recordingName(recording.blob.type));
      form.append("kind", "audio");
      const asset = await api("/api/assets", { method: "POST", body: form });
      const voice = await voiceOfAsset(asset);
      await saveSettings({ voice });
      renderVoices();
      recordStatus.textContent = "Your recording is the project's voice.";
      announce("Voice: your recording");
    } catch (error) {
      recordStatus.textContent = "";
      recordAlert.textContent = `Could not use the recording: ${error.detail || error.message}`;
    } finally {
      useButton.disabled = false;
    }
  }

  // --- Trickster

  async function tryEffect() {
    effectAlert.textContent = "";
    if (!recording) {
      effectAlert.textContent = "Record your voice first (Start recording), then try the effect on it.";
      return;
    }
    const preset = presetSelect.value || null;
    const form = new FormData();
    form.append("file", recording.blob, recordingName(recording.blob.type));
    if (preset) form.append("preset", preset);
    if (!preset || slidersMoved) {
      for (const { key } of SLIDERS) form.append(key, sliders[key].value);
    }
    tryButton.disabled = true;
    effectStatus.textContent = "Applying the effect…";
    try {
      const result = await api("/api/audio/trickster", { method: "POST", body: form });
      let url = result.url;
      if (url.startsWith("/api/assets/")) {
        if (resultUrl) URL.revokeObjectURL(resultUrl);
        resultUrl = URL.createObjectURL(await apiBlob(url));
        url = resultUrl;
      }
      if (gone) return;
      resultAudio.src = url;
      resultAudio.hidden = false;
      effectStatus.textContent = `Done: ${result.duration_s.toFixed(1)} s. Play it below.`;
    } catch (error) {
      effectStatus.textContent = "";
      effectAlert.textContent = `Could not apply the effect: ${error.detail || error.message}`;
    } finally {
      tryButton.disabled = false;
    }
  }

  load();

  return {
    element,
    /** The project's settings changed elsewhere: show its voice and effect. */
    setSettings(settings) {
      if ((settings.voice ?? "") !== voiceSelect.value) renderVoices();
      if ((settings.effect ?? "") !== presetSelect.value) renderPresets();
    },
    destroy() {
      gone = true;
      if (recorder && recorder.state !== "inactive") recorder.stop();
      stopTracks();
      if (recording) URL.revokeObjectURL(recording.url);
      if (resultUrl) URL.revokeObjectURL(resultUrl);
    },
  };
}
