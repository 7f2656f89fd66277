// The shell and hash router. Signed out, every route shows sign-in; signed in, a header
// with navigation wraps the screen of the route. Each screen's mount() returns a cleanup
// function, called when the user leaves it (listeners, timers, object URLs).

import { api, signInByLink, signOut } from "./api.js";
import { h, replace } from "./dom.js";
import { realtime } from "./realtime.js";
import { getSession, sessionEvents } from "./session.js";
import * as signin from "./screens/signin.js";
import * as dashboard from "./screens/dashboard.js";
import * as editor from "./screens/editor.js";
import * as library from "./screens/library.js";

const root = document.getElementById("app");
const AFTER_SIGNIN = "aura.after-signin"; // where to go back to after signing in
const LINK_ERROR = "aura.link-error"; // why a sign-in link did not work (signin.js shows it)
let cleanup = null;
let shell = null; // {main, email, nav links} while signed in
let firstRender = true;

/** The screen and its parameters for a hash like "#/projects/<id>". */
function route(hash) {
  const path = hash.replace(/^#/, "") || "/projects";
  let match;
  if (path === "/signin") return { screen: signin, name: "signin" };
  if (path === "/" || path === "/projects") return { screen: dashboard, name: "projects" };
  if ((match = path.match(/^\/projects\/([^/]+)$/))) {
    return { screen: editor, name: "projects", params: { id: decodeURIComponent(match[1]) } };
  }
  if (path === "/library") return { screen: library, name: "library" };
  return { screen: null, name: "missing" };
}

/** "#/link/<code>": the one-time sign-in link of local mode (`aura serve` prints it). */
async function openSignInLink(code) {
  // Off the address bar and out of the history first: the code works once.
  history.replaceState(null, "", "#/projects");
  try {
    await signInByLink(code); // announces "signin", which renders the dashboard
  } catch (error) {
    sessionStorage.setItem(LINK_ERROR, error.detail || error.message);
    location.replace("#/signin"); // a hash change: the router shows sign-in
  }
}

function render() {
  const link = location.hash.match(/^#\/link\/([^/]+)$/);
  if (link) {
    openSignInLink(decodeURIComponent(link[1]));
    return;
  }
  const signedIn = Boolean(getSession());
  const target = route(location.hash);
  if (!signedIn && target.name !== "signin") {
    sessionStorage.setItem(AFTER_SIGNIN, location.hash || "#/projects");
    location.replace("#/signin"); // fires hashchange, which renders sign-in
    return;
  }
  if (signedIn && target.name === "signin") {
    location.replace(sessionStorage.getItem(AFTER_SIGNIN) || "#/projects");
    sessionStorage.removeItem(AFTER_SIGNIN);
    return;
  }
  if (cleanup) cleanup();
  cleanup = null;

  if (!signedIn) {
    shell = null;
    realtime.stop();
    const main = h("main", { id: "main", class: "page page-narrow", tabindex: "-1" });
    replace(root, main);
    cleanup = signin.mount(main);
  } else {
    if (!shell) buildShell();
    realtime.start();
    for (const [name, link] of Object.entries(shell.links)) {
      if (name === target.name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const main = h("main", { id: "main", class: "page", tabindex: "-1" });
    shell.main.replaceWith(main);
    shell.main = main;
    if (target.screen) {
      cleanup = target.screen.mount(main, target.params ?? {});
    } else {
      replace(main, h("h1", { tabindex: "-1" }, "Page not found"),
              h("p", {}, h("a", { href: "#/projects" }, "Open the dashboard")));
      document.title = "Not found · AuraStudio";
    }
  }
  // Move focus to the new page's heading, so keyboard and screen-reader users start there.
  if (!firstRender) {
    const heading = root.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: true });
    }
    window.scrollTo(0, 0);
  }
  firstRender = false;
}

function buildShell() {
  const session = getSession();
  const email = h("span", { class: "user-email", title: session.user?.email ?? "" },
                  session.user?.email ?? "");
  const links = {
    projects: h("a", { href: "#/projects" }, "Projects"),
    library: h("a", { href: "#/library" }, "Library"),
  };
  const signOutButton = h("button", {
    type: "button", class: "button button-quiet",
    onclick: async () => {
      signOutButton.disabled = true;
      await signOut(getSession()?.refresh_token);
      // clearSession() announced "signout", which takes us to sign-in.
    },
  }, "Sign out");
  const header = h("header", { class: "app-header" },
    h("div", { class: "app-header-inner" },
      // The brand is not a link: the one link named "Projects" is the nav's.
      h("p", { class: "brand" },
        h("span", { class: "brand-mark", "aria-hidden": "true" }), "AuraStudio"),
      h("nav", { "aria-label": "Main" }, h("ul", { class: "nav-list" },
        h("li", {}, links.projects), h("li", {}, links.library))),
      h("div", { class: "user" }, email, signOutButton)));
  const main = h("main", { id: "main", class: "page", tabindex: "-1" });
  replace(root, header, main);
  shell = { main, links, email };
  if (!session.user?.email) {
    // An older session without the user: ask who we are.
    api("/api/me").then((me) => { email.textContent = me.email ?? ""; }).catch(() => {});
  }
}

sessionEvents.addEventListener("change", (event) => {
  const reason = event.detail.reason;
  if (reason === "signout") {
    shell = null;
    if (location.hash === "#/signin") render();
    else location.hash = "#/signin";
  } else if (reason === "signin") {
    shell = null; // a new user: a new header
    render();
  }
});

window.addEventListener("hashchange", render);

// The skip link must not change the hash (the router owns it): move focus instead.
document.querySelector(".skip-link")?.addEventListener("click", (event) => {
  event.preventDefault();
  document.getElementById("main")?.focus();
});

render();
