// Sharing: an app's collaborators (#/apps/<app>/collaborators), added by user id with a role.

import { appPath, call } from "../api.js";
import { clear, errorBox, h, infoBox, when } from "../dom.js";
import { field } from "./apps.js";
import { appHeader } from "./common.js";

// Roles by their scopes; an empty list is the server's default role: every scope but the
// owner's own (the app itself, its keys and collaborators).
const ROLES = {
  contributor: [],
  viewer: [
    "Apps_Get",
    "Inputs_Get",
    "Annotations_Get",
    "Concepts_Get",
    "Datasets_Get",
    "Models_Get",
    "Workflows_Get",
    "SavedSearch_Get",
    "Search",
  ],
};

export async function renderCollaborators(page, appId) {
  page.title(`${appId} · Sharing`);
  const status = h("div", { "data-testid": "collaborators-status" });
  const list = h(
    "div",
    { class: "panel", "data-testid": "collaborators" },
    h("p", { class: "muted" }, "Loading collaborators…"),
  );
  const reload = () => loadCollaborators(page, appId, list, status);
  clear(page.view, appHeader(appId, "collaborators"), addForm(appId, status, reload), status, list);
  await reload();
}

async function loadCollaborators(page, appId, list, status) {
  try {
    const answer = await call("GET", appPath(appId, "/collaborators"));
    if (!page.alive()) return;
    const collaborators = answer.collaborators || [];
    if (!collaborators.length) {
      clear(list, h("p", { class: "muted empty" }, "Only you can reach this app."));
      return;
    }
    const reload = () => loadCollaborators(page, appId, list, status);
    clear(list, collaboratorTable(appId, collaborators, status, reload));
  } catch (error) {
    if (page.alive()) clear(list, errorBox(error, "Could not list the collaborators"));
  }
}

function collaboratorTable(appId, collaborators, status, reload) {
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, ["User", "Scopes", "Added", ""].map((t) => h("th", {}, t)))),
    h(
      "tbody",
      {},
      collaborators.map((collaborator) =>
        h(
          "tr",
          { "data-testid": "collaborator-row" },
          h("td", { class: "mono" }, collaborator.user?.id || collaborator.id),
          h(
            "td",
            { class: "small", title: (collaborator.scopes || []).join(", ") },
            `${(collaborator.scopes || []).length} scopes`,
          ),
          h("td", { class: "small" }, when(collaborator.created_at)),
          h(
            "td",
            {},
            h(
              "button",
              {
                type: "button",
                class: "danger",
                "data-testid": "remove-collaborator",
                onclick: () => removeCollaborator(appId, collaborator.id, status, reload),
              },
              "Remove",
            ),
          ),
        ),
      ),
    ),
  );
}

async function removeCollaborator(appId, userId, status, reload) {
  if (!window.confirm(`Remove ${userId} from ${appId}? Their PAT stops reaching this app.`)) return;
  clear(status);
  try {
    await call("DELETE", appPath(appId, "/collaborators"), { collaborator_ids: [userId] });
    status.append(infoBox(`Removed ${userId}.`, "ok"));
  } catch (error) {
    status.append(errorBox(error, "Could not remove the collaborator"));
  }
  await reload();
}

function addForm(appId, status, reload) {
  const user = h("input", { id: "new-collaborator", placeholder: "user id", "data-testid": "new-collaborator" });
  const role = h(
    "select",
    { id: "new-collaborator-role", "data-testid": "new-collaborator-role" },
    h("option", { value: "contributor" }, "Contributor: everything but the app, its keys and sharing"),
    h("option", { value: "viewer" }, "Viewer: reads and searches"),
  );
  return h(
    "form",
    {
      class: "panel",
      onsubmit: async (event) => {
        event.preventDefault();
        clear(status);
        const collaborator = { user: { id: user.value.trim() }, scopes: ROLES[role.value] };
        try {
          await call("POST", appPath(appId, "/collaborators"), { collaborators: [collaborator] });
          status.append(infoBox(`${collaborator.user.id} can now reach this app with their own PAT.`, "ok"));
          user.value = "";
          await reload();
        } catch (error) {
          status.append(errorBox(error, "Could not add the collaborator"));
        }
      },
    },
    h("h3", { class: "first" }, "Share this app with another user"),
    h(
      "div",
      { class: "row inline-form" },
      field("User", user),
      field("Role", role),
      h("div", { class: "field" }, h("label", {}, "\u00a0"), h("button", { type: "submit", "data-testid": "add-collaborator" }, "Add")),
    ),
  );
}
