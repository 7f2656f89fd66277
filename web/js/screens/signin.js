// Sign in, or create an account (the same form in two modes). On success the session
// module announces "signin" and the router takes the user on.

import { signIn, signUp } from "../api.js";
import { h, replace } from "../dom.js";

const MODES = {
  signin: {
    title: "Sign in to AuraStudio", submit: "Sign in", busy: "Signing in…",
    switchText: "New here?", switchButton: "Create an account", other: "signup",
    passwordComplete: "current-password",
  },
  signup: {
    title: "Create your account", submit: "Create account", busy: "Creating your account…",
    switchText: "Already have an account?", switchButton: "I have an account", other: "signin",
    passwordComplete: "new-password",
  },
};

const LINK_ERROR = "aura.link-error"; // set by the router when a sign-in link failed

export function mount(main) {
  let mode = "signin";
  let email = "";
  let linkError = sessionStorage.getItem(LINK_ERROR);
  sessionStorage.removeItem(LINK_ERROR);

  function draw(focusHeading) {
    const texts = MODES[mode];
    document.title = `${texts.title} · AuraStudio`;
    const alert = h("p", { class: "alert", role: "alert" },
                    linkError ? `The sign-in link did not work: ${linkError}` : "");
    linkError = null;
    const emailInput = h("input", {
      id: "signin-email", name: "email", type: "email", autocomplete: "email",
      required: true, value: email, spellcheck: "false", autocapitalize: "none",
    });
    const passwordInput = h("input", {
      id: "signin-password", name: "password", type: "password",
      autocomplete: texts.passwordComplete, required: true,
      "aria-describedby": mode === "signup" ? "signin-password-hint" : null,
    });
    const submit = h("button", { type: "submit", class: "button button-primary button-wide" },
                     texts.submit);
    const form = h("form", {
      class: "stack", novalidate: true, // the server's messages are the ones to show
      onsubmit: async (event) => {
        event.preventDefault();
        email = emailInput.value.trim();
        alert.textContent = "";
        if (!email || !passwordInput.value) {
          alert.textContent = "Enter your email and password.";
          (email ? passwordInput : emailInput).focus();
          return;
        }
        submit.disabled = true;
        submit.textContent = texts.busy;
        form.setAttribute("aria-busy", "true");
        try {
          await (mode === "signin" ? signIn : signUp)(email, passwordInput.value);
        } catch (error) {
          alert.textContent = error.detail || error.message;
          passwordInput.focus();
        } finally {
          if (form.isConnected) {
            submit.disabled = false;
            submit.textContent = texts.submit;
            form.removeAttribute("aria-busy");
          }
        }
      },
    },
      h("div", { class: "field" },
        h("label", { for: "signin-email" }, "Email"), emailInput),
      h("div", { class: "field" },
        h("label", { for: "signin-password" }, "Password"), passwordInput,
        mode === "signup"
          ? h("p", { id: "signin-password-hint", class: "hint" }, "At least 8 characters.")
          : null),
      alert,
      submit);
    const heading = h("h1", { tabindex: "-1" }, texts.title);
    replace(main,
      h("div", { class: "signin" },
        h("p", { class: "signin-brand" },
          h("span", { class: "brand-mark", "aria-hidden": "true" }), "AuraStudio"),
        h("div", { class: "card card-padded" },
          heading,
          h("p", { class: "muted" }, "Turn a script into a talking-avatar video."),
          form),
        h("p", { class: "signin-switch" }, `${texts.switchText} `,
          h("button", {
            type: "button", class: "button-link",
            onclick: () => {
              email = emailInput.value.trim();
              mode = texts.other;
              draw(true);
            },
          }, texts.switchButton))));
    if (focusHeading) heading.focus();
  }

  draw(false);
  return () => {};
}
