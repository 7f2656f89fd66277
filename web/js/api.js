// fetch() for /api: adds the bearer token, turns error answers into thrown Errors that
// carry .status, .detail (and .line/.column for script errors), and on a 401 refreshes
// the session once and tries again before sending the user to sign in.

import { accessToken, clearSession, refreshSession, setSession } from "./session.js";

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const detail = describeDetail(body?.detail) || `the request failed (HTTP ${status})`;
    super(detail);
    this.status = status;
    this.detail = detail;
    this.line = body?.line ?? null;
    this.column = body?.column ?? null;
    this.retryAfter = retryAfter;
  }
}

// FastAPI's own validation errors are a list of {loc, msg}: say them in words.
function describeDetail(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((item) => {
      const where = (item.loc ?? []).filter((part) => part !== "body").join(".");
      return where ? `${where}: ${item.msg}` : item.msg;
    }).join("; ");
  }
  return detail ? JSON.stringify(detail) : "";
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = { detail: response.statusText || null };
  }
  return new ApiError(response.status, body, Number(response.headers.get("Retry-After")) || null);
}

function send(path, { method = "GET", body, headers = {}, signal } = {}) {
  const options = { method, headers: { ...headers }, signal };
  const token = accessToken();
  if (token) options.headers.Authorization = `Bearer ${token}`;
  if (body instanceof FormData) {
    options.body = body; // the browser sets the multipart boundary itself
  } else if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  return fetch(path, options);
}

function signedOut() {
  clearSession();
  if (location.hash !== "#/signin") location.hash = "#/signin";
}

/** The raw Response of an authorised request (errors thrown as ApiError). */
export async function request(path, options = {}) {
  const used = accessToken();
  let response = await send(path, options);
  if (response.status === 401 && used) {
    // Refreshed meanwhile (by another request or tab): just try again with the new token.
    if (accessToken() !== used || await refreshSession()) {
      response = await send(path, options);
    }
    if (response.status === 401) {
      const error = await errorOf(response);
      signedOut();
      throw error;
    }
  }
  // Rate limited: wait as asked (briefly) and try a read once more.
  if (response.status === 429 && (options.method ?? "GET") === "GET") {
    const wait = Number(response.headers.get("Retry-After")) || 2;
    if (wait <= 10) {
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      response = await send(path, options);
    }
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

/** JSON of an authorised request; null for 204. */
export async function api(path, options = {}) {
  const response = await request(path, options);
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/** A Blob of an authorised download (asset content that needs the bearer header). */
export async function apiBlob(path, options = {}) {
  return (await request(path, options)).blob();
}

// --- Accounts: these calls carry no bearer token and must not trigger a refresh.

async function authCall(path, body, headers = {}) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await errorOf(response);
  return response.status === 204 ? null : response.json();
}

export async function signIn(email, password) {
  setSession(await authCall("/api/auth/signin", { email, password }), "signin");
}

export async function signUp(email, password) {
  setSession(await authCall("/api/auth/signup", { email, password }), "signin");
}

/** Local single-user mode: the one-time code of the link `aura serve` printed. */
export async function signInByLink(code) {
  setSession(await authCall("/api/auth/link", { code }), "signin");
}

/** Sign out on the server (best effort) and forget the tokens here. */
export async function signOut(refreshToken) {
  try {
    // The access token too: with Supabase Auth, it names the session to end.
    const token = accessToken();
    if (refreshToken) {
      await authCall("/api/auth/signout", { refresh_token: refreshToken },
                     token ? { Authorization: `Bearer ${token}` } : {});
    }
  } catch {
    // The tokens are forgotten here either way.
  }
  clearSession();
}
