// Keys: the user's PATs and app keys (#/keys), or one app's API keys (#/apps/<app>/keys).

import { call, enc, session, userPath } from "../api.js";
import { badge, clear, errorBox, h, infoBox, when } from "../dom.js";
import { field } from "./apps.js";
import { appHeader } from "./common.js";

export async function renderKeys(page, appId) {
  page.title(appId ? `${appId} · Keys` : "Keys");
  const status = h("div", { "data-testid": "keys-status" });
  const list = h(
    "div",
    { class: "panel", "data-testid": "keys" },
    h("p", { class: "muted" }, "Loading keys…"),
  );
  const reload = () => loadKeys(page, appId, list, status);
  const header = appId
    ? appHeader(appId, "keys")
    : h(
        "div",
        {},
        h("h1", {}, "Keys"),
        h(
          "p",
          { class: "muted" },
          "Personal access tokens act as you in every app; an app's API key only in that app.",
        ),
      );
  clear(page.view, header, createForm(appId, status, reload), status, list);
  await reload();
}

async function loadKeys(page, appId, list, status) {
  try {
    const answer = await call("GET", appId ? userPath(`/apps/${enc(appId)}/keys`) : userPath("/keys"));
    if (!page.alive()) return;
    const keys = answer.keys || [];
    if (!keys.length) {
      clear(list, h("p", { class: "muted empty" }, appId ? "This app has no API keys yet." : "No keys."));
      return;
    }
    clear(
      list,
      keyTable(keys, appId, status, () => loadKeys(page, appId, list, status)),
    );
  } catch (error) {
    if (page.alive()) clear(list, errorBox(error, "Could not list the keys"));
  }
}

function keyTable(keys, appId, status, reload) {
  return h(
    "table",
    {},
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Description", "Kind", appId ? null : "App", "Scopes", "Created", "Expires", ""]
          .filter((t) => t !== null)
          .map((t) => h("th", {}, t)),
      ),
    ),
    h(
      "tbody",
      {},
      keys.map((key) =>
        h(
          "tr",
          { "data-testid": "key-row" },
          h(
            "td",
            {},
            key.description || h("span", { class: "muted" }, "—"),
            h("div", { class: "mono small muted" }, key.id),
          ),
          h(
            "td",
            {},
            key.type === "personal_access_token" ? badge("PAT", "pending") : badge("API key", "ok"),
          ),
          appId
            ? null
            : h(
                "td",
                {},
                (key.apps || []).map((a) => a.id).join(", ") || h("span", { class: "muted" }, "all"),
              ),
          h("td", { class: "small" }, (key.scopes || []).join(", ")),
          h("td", { class: "small" }, when(key.created_at)),
          h(
            "td",
            { class: "small" },
            key.expires_at ? when(key.expires_at) : h("span", { class: "muted" }, "never"),
          ),
          h(
            "td",
            {},
            h(
              "button",
              { type: "button", class: "danger", onclick: () => removeKey(key, status, reload) },
              "Delete",
            ),
          ),
        ),
      ),
    ),
  );
}

async function removeKey(key, status, reload) {
  const what = key.type === "personal_access_token" ? "personal access token" : "API key";
  if (!window.confirm(`Delete the ${what} "${key.description || key.id}"? Clients using it stop working.`))
    return;
  clear(status);
  try {
    await call("DELETE", userPath(`/keys/${enc(key.id)}`));
    status.append(infoBox(`Deleted the ${what} ${key.description || key.id}.`, "ok"));
  } catch (error) {
    status.append(errorBox(error, "Could not delete the key"));
  }
  await reload();
}

function createForm(appId, status, reload) {
  const description = h("input", {
    id: "new-key-description",
    placeholder: appId ? "For the uploader" : "For my laptop",
    "data-testid": "new-key-description",
  });
  const expires = h("input", { id: "new-key-expires", type: "date" });
  const button = h(
    "button",
    { type: "submit", "data-testid": "create-key" },
    appId ? "Create API key" : "Create PAT",
  );
  return h(
    "form",
    {
      class: "panel",
      onsubmit: async (event) => {
        event.preventDefault();
        clear(status);
        const key = { description: description.value.trim(), scopes: ["All"] };
        if (appId) {
          key.type = "app_specific_key";
          key.apps = [{ id: appId, user_id: session.userId }];
        } else {
          key.type = "personal_access_token";
        }
        if (expires.value) key.expires_at = `${expires.value}T23:59:59Z`;
        try {
          const answer = await call("POST", userPath("/keys"), { keys: [key] });
          const token = answer.keys[0].id;
          status.append(
            h(
              "div",
              { class: "alert ok", "data-testid": "new-key" },
              "Copy the new key now; it is not shown again: ",
              h("span", { class: "token" }, token),
            ),
          );
          description.value = "";
          await reload();
        } catch (error) {
          status.append(errorBox(error, "Could not create the key"));
        }
      },
    },
    h("h3", { class: "first" }, appId ? "New API key for this app" : "New personal access token"),
    h(
      "div",
      { class: "row inline-form" },
      field("Description", description),
      field("Expires (optional)", expires),
      h("div", { class: "field" }, h("label", {}, "\u00a0"), button),
    ),
  );
}
