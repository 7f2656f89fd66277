// The realtime WebSocket (/api/realtime): joins with the user's topics, re-joins with a
// fresh token whenever it closes, and tells screens when it (re)opens so they can
// re-read what they show over HTTP (events sent while it was down are not replayed).
//
// Events dispatched on `realtime`: "message" (detail = the server's message),
// "open" (joined; screens re-read state), "down" (closed; screens may poll instead).

import { freshToken, refreshSession, sessionEvents, accessToken } from "./session.js";

const PING_EVERY_MS = 25000;
const MAX_BACKOFF_MS = 30000;
const BAD_TOKEN = 4001;
const NOT_ALLOWED = 4003;

class Realtime extends EventTarget {
  constructor() {
    super();
    this.socket = null;
    this.connected = false;
    this.topics = new Set(["export_jobs"]);
    this.backoff = 1000;
    this.retryTimer = null;
    this.pingTimer = null;
    this.wanted = false;
  }

  /** Start (or keep) the connection; safe to call repeatedly. */
  start() {
    this.wanted = true;
    if (!this.socket) this.open();
  }

  /** Close for good (sign-out). */
  stop() {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    this.topics = new Set(["export_jobs"]);
    this.closeSocket();
  }

  /** Follow more topics (e.g. "project:<id>"); remembered across reconnects. */
  subscribe(topics) {
    const fresh = topics.filter((topic) => !this.topics.has(topic));
    fresh.forEach((topic) => this.topics.add(topic));
    if (fresh.length && this.connected) this.send({ type: "subscribe", topics: fresh });
  }

  unsubscribe(topics) {
    const gone = topics.filter((topic) => topic !== "export_jobs" && this.topics.has(topic));
    gone.forEach((topic) => this.topics.delete(topic));
    if (gone.length && this.connected) this.send({ type: "unsubscribe", topics: gone });
  }

  /** Reconnect now (a fresh token was issued, the old join ends at its expiry). */
  restart() {
    if (!this.wanted) return;
    this.closeSocket();
    clearTimeout(this.retryTimer);
    this.open();
  }

  send(message) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  async open() {
    clearTimeout(this.retryTimer);
    const token = await freshToken();
    if (!token || !this.wanted || this.socket) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/api/realtime?token=${encodeURIComponent(token)}`;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "join", topics: [...this.topics] }));
    });
    socket.addEventListener("message", (event) => {
      if (socket !== this.socket) return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type === "joined") {
        this.connected = true;
        this.backoff = 1000;
        clearInterval(this.pingTimer);
        this.pingTimer = setInterval(() => this.send({ type: "ping" }), PING_EVERY_MS);
        this.dispatchEvent(new CustomEvent("open"));
      }
      this.dispatchEvent(new CustomEvent("message", { detail: message }));
    });
    socket.addEventListener("close", (event) => this.closed(socket, event));
  }

  closeSocket() {
    const socket = this.socket;
    this.socket = null;
    clearInterval(this.pingTimer);
    if (socket) socket.close(1000);
    if (this.connected) {
      this.connected = false;
      this.dispatchEvent(new CustomEvent("down"));
    }
  }

  async closed(socket, event) {
    if (socket !== this.socket) return; // an old socket we replaced
    this.socket = null;
    clearInterval(this.pingTimer);
    const wasConnected = this.connected;
    this.connected = false;
    if (wasConnected) this.dispatchEvent(new CustomEvent("down"));
    if (!this.wanted) return;
    if (event.code === BAD_TOKEN) await refreshSession(); // expired: join with a new one
    if (event.code === NOT_ALLOWED) {
      // A project topic that is gone (deleted): follow only the jobs from now on.
      this.topics = new Set(["export_jobs"]);
    }
    if (!accessToken()) return;
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    this.retryTimer = setTimeout(() => this.open(), wait);
  }
}

export const realtime = new Realtime();

// Follow the session: a refreshed token means re-joining with it before the old expires.
sessionEvents.addEventListener("change", (event) => {
  const reason = event.detail.reason;
  if (reason === "signout") realtime.stop();
  else if (reason === "refresh") realtime.restart();
});

/** Listen to one event type; returns a function that stops listening. */
export function onRealtime(type, handler) {
  const listener = (event) => handler(event.detail);
  realtime.addEventListener(type, listener);
  return () => realtime.removeEventListener(type, listener);
}

/** Listen to server messages of one `type` ("export_job", "project"). */
export function onMessage(type, handler) {
  return onRealtime("message", (message) => {
    if (message.type === type) handler(message);
  });
}
