// The built-in models (user `clarifai`, app `main`), each a card that leads to its page.

import { call, enc } from "../api.js";
import { badge, clear, errorBox, h } from "../dom.js";
import { PUBLIC_APP, PUBLIC_USER } from "./outputs.js";

export async function renderModels(page) {
  page.title("Models");
  const list = h("div", { "data-testid": "models" }, h("p", { class: "muted" }, "Loading models…"));
  clear(
    page.view,
    h("h1", {}, "Models"),
    h(
      "p",
      { class: "muted" },
      "The models built into this server. Open one and drop an image on it to see what it finds. Your custom models are under each app's Models tab.",
    ),
    list,
  );
  try {
    const answer = await call("GET", `/v2/users/${PUBLIC_USER}/apps/${PUBLIC_APP}/models?per_page=100`);
    if (!page.alive()) return;
    clear(list, h("div", { class: "cards" }, (answer.models || []).map(modelCard)));
  } catch (error) {
    if (page.alive()) clear(list, errorBox(error, "Could not list the models"));
  }
}

export function modelHref(model) {
  return `#/models/${enc(model.user_id)}/${enc(model.app_id)}/${enc(model.id)}`;
}

function modelCard(model) {
  const takesImages = /^(visual-|image-)/.test(model.model_type_id || "");
  const body = [
    h("div", { class: "title" }, model.id),
    h("div", { class: "row small" }, badge(model.model_type_id || "model", takesImages ? "ok" : "neutral")),
    model.description ? h("div", { class: "desc", style: { marginTop: ".4rem" } }, model.description) : null,
  ];
  if (!takesImages)
    body.push(h("div", { class: "small muted", style: { marginTop: ".4rem" } }, "Takes text: use the API."));
  return takesImages
    ? h(
        "a",
        { class: "card", href: modelHref(model), "data-testid": "model-card", "data-model-id": model.id },
        body,
      )
    : h("div", { class: "card", "data-testid": "model-card", "data-model-id": model.id }, body);
}
