// Sign in with a PAT: checked against GET /v2/users/me before it is kept for the session.

import { call, session } from "../api.js";
import { clear, errorBox, h } from "../dom.js";

export function renderSignIn(page, { message, back }) {
  page.title("Sign in");
  const status = h("div", { "data-testid": "signin-status" });
  if (message) {
    status.append(
      errorBox(
        message,
        "Your session has ended: the server no longer accepts this PAT (it may have expired or been deleted). Sign in again.",
      ),
    );
  }
  const input = h("input", {
    id: "pat",
    name: "pat",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "Paste your PAT",
    required: true,
    "data-testid": "pat",
  });
  const button = h("button", { type: "submit", "data-testid": "sign-in" }, "Sign in");
  const form = h(
    "form",
    {
      class: "panel signin",
      "data-testid": "signin-form",
      onsubmit: async (event) => {
        event.preventDefault();
        const pat = input.value.trim();
        if (!pat) return;
        button.disabled = true;
        button.textContent = "Checking…";
        clear(status);
        try {
          const answer = await call("GET", "/v2/users/me", undefined, { pat });
          session.save(pat, answer.user.id);
          if (location.hash === back) window.dispatchEvent(new HashChangeEvent("hashchange"));
          else location.hash = back;
        } catch (error) {
          status.append(errorBox(error, refusal(error)));
          button.disabled = false;
          button.textContent = "Sign in";
          input.select();
        }
      },
    },
    h("h1", {}, "Sign in to Clarion"),
    h(
      "p",
      { class: "muted small" },
      "Use a personal access token (PAT). ",
      h("code", {}, "clarion serve"),
      " prints the admin's PAT on its first start and keeps it in the data directory as ",
      h("code", {}, "admin-pat.txt"),
      ".",
    ),
    status,
    h("label", { for: "pat" }, "Personal access token"),
    input,
    button,
    h(
      "p",
      { class: "muted small" },
      "The PAT stays in this browser tab's session storage and is sent only to this server. Closing the tab signs you out.",
    ),
  );
  clear(page.view, form);
  input.focus();
}

function refusal(error) {
  if (error.credentialRefused) {
    return "This PAT was not accepted. Check that it is complete and has not expired or been deleted.";
  }
  if (error.code === 11200 || error.code === 11007) {
    return "This key cannot sign in to the console (it needs a personal access token with every scope)";
  }
  return "Could not sign in";
}
