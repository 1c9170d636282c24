// Drawing what a model said about an image: concepts as bars, regions as boxes over the image,
// colours as swatches, embeddings and text as they are.

import { appPath, call, enc } from "../api.js";
import { h, pct } from "../dom.js";

export const PUBLIC_USER = "clarifai";
export const PUBLIC_APP = "main";
const IMAGE_MODEL_TYPES = /^(visual-|image-)|embedding-classifier/;

// An image with a layer of boxes: `figure.setBoxes(regions, kind)` replaces the boxes of a kind.
export function imageFigure(image) {
  const el = h("div", { class: "figure", "data-testid": "figure" }, image);
  return {
    el,
    setBoxes(regions, kind) {
      for (const old of el.querySelectorAll(`.box.${kind}`)) old.remove();
      for (const region of regions || []) {
        const box = region.region_info?.bounding_box;
        if (!box) continue;
        const top = box.top_row || 0;
        const left = box.left_col || 0;
        el.append(
          h(
            "div",
            {
              class: `box ${kind}${top < 0.08 ? " below" : ""}`,
              "data-testid": `box-${kind}`,
              style: {
                top: `${top * 100}%`,
                left: `${left * 100}%`,
                width: `${((box.right_col || 0) - left) * 100}%`,
                height: `${((box.bottom_row || 0) - top) * 100}%`,
              },
            },
            h("span", {}, regionLabel(region, kind !== "annotated")),
          ),
        );
      }
    },
  };
}

export function regionLabel(region, withScore = true) {
  const text = region.data?.text?.raw;
  if (text) return text;
  const concept = (region.data?.concepts || [])[0];
  if (!concept) return "region";
  const name = concept.name || concept.id;
  return withScore ? `${name} ${(concept.value ?? 1).toFixed(2)}` : name;
}

export function conceptBars(concepts, limit = 12) {
  const top = [...concepts].sort((a, b) => (b.value || 0) - (a.value || 0)).slice(0, limit);
  return h(
    "div",
    { class: "bars", "data-testid": "concept-bars" },
    top.map((c) =>
      h(
        "div",
        { class: "barrow", "data-testid": "concept", "data-concept": c.name || c.id },
        h("span", { class: "cname", title: c.id }, c.name || c.id),
        h("div", { class: "track" }, h("div", { class: "fill", style: { width: pct(c.value, 2) } })),
        h("span", { class: "val" }, (c.value || 0).toFixed(3)),
      ),
    ),
  );
}

export function colorSwatches(colors) {
  return h(
    "div",
    { class: "swatches", "data-testid": "colors" },
    colors.map((color) => {
      const chip = h("div", { class: "chipcolor" });
      chip.style.background = color.raw_hex;
      return h(
        "div",
        { class: "swatch", "data-testid": "swatch" },
        chip,
        h("div", {}, h("strong", {}, color.w3c?.name || color.raw_hex)),
        h("div", { class: "muted mono" }, `${color.raw_hex} · ${pct(color.value, 0)}`),
      );
    }),
  );
}

// The parts of one output, in the order a person reads them; boxes go onto `figure`.
export function outputView(output, figure) {
  const data = output.data || {};
  const parts = [];
  if (data.concepts?.length) parts.push(h("h3", {}, "Concepts"), conceptBars(data.concepts));
  if (data.regions?.length) {
    figure?.setBoxes(data.regions, "predicted");
    parts.push(
      h("h3", {}, `Regions (${data.regions.length})`),
      h(
        "ul",
        { class: "small", "data-testid": "regions" },
        data.regions.map((r) => h("li", {}, regionLabel(r), boxText(r))),
      ),
    );
  } else {
    figure?.setBoxes([], "predicted");
  }
  if (data.colors?.length) parts.push(h("h3", {}, "Colours"), colorSwatches(data.colors));
  if (data.embeddings?.length) {
    const vector = data.embeddings[0].vector || [];
    parts.push(
      h("h3", {}, "Embedding"),
      h(
        "p",
        { class: "small" },
        `${vector.length} numbers: `,
        h(
          "span",
          { class: "mono muted" },
          `${vector
            .slice(0, 6)
            .map((v) => v.toFixed(3))
            .join(", ")}, …`,
        ),
      ),
    );
  }
  if (data.text?.raw) parts.push(h("h3", {}, "Text"), h("pre", { class: "json" }, data.text.raw));
  if (!parts.length)
    parts.push(h("p", { class: "muted" }, "The model found nothing to report for this image."));
  return h("div", { "data-testid": "output" }, parts);
}

function boxText(region) {
  const b = region.region_info?.bounding_box;
  if (!b) return "";
  const f = (v) => (v || 0).toFixed(2);
  return h(
    "span",
    { class: "muted mono" },
    ` (top ${f(b.top_row)}, left ${f(b.left_col)}, bottom ${f(b.bottom_row)}, right ${f(b.right_col)})`,
  );
}

export async function predict(model, base64) {
  const path = `/v2/users/${enc(model.user_id)}/apps/${enc(model.app_id)}/models/${enc(model.id)}/outputs`;
  const answer = await call("POST", path, { inputs: [{ data: { image: { base64 } } }] });
  return answer.outputs[0];
}

// The models that take an image: the built-in ones, then the app's own (when there is one).
export async function imageModels(appId = null) {
  const lists = [call("GET", `/v2/users/${PUBLIC_USER}/apps/${PUBLIC_APP}/models?per_page=100`)];
  if (appId) lists.push(call("GET", appPath(appId, "/models?per_page=100")));
  const answers = await Promise.all(lists);
  const seen = new Set();
  const models = [];
  for (const answer of answers) {
    for (const model of answer.models || []) {
      const key = `${model.user_id}/${model.app_id}/${model.id}`;
      if (seen.has(key) || !IMAGE_MODEL_TYPES.test(model.model_type_id || "")) continue;
      seen.add(key);
      models.push(model);
    }
  }
  return models;
}

export function modelPicker(models, selected) {
  return h(
    "select",
    { "data-testid": "model-select", "aria-label": "Model" },
    models.map((m) => {
      const key = `${m.user_id}/${m.app_id}/${m.id}`;
      return h(
        "option",
        { value: key, selected: key === selected },
        m.app_id === PUBLIC_APP ? m.id : `${m.id} (app ${m.app_id})`,
      );
    }),
  );
}
