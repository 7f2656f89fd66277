// The live preview: the avatar's face mesh (MediaPipe's 478 landmarks, textured with the
// avatar's image) speaks the project's script in time with the voice, drawn with Three.js
// before any video is rendered. POST /api/preview gives the neutral mesh and, per rig
// channel, a displacement basis and one weight per frame (tasks/render/preview.py): each
// drawn frame is vertices = neutral + Σ weight · basis at frame floor(currentTime × fps).
//
// For tests the canvas carries data-frames (frames drawn so far) and data-mouth-open (the
// mouth channel's current weight).

import * as THREE from "three";
import { api } from "../api.js";
import { announce, h } from "../dom.js";

// The inner-lip outline (tasks/render/photo.py INNER_LIP_LOOP): the mouth is a hole in
// MediaPipe's tesselation, so a dark cavity is drawn behind it.
const INNER_LIP_LOOP = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308,
  324, 318, 402, 317, 14, 87, 178, 88, 95];
const CAVITY_COLOR = 0x3a1116;
const FACE_MARGIN = 0.45; // of the face's height, around the face in the view

/**
 * @param {object} options
 * @param {string} options.projectId
 * @param {() => Promise} options.beforePreview saves the script (throws on a markup error)
 * @param {(error) => void} options.showScriptError shows a 422 with a line on the script
 * @returns {{element, destroy}}
 */
export function createPreview({ projectId, beforePreview, showScriptError }) {
  let view = null; // the scene of the latest preview
  let destroyed = false;

  const status = h("p", { class: "preview-status", role: "status" });
  const previewButton = h("button", { type: "button", class: "button button-wide", onclick: prepare },
    "Preview");
  const stage = h("div", { class: "preview-stage", hidden: true });
  const element = h("div", { class: "stack preview-panel" }, previewButton, status, stage);

  async function prepare() {
    previewButton.disabled = true;
    status.textContent = "Preparing preview…";
    stopView();
    try {
      await beforePreview();
      const data = await api("/api/preview", { method: "POST", body: { project_id: projectId } });
      if (destroyed) return;
      view = await createView(data);
      if (destroyed) { view.destroy(); return; }
      stage.replaceChildren(view.element);
      stage.hidden = false;
      view.resize();
      view.draw();
      status.textContent = "Ready";
      announce("Preview ready");
    } catch (error) {
      if (destroyed) return;
      if (error.line) showScriptError(error);
      const detail = error.detail || error.message || "the preview could not be prepared";
      status.textContent = detail.charAt(0).toUpperCase() + detail.slice(1);
    } finally {
      previewButton.disabled = false;
    }
  }

  function stopView() {
    view?.destroy();
    view = null;
    stage.replaceChildren();
    stage.hidden = true;
  }

  return {
    element,
    destroy() {
      destroyed = true;
      stopView();
    },
  };
}

/** The Three.js scene, the audio and the play button of one preview answer. */
async function createView(data) {
  const [width, height] = data.texture_size;
  const aspect = width / height;
  const n = data.mesh.vertices.length / 3;

  // Texture coordinates -> world: x right, y up, z towards the viewer, 1 = texture height.
  const toWorld = (source, offset) => {
    const out = new Float32Array(source.length);
    for (let i = 0; i < source.length; i += 3) {
      out[i] = (source[i] - offset) * aspect;
      out[i + 1] = offset - source[i + 1];
      out[i + 2] = -source[i + 2] * aspect;
    }
    return out;
  };
  const neutral = toWorld(data.mesh.vertices, 0.5);
  const channels = Object.entries(data.channels).map(([name, channel]) => ({
    name, basis: toWorld(channel.basis, 0), weights: Float32Array.from(channel.weights),
  }));
  const mouth = channels.find((channel) => channel.name === data.mouth_channel);

  const canvas = h("canvas", { "aria-label": "Live preview", role: "img", class: "preview-canvas",
    "data-frames": "0", "data-mouth-open": "0" });
  let renderer;
  try {
    renderer = new THREE.WebGLRenderer({ canvas, antialias: false, alpha: false });
  } catch {
    throw new Error("this browser cannot draw the preview (WebGL is not available)");
  }
  renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
  renderer.outputColorSpace = THREE.SRGBColorSpace;

  const texture = await new Promise((resolve, reject) => {
    new THREE.TextureLoader().load(data.texture_url, resolve, undefined,
      () => reject(new Error("the avatar's image could not be loaded")));
  });
  texture.colorSpace = THREE.SRGBColorSpace;

  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0x15151b);
  // Soft, even light; the face is unlit (a photo carries its own light), the light is
  // there for anything lit that is added later.
  scene.add(new THREE.HemisphereLight(0xffffff, 0x444444, 1.0));

  const layer = (order) => ({ depthTest: false, depthWrite: false, side: THREE.DoubleSide, order });
  const material = ({ order, ...options }, extra) => {
    const made = new THREE.MeshBasicMaterial({ ...options, ...extra });
    return [made, order];
  };
  const add = (geometry, [mat, order]) => {
    const mesh = new THREE.Mesh(geometry, mat);
    mesh.renderOrder = order;
    mesh.frustumCulled = false;
    scene.add(mesh);
    return mesh;
  };

  // 1. The whole image, still, behind everything (the eyes and the rest of the picture).
  const plane = new THREE.PlaneGeometry(aspect, 1);
  add(plane, material(layer(0), { map: texture }));

  // 2. The mouth's cavity, 3. the face mesh: both follow the same moving vertices.
  const positions = new THREE.BufferAttribute(neutral.slice(), 3);
  positions.setUsage(THREE.DynamicDrawUsage);
  const cavity = new THREE.BufferGeometry();
  cavity.setAttribute("position", positions);
  const fan = [];
  for (let i = 1; i < INNER_LIP_LOOP.length - 1; i += 1) {
    fan.push(INNER_LIP_LOOP[0], INNER_LIP_LOOP[i], INNER_LIP_LOOP[i + 1]);
  }
  cavity.setIndex(fan);
  add(cavity, material(layer(1), { color: CAVITY_COLOR }));

  const face = new THREE.BufferGeometry();
  face.setAttribute("position", positions);
  face.setAttribute("uv", new THREE.BufferAttribute(Float32Array.from(data.mesh.uvs), 2));
  face.setIndex(data.mesh.triangles);
  add(face, material(layer(2), { map: texture }));

  // The camera frames the face (its box and a margin), keeping the canvas's aspect.
  let x0 = Infinity; let x1 = -Infinity; let y0 = Infinity; let y1 = -Infinity;
  for (let i = 0; i < n; i += 1) {
    x0 = Math.min(x0, neutral[3 * i]); x1 = Math.max(x1, neutral[3 * i]);
    y0 = Math.min(y0, neutral[3 * i + 1]); y1 = Math.max(y1, neutral[3 * i + 1]);
  }
  const margin = FACE_MARGIN * (y1 - y0);
  const centre = [(x0 + x1) / 2, (y0 + y1) / 2 - 0.1 * margin];
  const half = [(x1 - x0) / 2 + margin, (y1 - y0) / 2 + margin];
  const camera = new THREE.OrthographicCamera(-1, 1, 1, -1, -10, 10);
  camera.position.set(centre[0], centre[1], 5);

  const audio = h("audio", { preload: "auto", src: data.audio_url, class: "preview-audio" });
  const playButton = h("button", { type: "button", class: "button button-primary", onclick: toggle,
    "aria-pressed": "false" }, "Play preview");
  const time = h("span", { class: "preview-time muted" }, clock(0, data.duration_s));
  const element = h("div", { class: "preview-view" },
    h("div", { class: "preview-frame" }, canvas),
    h("div", { class: "preview-controls" }, playButton, time), audio);

  let frames = 0;
  let shown = -1;
  let raf = 0;
  let playing = false;

  function resize() {
    const box = canvas.parentElement?.getBoundingClientRect();
    const w = Math.max(1, Math.round(box?.width || 320));
    const hgt = Math.max(1, Math.round(w * 5 / 4));
    renderer.setSize(w, hgt, false);
    const view = w / hgt;
    const halfH = Math.max(half[1], half[0] / view);
    camera.left = -halfH * view; camera.right = halfH * view;
    camera.top = halfH; camera.bottom = -halfH;
    camera.updateProjectionMatrix();
    if (!playing) draw();
  }
  const observer = new ResizeObserver(() => resize());

  function pose(frame) {
    const out = positions.array;
    out.set(neutral);
    for (const { basis, weights } of channels) {
      const w = weights[frame];
      if (!w) continue;
      for (let i = 0; i < out.length; i += 1) out[i] += w * basis[i];
    }
    positions.needsUpdate = true;
  }

  function draw() {
    const frame = Math.max(0, Math.min(data.n_frames - 1, Math.floor(audio.currentTime * data.fps)));
    if (frame !== shown) {
      pose(frame);
      shown = frame;
      canvas.dataset.mouthOpen = String(mouth ? mouth.weights[frame] : 0);
      time.textContent = clock(audio.currentTime, data.duration_s);
    }
    renderer.render(scene, camera);
    frames += 1;
    canvas.dataset.frames = String(frames);
  }

  function loop() {
    draw();
    raf = playing ? requestAnimationFrame(loop) : 0;
  }

  async function toggle() {
    if (playing) { audio.pause(); return; }
    try {
      if (audio.ended || audio.currentTime >= data.duration_s) audio.currentTime = 0;
      await audio.play();
    } catch (error) {
      announce(`Could not play the preview: ${error.message}`);
    }
  }

  function setPlaying(next) {
    playing = next;
    playButton.textContent = next ? "Pause preview" : "Play preview";
    playButton.setAttribute("aria-pressed", String(next));
    cancelAnimationFrame(raf);
    raf = next ? requestAnimationFrame(loop) : 0;
    if (!next) draw();
  }
  audio.addEventListener("play", () => setPlaying(true));
  audio.addEventListener("pause", () => setPlaying(false));
  audio.addEventListener("ended", () => setPlaying(false));
  audio.addEventListener("seeked", () => { if (!playing) draw(); });

  return {
    element,
    resize() { observer.observe(canvas.parentElement); resize(); },
    draw,
    destroy() {
      playing = false;
      cancelAnimationFrame(raf);
      observer.disconnect();
      audio.pause();
      audio.removeAttribute("src");
      audio.load();
      plane.dispose(); cavity.dispose(); face.dispose(); texture.dispose();
      scene.traverse((object) => object.material?.dispose());
      renderer.dispose();
    },
  };
}

function clock(seconds, total) {
  const format = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
  return `${format(Math.min(seconds, total))} / ${format(total)}`;
}
