// Script markup, parsed in the browser: a port of tasks/emotion/markup.py that also keeps
// where each sentence starts in the text, so tags can be inserted at the right place.
// Pure functions only (no DOM), so they are easy to reason about and to test.
//
//   # a comment line
//   [joy] Hello everyone!          emotion for the following text, until the next tag
//   [sadness:0.6] A quieter line.  optional intensity 0..1 (default 1)
//   [pause 0.8]                    silence, in seconds

export const EMOTIONS = ["neutral", "joy", "sadness", "anger", "fear", "surprise", "disgust"];
export const MAX_PAUSE_S = 10;

const NUMBER = String.raw`[-+]?(?:\d+(?:\.\d*)?|\.\d+)`;
const EMOTION_TAG = /^\s*([A-Za-z]+)\s*(?::\s*(\S*))?\s*$/;
const PAUSE_TAG = /^\s*pause\s*(.*?)\s*$/i;
const SENTENCE_END = /(?<=[.!?…])["')\]]*\s+/g;
const SPEAKABLE = /[\p{L}\p{N}_]/u;
const ENDS_SENTENCE = /[.!?…]["')\]]*$/;

// Same words the server suggests for, so the local hint reads like the server's.
const SYNONYMS = {
  happy: "joy", happiness: "joy", glad: "joy", excited: "joy", sad: "sadness",
  angry: "anger", mad: "anger", furious: "anger", afraid: "fear", scared: "fear",
  fearful: "fear", surprised: "surprise", shocked: "surprise", disgusted: "disgust",
  calm: "neutral", normal: "neutral", none: "neutral",
};

/** A markup problem at a 1-based line and column (like the server's 422). */
export class MarkupError extends Error {
  constructor(detail, line, column) {
    super(detail);
    this.detail = detail;
    this.line = line;
    this.column = column;
  }
}

/**
 * Parse a script into its sentences.
 * @returns {{sentences: Array<{text, emotion, intensity, line, start, end, scope}>}}
 *   emotion is null for untagged text; start/end are offsets into `text`; scope is the
 *   offset of the emotion tag that governs the sentence (-1 when none).
 * @throws {MarkupError} for the first problem, as the server would report it.
 */
export function parseScript(text) {
  const items = []; // sentences and pauses, in order (pauses break sentence merging)
  let emotion = null;
  let intensity = 1;
  let scope = -1;
  let lineStart = 0;
  const lines = text.split("\n");
  lines.forEach((rawLine, index) => {
    const lineNo = index + 1;
    const line = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
    const base = lineStart;
    lineStart += rawLine.length + 1;
    if (line.trimStart().startsWith("#")) return;
    const tag = /\[([^[\]]*)\]/g;
    let pos = 0;
    let match;
    while ((match = tag.exec(line)) !== null) {
      checkBrackets(line, pos, match.index, lineNo);
      addSpeech(items, line.slice(pos, match.index), base + pos,
                { emotion, intensity, scope, line: lineNo });
      const column = match.index + 1;
      const body = match[1];
      const pause = PAUSE_TAG.exec(body);
      if (pause) {
        items.push({ kind: "pause", seconds: parsePause(pause[1], lineNo, column) });
      } else {
        [emotion, intensity] = parseEmotion(body, lineNo, column);
        scope = base + match.index;
      }
      pos = match.index + match[0].length;
    }
    checkBrackets(line, pos, line.length, lineNo);
    addSpeech(items, line.slice(pos), base + pos, { emotion, intensity, scope, line: lineNo });
  });
  const sentences = items.filter((item) => item.kind === "speech");
  if (sentences.length === 0) throw new MarkupError("the script has no text to speak", null, null);
  return { sentences: sentences.map(({ kind, ...rest }) => rest) };
}

/** Parse, but answer {sentences, error} instead of throwing (for the editor while typing). */
export function checkScript(text) {
  try {
    return { sentences: parseScript(text).sentences, error: null };
  } catch (error) {
    if (!(error instanceof MarkupError)) throw error;
    return { sentences: [], error };
  }
}

function checkBrackets(line, start, end, lineNo) {
  const piece = line.slice(start, end);
  const found = [piece.indexOf("["), piece.indexOf("]")].filter((i) => i >= 0);
  if (found.length === 0) return;
  const bad = Math.min(...found);
  const what = piece[bad] === "[" ? "an unclosed '['" : "a ']' without '['";
  throw new MarkupError(`${what} (write tags like [joy] or [pause 0.5])`, lineNo, start + bad + 1);
}

function parseEmotion(body, line, column) {
  const match = EMOTION_TAG.exec(body);
  const name = (match ? match[1] : body.trim()).toLowerCase();
  if (!match || !EMOTIONS.includes(name)) {
    const hint = suggest(name);
    throw new MarkupError(
      `unknown tag [${body}]: ${hint ? `did you mean [${hint}]? ` : ""}` +
      `use one of ${EMOTIONS.join(", ")}, ` +
      "optionally with an intensity like [joy:0.5], or [pause 0.8]", line, column);
  }
  const raw = match[2];
  if (raw === undefined) return [name, 1];
  if (!new RegExp(`^${NUMBER}$`).test(raw)) {
    throw new MarkupError(`intensity '${raw}' in [${body}] is not a number between 0 and 1`,
                          line, column);
  }
  const value = Number(raw);
  if (!(value >= 0 && value <= 1)) {
    throw new MarkupError(`intensity ${raw} in [${body}] is outside 0..1`, line, column);
  }
  return [name, Math.abs(value)];
}

function suggest(name) {
  const word = name.split(/\s+/).filter(Boolean)[0] ?? "";
  if (SYNONYMS[word]) return SYNONYMS[word];
  // A cheap stand-in for difflib: a known name that differs by at most two edits.
  let best = null;
  let bestDistance = 3;
  for (const candidate of [...EMOTIONS, "pause"]) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance && distance <= Math.max(1, Math.floor(candidate.length / 3))) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a, b) {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i += 1) {
    const row = [i];
    for (let j = 1; j <= b.length; j += 1) {
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1,
                        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length];
}

function parsePause(raw, line, column) {
  let value = raw;
  if (new RegExp(`^${NUMBER}\\s*s$`).test(value)) value = value.slice(0, -1).trimEnd();
  if (!new RegExp(`^${NUMBER}$`).test(value)) {
    throw new MarkupError(`pause length '${raw}' is not a number of seconds (write [pause 0.8])`,
                          line, column);
  }
  const seconds = Number(value);
  if (seconds < 0) throw new MarkupError(`pause of ${value} s is negative`, line, column);
  if (seconds > MAX_PAUSE_S) {
    throw new MarkupError(`pause of ${value} s is longer than the ${MAX_PAUSE_S} s limit`,
                          line, column);
  }
  return seconds;
}

/** Split running text into sentences, each with the offset where it starts and ends. */
export function splitSentences(piece, offset = 0) {
  const parts = [];
  let from = 0;
  const push = (end) => {
    const raw = piece.slice(from, end);
    const lead = raw.length - raw.trimStart().length;
    const text = raw.trim().split(/\s+/).join(" ");
    if (text) {
      parts.push({ text, start: offset + from + lead, end: offset + from + raw.trimEnd().length });
    }
  };
  SENTENCE_END.lastIndex = 0;
  let match;
  while ((match = SENTENCE_END.exec(piece)) !== null) {
    push(match.index);
    from = match.index + match[0].length;
  }
  push(piece.length);
  return parts;
}

function addSpeech(items, piece, offset, state) {
  for (const part of splitSentences(piece, offset)) {
    if (!SPEAKABLE.test(part.text)) continue;
    const previous = items[items.length - 1];
    // A sentence that runs over a line break continues the previous one.
    if (previous && previous.kind === "speech" && previous.emotion === state.emotion &&
        previous.intensity === state.intensity && !ENDS_SENTENCE.test(previous.text)) {
      previous.text = `${previous.text} ${part.text}`;
      previous.end = part.end;
      continue;
    }
    items.push({ kind: "speech", text: part.text, emotion: state.emotion,
                 intensity: state.intensity, line: state.line, scope: state.scope,
                 start: part.start, end: part.end });
  }
}

/** The tag for an emotion: `[joy]`, or `[joy:0.6]` below full intensity (2 decimals). */
export function formatTag(emotion, intensity = 1) {
  if (intensity === undefined || intensity === null || intensity >= 1) return `[${emotion}]`;
  const rounded = Number(Number(intensity).toFixed(2));
  return rounded >= 1 ? `[${emotion}]` : `[${emotion}:${rounded}]`;
}

/** Insert strings at offsets (applied from the end, so earlier offsets stay valid). */
export function insertAt(text, insertions) {
  const sorted = [...insertions].sort((a, b) => b.at - a.at);
  let out = text;
  for (const { at, text: piece } of sorted) out = out.slice(0, at) + piece + out.slice(at);
  return out;
}

/**
 * Give one sentence an emotion: put `[emotion]` right before it (replacing a tag that is
 * already directly before it), and put the old emotion back after it when the following
 * sentence was governed by the same tag, so later sentences keep what they had.
 * @param {string} text the script
 * @param {number} index which sentence (as parseScript numbers them)
 * @param {string} emotion the new emotion
 * @param {number} intensity the new intensity (default 1)
 * @param {Array<{emotion, intensity}>} [known] emotions the server gave each sentence,
 *   used to keep an untagged next sentence as it was analysed
 * @returns {string} the new script
 */
export function applyEmotion(text, index, emotion, intensity = 1, known = []) {
  const { sentences } = parseScript(text);
  const sentence = sentences[index];
  if (!sentence) throw new RangeError(`no sentence ${index}`);
  const next = sentences[index + 1];
  const edits = [];
  if (next && next.scope === sentence.scope) {
    const keep = next.emotion ? next : known[index + 1];
    if (keep && keep.emotion) edits.push({ at: next.start, text: `${formatTag(keep.emotion, keep.intensity)} ` });
  }
  const tag = formatTag(emotion, intensity);
  const before = text.slice(sentence.scope >= 0 ? sentence.scope : 0, sentence.start);
  const governingTag = sentence.scope >= 0 && /^\[[^[\]]*\]\s*$/.test(before);
  let out = insertAt(text, edits);
  if (governingTag) {
    // The tag just before the sentence is its own: replace it instead of stacking another.
    const tagEnd = text.indexOf("]", sentence.scope) + 1;
    out = out.slice(0, sentence.scope) + tag + out.slice(tagEnd);
  } else {
    out = insertAt(out, [{ at: sentence.start, text: `${tag} ` }]);
  }
  return out;
}

/**
 * Write the server's automatic emotions into the script: an explicit tag before every
 * sentence whose source is "auto".
 * @param {string} text the script
 * @param {Array<{emotion, intensity, source}>} analysed POST /api/scripts/analyze's sentences
 */
export function autoTag(text, analysed) {
  const { sentences } = parseScript(text);
  const edits = [];
  analysed.forEach((item, i) => {
    const sentence = sentences[i];
    if (item.source === "auto" && sentence) {
      edits.push({ at: sentence.start, text: `${formatTag(item.emotion, item.intensity)} ` });
    }
  });
  return insertAt(text, edits);
}

/**
 * "Line N, column M: reason" for an error with a place (the server's detail already
 * starts with "line N, column M: ", which is dropped so it is not said twice).
 */
export function describeError({ detail, line, column }) {
  const reason = String(detail ?? "").replace(/^line \d+(?:, column \d+)?: /, "");
  if (!line) return reason;
  return column ? `Line ${line}, column ${column}: ${reason}` : `Line ${line}: ${reason}`;
}
