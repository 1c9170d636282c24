// An app's custom models: create, train, watch versions, read evaluation metrics and the
// confusion matrix.

import { appPath, call, enc, session } from "../api.js";
import { badge, clear, errorBox, h, s, shortId, when } from "../dom.js";
import { field } from "./apps.js";
import { appHeader, appLink, versionStatus } from "./common.js";
import { modelHref } from "./models.js";

const POLL_MS = 1000;
const BUSY = new Set([21101, 21103, 21301, 21303]);

export async function renderCustomModels(page, appId) {
  page.title(`${appId} · Models`);
  const list = h("div", { "data-testid": "custom-models" }, h("p", { class: "muted" }, "Loading models…"));
  clear(page.view, appHeader(appId, "models"), createModelForm(appId), list);
  try {
    const answer = await call("GET", appPath(appId, "/models?per_page=1000"));
    if (!page.alive()) return;
    const own = (answer.models || []).filter((m) => m.app_id === appId);
    if (!own.length) {
      clear(
        list,
        h(
          "div",
          { class: "panel empty" },
          "No custom models yet. Label inputs with concepts, then create a model above and train it.",
        ),
      );
      return;
    }
    clear(
      list,
      h(
        "div",
        { class: "cards" },
        own.map((m) =>
          h(
            "a",
            { class: "card", href: appLink(appId, "models", `/${enc(m.id)}`), "data-testid": "custom-model" },
            h("div", { class: "title" }, m.id),
            h("div", { class: "small" }, badge(m.model_type_id || "model")),
            h(
              "div",
              { class: "small muted", style: { marginTop: ".4rem" } },
              `Created ${when(m.created_at)}`,
            ),
          ),
        ),
      ),
    );
  } catch (error) {
    if (page.alive()) clear(list, errorBox(error, "Could not list the models"));
  }
}

function createModelForm(appId) {
  const status = h("div", {});
  const id = h("input", { id: "new-model-id", required: true, placeholder: "pets" });
  const concepts = h("input", { id: "new-model-concepts", required: true, placeholder: "cat, dog" });
  return h(
    "form",
    {
      class: "panel",
      onsubmit: async (event) => {
        event.preventDefault();
        clear(status);
        const model = {
          id: id.value.trim(),
          model_type_id: "embedding-classifier",
          output_info: {
            data: {
              concepts: concepts.value
                .split(",")
                .map((c) => c.trim())
                .filter(Boolean)
                .map((c) => ({ id: c })),
            },
          },
        };
        try {
          await call("POST", appPath(appId, "/models"), { models: [model] });
          location.hash = appLink(appId, "models", `/${enc(model.id)}`);
        } catch (error) {
          status.append(errorBox(error, "Could not create the model"));
        }
      },
    },
    h("h3", { class: "first" }, "New classifier (trained on this app's labelled images)"),
    status,
    h(
      "div",
      { class: "row inline-form" },
      field("Model id", id),
      field("Concepts, comma separated", concepts),
      h("div", { class: "field" }, h("label", {}, "\u00a0"), h("button", { type: "submit" }, "Create model")),
    ),
  );
}

export async function renderCustomModel(page, appId, modelId) {
  page.title(`${appId} · ${modelId}`);
  const status = h("div", {});
  const versions = h(
    "div",
    { class: "panel", "data-testid": "versions" },
    h("p", { class: "muted" }, "Loading versions…"),
  );
  const metrics = h("div", { "data-testid": "metrics" });
  const state = { selected: page.query.get("version") || "" };
  const train = h("button", { type: "button", "data-testid": "train" }, "Train a new version");
  const actions = h(
    "div",
    { class: "row" },
    h(
      "a",
      { class: "button secondary", href: modelHref({ user_id: session.userId, app_id: appId, id: modelId }) },
      "Try it",
    ),
    train,
  );
  clear(
    page.view,
    appHeader(appId, "models", {
      title: modelId,
      crumbs: [["Models", appLink(appId, "models")], [modelId]],
      actions,
    }),
    status,
    versions,
    metrics,
  );
  const reload = () => loadVersions(page, appId, modelId, state, { versions, metrics, status });
  train.addEventListener("click", async () => {
    clear(status);
    train.disabled = true;
    try {
      const answer = await call("POST", appPath(appId, `/models/${enc(modelId)}/versions`), {});
      state.selected = answer.model?.model_version?.id || state.selected;
    } catch (error) {
      status.append(errorBox(error, "Could not start training"));
    }
    train.disabled = false;
    await reload();
  });
  await reload();
}

async function loadVersions(page, appId, modelId, state, parts) {
  let list;
  try {
    list =
      (await call("GET", appPath(appId, `/models/${enc(modelId)}/versions?per_page=100`))).model_versions ||
      [];
  } catch (error) {
    if (page.alive()) clear(parts.versions, errorBox(error, "Could not list the versions"));
    return;
  }
  if (!page.alive()) return;
  if (!list.length) {
    clear(
      parts.versions,
      h("h2", { class: "first" }, "Versions"),
      h("p", { class: "muted" }, "No versions yet: train one."),
    );
    clear(parts.metrics);
    return;
  }
  if (!list.some((v) => v.id === state.selected)) state.selected = list[0].id;
  const select = (id) => {
    state.selected = id;
    loadVersions(page, appId, modelId, state, parts);
  };
  clear(parts.versions, h("h2", { class: "first" }, "Versions"), versionTable(list, state.selected, select));
  const chosen = list.find((v) => v.id === state.selected);
  await showMetrics(page, appId, modelId, chosen, parts, () =>
    loadVersions(page, appId, modelId, state, parts),
  );
  if (list.some((v) => BUSY.has(v.status?.code) || BUSY.has(v.metrics?.status?.code))) {
    page.later(() => loadVersions(page, appId, modelId, state, parts), POLL_MS);
  }
}

function versionTable(list, selected, select) {
  return h(
    "table",
    {},
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Version", "Created", "Training", "Inputs", "Concepts", "Evaluation"].map((t) => h("th", {}, t)),
      ),
    ),
    h(
      "tbody",
      {},
      list.map((v) => {
        const [trainText, trainKind] = versionStatus(v.status);
        const [evalText, evalKind] = versionStatus(v.metrics?.status || { code: 21302 });
        return h(
          "tr",
          {
            class: `clickable${v.id === selected ? " selected" : ""}`,
            onclick: () => select(v.id),
            "data-testid": "version-row",
          },
          h("td", { class: "mono", title: v.id }, shortId(v.id)),
          h("td", { class: "small" }, when(v.created_at)),
          h("td", {}, badge(trainText, trainKind, "training-status")),
          h("td", { class: "num" }, String(v.total_input_count ?? "—")),
          h("td", { class: "num" }, String(v.active_concept_count ?? "—")),
          h("td", {}, badge(evalText, evalKind, "evaluation-status")),
        );
      }),
    ),
  );
}

async function showMetrics(page, appId, modelId, version, parts, reload) {
  const code = version.status?.code;
  const evalCode = version.metrics?.status?.code || 21302;
  const title = h("h2", { class: "first" }, `Evaluation of version ${shortId(version.id)}`);
  if (code !== 21100) {
    clear(
      parts.metrics,
      h(
        "div",
        { class: "panel" },
        title,
        h("p", { class: "muted" }, "The version is evaluated once it is trained."),
      ),
    );
    return;
  }
  if (evalCode !== 21300) {
    const evaluate = h("button", { type: "button", "data-testid": "evaluate" }, "Evaluate");
    evaluate.addEventListener("click", async () => {
      evaluate.disabled = true;
      try {
        await call("POST", appPath(appId, `/models/${enc(modelId)}/versions/${enc(version.id)}/metrics`), {});
      } catch (error) {
        parts.metrics.append(errorBox(error, "Could not start the evaluation"));
      }
      await reload();
    });
    const [text] = versionStatus(version.metrics?.status || { code: 21302 });
    clear(
      parts.metrics,
      h(
        "div",
        { class: "panel" },
        title,
        h(
          "p",
          { class: "muted" },
          `${text}. `,
          BUSY.has(evalCode) ? null : "Cross-validate it on the app's labelled inputs:",
        ),
        BUSY.has(evalCode) ? null : evaluate,
      ),
    );
    return;
  }
  let metrics;
  try {
    const path = appPath(appId, `/models/${enc(modelId)}/versions/${enc(version.id)}/metrics`);
    metrics = (await call("GET", path)).model_version?.metrics || {};
  } catch (error) {
    if (page.alive()) clear(parts.metrics, errorBox(error, "Could not load the metrics"));
    return;
  }
  if (!page.alive()) return;
  clear(
    parts.metrics,
    h(
      "div",
      { class: "panel" },
      title,
      summary(metrics.summary || {}),
      h(
        "div",
        { class: "metrics-grid" },
        h("div", {}, h("h3", {}, "Per concept"), conceptTable(metrics)),
        h(
          "div",
          { class: "matrix" },
          h("h3", {}, "Confusion matrix"),
          confusionMatrix(metrics.confusion_matrix || {}),
        ),
      ),
    ),
  );
}

function fmt(value) {
  return value === undefined || value === null ? "—" : Number(value).toFixed(3);
}

function summary(sum) {
  const items = [
    ["Top-1 accuracy", sum.top1_accuracy],
    ["ROC AUC (macro)", sum.macro_avg_roc_auc],
    ["F1 (macro)", sum.macro_avg_f1_score],
    ["Precision (macro)", sum.macro_avg_precision],
    ["Recall (macro)", sum.macro_avg_recall],
  ];
  return h(
    "dl",
    { class: "kv", "data-testid": "summary" },
    items.flatMap(([k, v]) => [h("dt", {}, k), h("dd", { class: "mono" }, fmt(v))]),
  );
}

function conceptTable(metrics) {
  const extra = metrics.extended_metrics?.user_metrics?.concepts || {};
  const cols = ["Concept", "Positives", "Negatives", "ROC AUC", "F1", "Precision", "Recall"];
  return h(
    "table",
    { "data-testid": "concept-metrics" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        cols.map((t, i) => h("th", { class: i ? "num" : null }, t)),
      ),
    ),
    h(
      "tbody",
      {},
      (metrics.binary_metrics || []).map((m) => {
        const id = m.concept?.id || "";
        const more = extra[id] || {};
        return h(
          "tr",
          {},
          h("td", {}, m.concept?.name || id),
          h("td", { class: "num" }, String(m.num_pos ?? 0)),
          h("td", { class: "num" }, String(m.num_neg ?? 0)),
          h("td", { class: "num" }, fmt(m.roc_auc)),
          h("td", { class: "num" }, fmt(m.f1)),
          h("td", { class: "num" }, fmt(more.precision)),
          h("td", { class: "num" }, fmt(more.recall)),
        );
      }),
    ),
  );
}

// An SVG heat map: rows are the true concepts, columns the predicted ones; each cell is shaded
// by its share of the row.
export function confusionMatrix(matrix) {
  const ids = matrix.concept_ids || [];
  if (!ids.length) return h("p", { class: "muted" }, "No confusion matrix.");
  const cells = new Map((matrix.matrix || []).map((e) => [`${e.actual}\u0000${e.predicted}`, e.value || 0]));
  const [cell, left, top, n] = [64, 110, 46, ids.length];
  const [width, height] = [left + n * cell + 4, top + n * cell + 4];
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-label": "Confusion matrix",
    "data-testid": "confusion-matrix",
  });
  const text = (x, y, content, extra = {}) =>
    s("text", { x, y, "text-anchor": "middle", "font-size": 12, fill: "#1d2330", ...extra }, content);
  const middle = (start) => start + (n * cell) / 2;
  svg.append(text(middle(left), 14, "predicted", { fill: "#667085", "font-size": 11 }));
  svg.append(
    text(14, middle(top), "actual", {
      fill: "#667085",
      "font-size": 11,
      transform: `rotate(-90 14 ${middle(top)})`,
    }),
  );
  ids.forEach((id, i) => {
    svg.append(text(left + i * cell + cell / 2, top - 10, trim(id)));
    svg.append(text(left - 10, top + i * cell + cell / 2 + 4, trim(id), { "text-anchor": "end" }));
  });
  ids.forEach((actual, row) => {
    const rowTotal =
      ids.reduce((sum, predicted) => sum + (cells.get(`${actual}\u0000${predicted}`) || 0), 0) || 1;
    ids.forEach((predicted, col) => {
      const value = cells.get(`${actual}\u0000${predicted}`) || 0;
      const share = value / rowTotal;
      const [x, y] = [left + col * cell, top + row * cell];
      svg.append(
        s("rect", {
          x,
          y,
          width: cell - 3,
          height: cell - 3,
          rx: 4,
          fill: shade(share, actual === predicted),
        }),
      );
      const label = String(Math.round(value * 100) / 100);
      svg.append(
        text(x + (cell - 3) / 2, y + (cell - 3) / 2 + 5, label, {
          "font-size": 15,
          "font-weight": 600,
          fill: share > 0.55 ? "#fff" : "#1d2330",
        }),
      );
    });
  });
  return svg;
}

function shade(share, diagonal) {
  const [r, g, b] = diagonal ? [47, 91, 234] : [180, 35, 24];
  const t = 0.08 + 0.92 * share;
  const mix = (c) => Math.round(255 - (255 - c) * t);
  return `rgb(${mix(r)}, ${mix(g)}, ${mix(b)})`;
}

function trim(text) {
  return text.length > 10 ? `${text.slice(0, 9)}…` : text;
}
