// The signed-in session: tokens kept in localStorage ("aura.session") so a reload stays
// signed in, refreshed shortly before they expire. Other modules listen for "change".

const KEY = "aura.session";
const REFRESH_EARLY_S = 60; // refresh this long before the access token runs out

export const sessionEvents = new EventTarget();

let current = load();
let refreshTimer = null;
let refreshing = null; // one refresh at a time: a refresh token works only once

function load() {
  try {
    const stored = JSON.parse(localStorage.getItem(KEY));
    return stored && stored.access_token && stored.refresh_token ? stored : null;
  } catch {
    return null;
  }
}

function announce(reason) {
  sessionEvents.dispatchEvent(new CustomEvent("change", { detail: { reason } }));
}

/** The session ({access_token, refresh_token, expires_at (ms), user}) or null. */
export function getSession() {
  return current;
}

export function accessToken() {
  return current?.access_token ?? null;
}

/** Keep the answer of signin, signup or refresh. */
export function setSession(answer, reason = "signin") {
  current = {
    access_token: answer.access_token,
    refresh_token: answer.refresh_token,
    expires_at: Date.now() + Number(answer.expires_in ?? 3600) * 1000,
    user: answer.user ?? current?.user ?? null,
  };
  localStorage.setItem(KEY, JSON.stringify(current));
  scheduleRefresh();
  announce(reason);
}

export function clearSession() {
  const had = current !== null;
  current = null;
  localStorage.removeItem(KEY);
  clearTimeout(refreshTimer);
  if (had) announce("signout");
}

/**
 * Trade the refresh token for new tokens. Resolves true when it worked; false when the
 * session is over (then the session is cleared). Concurrent callers share one request,
 * and tabs take turns (a Web Lock where there is one): a refresh token is good for one
 * refresh, and sending a spent one again makes the server end the whole session.
 */
export function refreshSession() {
  if (refreshing) return refreshing;
  refreshing = withLock(refreshNow).finally(() => { refreshing = null; });
  return refreshing;
}

function withLock(task) {
  if (navigator.locks?.request) return navigator.locks.request("aura.refresh", task);
  return task();
}

async function refreshNow() {
  // Another tab may have refreshed already: its tokens are ours too (ours is spent).
  const stored = load();
  if (stored && current && stored.refresh_token !== current.refresh_token) {
    current = stored;
    scheduleRefresh();
    announce("refresh");
    if (stored.expires_at - Date.now() > REFRESH_EARLY_S * 1000) return true;
  }
  const used = current?.refresh_token;
  if (!used) return false;
  try {
    const response = await fetch("/api/auth/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: used }),
    });
    if (response.ok) {
      setSession(await response.json(), "refresh");
      return true;
    }
    if (response.status === 401 || response.status === 403 || response.status === 422) {
      clearSession();
    }
    return false;
  } catch {
    return false; // offline: keep the session, try again later
  }
}

/** Refresh first when the access token is about to expire (before opening a socket). */
export async function freshToken() {
  if (current && current.expires_at - Date.now() < REFRESH_EARLY_S * 1000) {
    await refreshSession();
  }
  return accessToken();
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  if (!current) return;
  const wait = Math.max(0, current.expires_at - Date.now() - REFRESH_EARLY_S * 1000);
  // setTimeout cannot wait longer than ~24.8 days; tokens never live that long anyway.
  refreshTimer = setTimeout(async () => {
    const ok = await refreshSession();
    if (!ok && current) refreshTimer = setTimeout(scheduleRefresh, 15000);
  }, Math.min(wait, 2 ** 31 - 1));
}

// Another tab signed in, refreshed or signed out: follow it.
window.addEventListener("storage", (event) => {
  if (event.key !== KEY) return;
  const stored = load();
  if (!stored && current) {
    current = null;
    clearTimeout(refreshTimer);
    announce("signout");
  } else if (stored && stored.access_token !== current?.access_token) {
    const who = current?.user?.id;
    current = stored;
    scheduleRefresh();
    announce(who && who === stored.user?.id ? "refresh" : "signin");
  }
});

scheduleRefresh();
