// One input: its image with annotation boxes, its details and annotations, and predictions.

import { appPath, call, enc, hostedBlob, session } from "../api.js";
import { badge, clear, errorBox, fileToBase64, h, objectUrl, when } from "../dom.js";
import { appHeader, appLink, conceptChips, inputName, inputStatus, isPending } from "./common.js";
import {
  imageFigure,
  imageModels,
  modelPicker,
  outputView,
  predict,
  PUBLIC_APP,
  PUBLIC_USER,
  regionLabel,
} from "./outputs.js";
import { showVideo } from "./video.js";

const DEFAULT_MODEL = `${PUBLIC_USER}/${PUBLIC_APP}/general-image-recognition`;

export async function renderInput(page, appId, inputId) {
  page.title(`${appId} · ${inputId}`);
  const left = h("div", { class: "panel" }, h("p", { class: "muted" }, "Loading the input…"));
  const right = h("div", {});
  const crumbs = [["Inputs", appLink(appId)], [inputId]];
  clear(
    page.view,
    appHeader(appId, "inputs", { title: inputId, crumbs }),
    h("div", { class: "split" }, left, right),
  );
  let input;
  let annotations;
  try {
    [input, annotations] = await Promise.all([
      call("GET", appPath(appId, `/inputs/${enc(inputId)}`)).then((a) => a.input),
      call(
        "GET",
        appPath(appId, `/annotations?input_ids=${enc(inputId)}&list_all_annotations=true&per_page=1000`),
      ).then((a) => a.annotations || []),
    ]);
  } catch (error) {
    if (page.alive()) clear(left, errorBox(error, "Could not load the input"));
    return;
  }
  if (!page.alive()) return;
  if (isPending(input)) page.later(() => renderInput(page, appId, inputId), 1000);
  page.title(`${appId} · ${inputName(input)}`);
  page.view.querySelector("[data-testid=page-title]").textContent = inputName(input);
  clear(right, details(input), annotationList(annotations));
  if (input.data?.video?.hosted) {
    await showVideo(page, appId, input, left);
    return;
  }
  if (!input.data?.image?.hosted) {
    clear(left, h("div", { class: "empty" }, isPending(input) ? "Processing…" : "This input has no image."));
    return;
  }
  await showImage(page, appId, input, annotations, left);
}

async function showImage(page, appId, input, annotations, left) {
  let blob;
  try {
    blob = await hostedBlob(session.userId, appId, input.id, "orig");
  } catch (error) {
    if (page.alive()) clear(left, errorBox(error, "Could not load the image"));
    return;
  }
  if (!page.alive()) return;
  const image = h("img", { alt: inputName(input), src: objectUrl(blob), "data-testid": "input-image" });
  const figure = imageFigure(image);
  figure.setBoxes(
    annotations.filter((a) => a.data?.regions?.length).flatMap((a) => a.data.regions),
    "annotated",
  );
  const predictions = h("div", { "data-testid": "prediction" });
  const annotated = annotations.some((a) => a.data?.regions?.length);
  const legend = annotated
    ? h("p", { class: "small muted" }, "Green boxes: annotated regions. Yellow boxes: predicted ones.")
    : null;
  clear(left, figure.el, legend, predictionPanel(page, appId, blob, figure, predictions), predictions);
}

function predictionPanel(page, appId, blob, figure, target) {
  const row = h("div", { class: "row" }, h("span", { class: "muted small" }, "Loading models…"));
  const panel = h("div", {}, h("h2", {}, "Predictions"), row);
  imageModels(appId)
    .then((models) => {
      if (!page.alive()) return;
      const picker = modelPicker(models, DEFAULT_MODEL);
      const run = async () => {
        const model = models.find((m) => `${m.user_id}/${m.app_id}/${m.id}` === picker.value);
        clear(target, h("p", { class: "muted" }, `Predicting with ${model.id}…`));
        try {
          const output = await predict(model, await fileToBase64(blob));
          if (page.alive()) clear(target, outputView(output, figure));
        } catch (error) {
          if (page.alive()) clear(target, errorBox(error, `${model.id} could not predict`));
        }
      };
      picker.addEventListener("change", run);
      clear(
        row,
        picker,
        h(
          "button",
          { type: "button", class: "secondary", onclick: run, "data-testid": "predict" },
          "Predict again",
        ),
      );
      if (picker.value) run();
    })
    .catch((error) => page.alive() && clear(row, errorBox(error, "Could not list the models")));
  return panel;
}

function details(input) {
  const [statusText, statusKind] = inputStatus(input.status);
  const info = input.data?.image?.image_info;
  const video = input.data?.video?.video_info;
  const metadata = input.data?.metadata || {};
  const rows = [
    ["Id", h("span", { class: "mono" }, input.id)],
    [
      "Status",
      h(
        "span",
        {},
        badge(statusText, statusKind, "status"),
        input.status?.description && input.status.code !== 30000 ? ` ${input.status.description}` : "",
      ),
    ],
    ["Created", when(input.created_at)],
    video
      ? [
          "Video",
          `${video.width} × ${video.height} ${video.video_format || ""}, ` +
            `${Number(video.duration_seconds || 0).toFixed(1)} s at ${Number(video.fps || 0).toFixed(0)} fps`,
        ]
      : ["Image", info ? `${info.width} × ${info.height} ${info.format || ""}` : "—"],
    [
      "Concepts",
      input.data?.concepts?.length
        ? h("span", {}, conceptChips(input.data.concepts))
        : h("span", { class: "muted" }, "none"),
    ],
  ];
  return h(
    "div",
    { class: "panel", "data-testid": "input-details" },
    h("h2", { class: "first" }, inputName(input)),
    h(
      "dl",
      { class: "kv" },
      rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
    ),
    h("h3", {}, "Metadata"),
    Object.keys(metadata).length
      ? h("pre", { class: "json", "data-testid": "metadata" }, JSON.stringify(metadata, null, 2))
      : h("p", { class: "muted small" }, "none"),
  );
}

function annotationList(annotations) {
  const body = annotations.length
    ? h(
        "table",
        { "data-testid": "annotations" },
        h(
          "thead",
          {},
          h("tr", {}, h("th", {}, "Annotation"), h("th", {}, "Concepts"), h("th", {}, "Regions")),
        ),
        h(
          "tbody",
          {},
          annotations.map((a) =>
            h(
              "tr",
              {},
              h("td", { class: "mono small", title: a.id }, a.input_level ? "whole input" : a.id.slice(0, 8)),
              h("td", {}, conceptChips(a.data?.concepts)),
              h(
                "td",
                { class: "small" },
                (a.data?.regions || []).map((r) => h("div", {}, regionLabel(r, false))),
              ),
            ),
          ),
        ),
      )
    : h("p", { class: "muted small" }, "No annotations.");
  return h(
    "div",
    { class: "panel" },
    h("h2", { class: "first" }, `Annotations (${annotations.length})`),
    body,
  );
}
