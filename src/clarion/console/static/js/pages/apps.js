// The signed-in user's apps: a list of cards and a form to create one.

import { call, userPath } from "../api.js";
import { clear, errorBox, h, when } from "../dom.js";
import { appLink } from "./common.js";

export async function renderApps(page) {
  page.title("Apps");
  const list = h("div", { "data-testid": "apps" }, h("p", { class: "muted" }, "Loading apps…"));
  clear(
    page.view,
    h("div", { class: "spread" }, h("h1", {}, "Apps")),
    h("p", { class: "muted" }, "Each app holds its own inputs, concepts, models and keys."),
    createForm(),
    h("h2", {}, "Your apps"),
    list,
  );
  try {
    const answer = await call("GET", userPath("/apps?per_page=1000"));
    if (!page.alive()) return;
    const apps = answer.apps || [];
    if (!apps.length) {
      clear(list, h("div", { class: "panel empty" }, "No apps yet: create one above."));
      return;
    }
    clear(list, h("div", { class: "cards" }, apps.map(appCard)));
  } catch (error) {
    if (page.alive()) clear(list, errorBox(error, "Could not list the apps"));
  }
}

function appCard(app) {
  return h(
    "a",
    { class: "card", href: appLink(app.id), "data-testid": "app-card", "data-app-id": app.id },
    h("div", { class: "title" }, app.name && app.name !== app.id ? `${app.name}` : app.id),
    app.name && app.name !== app.id ? h("div", { class: "mono small muted" }, app.id) : null,
    app.description ? h("div", { class: "desc" }, app.description) : null,
    h("div", { class: "small muted" }, `Created ${when(app.created_at)}`),
  );
}

function createForm() {
  const status = h("div", {});
  const id = h("input", {
    id: "new-app-id",
    name: "id",
    required: true,
    pattern: "[A-Za-z0-9_\\-]+",
    placeholder: "my-app",
    "data-testid": "new-app-id",
  });
  const name = h("input", { id: "new-app-name", name: "name", placeholder: "My app" });
  const description = h("input", {
    id: "new-app-description",
    name: "description",
    placeholder: "What it holds",
  });
  const button = h("button", { type: "submit", "data-testid": "create-app" }, "Create app");
  return h(
    "form",
    {
      class: "panel",
      onsubmit: async (event) => {
        event.preventDefault();
        clear(status);
        button.disabled = true;
        const app = {
          id: id.value.trim(),
          name: name.value.trim() || undefined,
          description: description.value.trim() || undefined,
        };
        try {
          await call("POST", userPath("/apps"), { apps: [app] });
          location.hash = appLink(app.id);
        } catch (error) {
          status.append(errorBox(error, "Could not create the app"));
          button.disabled = false;
        }
      },
    },
    h("h3", { class: "first" }, "Create an app"),
    status,
    h(
      "div",
      { class: "inline-form row" },
      field("App id", id),
      field("Name (optional)", name),
      field("Description (optional)", description),
      h("div", { class: "field" }, h("label", {}, "\u00a0"), button),
    ),
  );
}

export function field(text, input) {
  return h("div", { class: "field" }, h("label", { for: input.id }, text), input);
}
