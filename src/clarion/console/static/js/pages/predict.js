// A model's page: drop an image, see what the model says about it.

import { call, enc } from "../api.js";
import { clear, dropzone, errorBox, fileToBase64, h, objectUrl } from "../dom.js";
import { imageFigure, outputView, predict, PUBLIC_APP } from "./outputs.js";

export async function renderPredict(page, userId, appId, modelId) {
  page.title(modelId);
  const header = h(
    "div",
    {},
    h("div", { class: "crumbs" }, h("a", { href: "#/models" }, "Models"), " / ", modelId),
    h("h1", { "data-testid": "page-title" }, modelId),
  );
  const about = h("div", {});
  const left = h("div", {});
  const right = h("div", { "data-testid": "prediction" });
  clear(
    page.view,
    header,
    about,
    h("div", { class: "split" }, h("div", { class: "panel" }, left), h("div", { class: "panel" }, right)),
  );
  let model;
  try {
    const path = `/v2/users/${enc(userId)}/apps/${enc(appId)}/models/${enc(modelId)}`;
    model = (await call("GET", path)).model;
  } catch (error) {
    if (page.alive()) clear(about, errorBox(error, "Could not load the model"));
    return;
  }
  if (!page.alive()) return;
  clear(about, modelSummary(model));
  const showIdle = () =>
    clear(
      right,
      h("h2", { class: "first" }, "Prediction"),
      h("p", { class: "muted" }, "Drop an image on the left to see what this model finds in it."),
    );
  showIdle();
  const zone = dropzone({
    text: "Drop an image here, or click to choose one",
    hint: "The image is sent to this model only; it is not stored.",
    multiple: false,
    testid: "predict-drop",
    onFiles: ([file]) => run(page, model, file, { left, right, zone }),
  });
  clear(left, h("h2", { class: "first" }, "Image"), zone);
}

export function modelSummary(model) {
  const version = model.model_version || {};
  const bits = [model.model_type_id];
  if (version.active_concept_count) bits.push(`${version.active_concept_count} concepts`);
  if (model.app_id !== PUBLIC_APP) bits.push(`app ${model.app_id}`);
  return h(
    "p",
    { class: "muted" },
    model.description || "",
    model.description ? h("br") : null,
    h("span", { class: "small" }, bits.filter(Boolean).join(" · ")),
  );
}

async function run(page, model, file, { left, right, zone }) {
  const image = h("img", { alt: file.name, src: objectUrl(file), "data-testid": "predict-image" });
  const figure = imageFigure(image);
  clear(
    left,
    h("h2", { class: "first" }, "Image"),
    figure.el,
    h("p", { class: "small muted" }, file.name),
    zone,
  );
  clear(
    right,
    h("h2", { class: "first" }, "Prediction"),
    h("p", { class: "muted", "data-testid": "predicting" }, "Predicting…"),
  );
  try {
    const output = await predict(model, await fileToBase64(file));
    if (!page.alive()) return;
    clear(right, h("h2", { class: "first" }, "Prediction"), outputView(output, figure));
  } catch (error) {
    if (page.alive())
      clear(right, h("h2", { class: "first" }, "Prediction"), errorBox(error, "The model could not predict"));
  }
}
