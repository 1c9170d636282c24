// Pieces several pages share: an app's header with its tabs, input tiles, status badges.

import { enc, session } from "../api.js";
import { badge, h, hostedImage } from "../dom.js";

const TABS = [
  ["inputs", "Inputs"],
  ["search", "Search"],
  ["models", "Models"],
  ["keys", "Keys"],
];

export function appLink(appId, tab = "inputs", rest = "") {
  return `#/apps/${enc(appId)}/${tab}${rest}`;
}

export function appHeader(appId, active, { title, crumbs = [], actions = null } = {}) {
  const trail = [h("a", { href: "#/apps" }, "Apps"), " / ", h("a", { href: appLink(appId) }, appId)];
  for (const [text, href] of crumbs) trail.push(" / ", href ? h("a", { href }, text) : text);
  return h(
    "div",
    {},
    h("div", { class: "crumbs" }, trail),
    h("div", { class: "spread" }, h("h1", { "data-testid": "page-title" }, title || appId), actions),
    h(
      "nav",
      { class: "tabs" },
      TABS.map(([tab, text]) =>
        h(
          "a",
          { href: appLink(appId, tab), class: tab === active ? "active" : null, "data-testid": `tab-${tab}` },
          text,
        ),
      ),
    ),
  );
}

// Input statuses (30000s): the text and colour of their badge.
export function inputStatus(status) {
  const code = status?.code || 0;
  if (code === 30000) return ["Ready", "ok"];
  if (code === 30001) return ["Pending", "pending"];
  if (code === 30003) return ["Processing", "pending"];
  if (code === 30002) return ["Failed", "bad"];
  return [status?.description || `Status ${code}`, code >= 30100 ? "bad" : "neutral"];
}

export function isPending(input) {
  const code = input.status?.code;
  return code === 30001 || code === 30003;
}

export function inputName(input) {
  const name = input.data?.metadata?.filename;
  return typeof name === "string" && name ? name : input.id;
}

export function conceptChips(concepts = []) {
  return concepts.map((c) =>
    h(
      "span",
      { class: c.value > 0 ? "chip" : "chip negative", title: `${c.id}: ${c.value}` },
      c.name || c.id,
    ),
  );
}

export function metadataLine(metadata = {}) {
  const entries = Object.entries(metadata).filter(([key]) => key !== "filename");
  if (!entries.length) return null;
  const text = entries
    .map(([key, value]) => `${key}: ${typeof value === "object" ? JSON.stringify(value) : value}`)
    .join(" · ");
  return h("div", { class: "meta", title: text }, text);
}

// A tile in a grid: the thumbnail, name, status, concepts and metadata; `score` for search hits.
export function inputTile(appId, input, { userId = session.userId, score = null, rank = null } = {}) {
  const [statusText, statusKind] = inputStatus(input.status);
  // A video's tiny size is a still of its first frame.
  const hasImage =
    Boolean(input.data?.image?.hosted || input.data?.video?.hosted) ||
    (score !== null && (input.data?.image || input.data?.video));
  const thumb = h("div", { class: "thumb" });
  if (hasImage)
    thumb.append(hostedImage(userId, appId, input.id, "tiny", { alt: inputName(input), testid: "thumb" }));
  else if (input.data?.text) thumb.append(h("div", { class: "placeholder" }, input.data.text.raw || "Text"));
  else thumb.append(h("div", { class: "placeholder" }, isPending(input) ? "Processing…" : "No image"));
  const top =
    score === null
      ? h(
          "div",
          { class: "line" },
          h("span", { class: "name", title: inputName(input) }, inputName(input)),
          badge(statusText, statusKind, "status"),
        )
      : h(
          "div",
          { class: "line" },
          h("span", { class: "name", title: inputName(input) }, inputName(input)),
          h("span", { class: "score", "data-testid": "score" }, score.toFixed(3)),
        );
  return h(
    "a",
    {
      class: "tile",
      href: appLink(appId, "inputs", `/${enc(input.id)}`),
      "data-testid": score === null ? "input-tile" : "hit",
      "data-input-id": input.id,
      "data-name": inputName(input),
    },
    thumb,
    h(
      "div",
      { class: "body" },
      rank === null ? null : h("div", { class: "rank" }, `#${rank}`),
      top,
      inputName(input) !== input.id ? h("div", { class: "id mono", title: input.id }, input.id) : null,
      h("div", { class: "concepts" }, conceptChips(input.data?.concepts)),
      metadataLine(input.data?.metadata),
    ),
  );
}

// Model version statuses (21100s) and evaluation statuses (21300s).
export function versionStatus(status) {
  const code = status?.code || 0;
  const text = status?.description || MODEL_CODES[code] || `Status ${code}`;
  if (code === 21100 || code === 21300) return [text, "ok"];
  if ([21101, 21103, 21301, 21303].includes(code)) return [text, "pending"];
  if (code === 21102 || code === 21302) return [text, "neutral"];
  return [text, "bad"];
}

const MODEL_CODES = {
  21100: "Trained",
  21101: "Training",
  21102: "Untrained",
  21103: "Queued for training",
  21106: "Training failed",
  21110: "No training data",
  21111: "No positive examples",
  21300: "Evaluated",
  21301: "Evaluating",
  21302: "Not evaluated",
  21303: "Queued for evaluation",
  21315: "Evaluation needs labels",
  21316: "Evaluation needs inputs",
  21317: "Evaluation failed",
};
