// Compute clusters → nodepools → runners, each runner with the model it serves, and the
// server's runner load. Clarifai's Runner message has no field for connection or load, so the
// load comes from the server's Prometheus /metrics (clarion_runners, summed over all models).

import { BASE, call, enc, session, userPath } from "../api.js";
import { badge, clear, errorBox, h, infoBox } from "../dom.js";

const LOAD_STATES = [
  ["streams", "runner stream open", "runner streams open"],
  ["waiting", "call waiting", "calls waiting"],
  ["running", "call running", "calls running"],
];

export async function renderRunners(page) {
  page.title("Runners");
  const load = h("div", { "data-testid": "runner-load" }, h("p", { class: "muted" }, "Reading /metrics…"));
  const tree = h("div", { "data-testid": "clusters" }, h("p", { class: "muted" }, "Loading compute clusters…"));
  clear(
    page.view,
    h("h1", {}, "Runners"),
    h(
      "p",
      { class: "muted" },
      "Your compute clusters, their nodepools and the runners in them, with the model each runner serves. A model's calls go to its runners once one connects (the SDK's local runner, or a model you uploaded).",
    ),
    load,
    tree,
  );
  await Promise.all([showLoad(page, load), showClusters(page, tree)]);
}

async function showLoad(page, box) {
  let figures;
  try {
    figures = await readRunnerLoad();
  } catch (error) {
    if (page.alive()) clear(box, infoBox(`The server's /metrics could not be read (${error.message}); runner load is not shown.`, "info"));
    return;
  }
  if (!page.alive()) return;
  clear(
    box,
    h(
      "div",
      { class: "row small", style: { marginBottom: ".8rem" } },
      h("strong", {}, "Load, all runners on this server:"),
      LOAD_STATES.map(([state, one, many]) =>
        badge(`${figures[state] ?? 0} ${(figures[state] ?? 0) === 1 ? one : many}`, state === "streams" && figures[state] > 0 ? "ok" : "neutral", `load-${state}`),
      ),
    ),
  );
}

// The clarion_runners gauge, by state, from the Prometheus text at /metrics (same origin, no PAT).
export async function readRunnerLoad() {
  const response = await fetch(`${BASE}/metrics`);
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const figures = {};
  for (const line of (await response.text()).split("\n")) {
    const match = /^clarion_runners\{state="(\w+)"\}\s+([0-9.eE+-]+)$/.exec(line.trim());
    if (match) figures[match[1]] = Number(match[2]);
  }
  if (!Object.keys(figures).length) throw new Error("no clarion_runners gauge");
  return figures;
}

async function showClusters(page, box) {
  try {
    const clusters = (await call("GET", userPath("/compute_clusters?per_page=100"))).compute_clusters || [];
    if (!page.alive()) return;
    if (!clusters.length) {
      clear(box, infoBox("No compute clusters yet. The SDK's local runner creates one, or use PostComputeClusters."));
      return;
    }
    const sections = await Promise.all(clusters.map(clusterSection));
    if (page.alive()) clear(box, sections);
  } catch (error) {
    if (page.alive()) clear(box, errorBox(error, "Could not list the compute clusters"));
  }
}

async function clusterSection(cluster) {
  const path = userPath(`/compute_clusters/${enc(cluster.id)}/nodepools`);
  const nodepools = (await call("GET", `${path}?per_page=100`)).nodepools || [];
  const inner = await Promise.all(nodepools.map((nodepool) => nodepoolSection(cluster, nodepool)));
  return h(
    "section",
    { class: "card", "data-testid": "cluster", "data-cluster-id": cluster.id },
    h("div", { class: "title" }, `Compute cluster ${cluster.id}`),
    nodepools.length ? inner : h("p", { class: "muted small" }, "No nodepools."),
  );
}

async function nodepoolSection(cluster, nodepool) {
  const path = userPath(`/compute_clusters/${enc(cluster.id)}/nodepools/${enc(nodepool.id)}/runners`);
  const runners = (await call("GET", `${path}?per_page=100`)).runners || [];
  return h(
    "div",
    { "data-testid": "nodepool", "data-nodepool-id": nodepool.id, style: { marginTop: ".6rem" } },
    h("div", { class: "small" }, h("strong", {}, `Nodepool ${nodepool.id}`)),
    runners.length
      ? h("ul", {}, runners.map(runnerItem))
      : h("p", { class: "muted small" }, "No runners."),
  );
}

function runnerItem(runner) {
  const model = runner.worker?.model;
  const served = model ? `${model.user_id || runner.user_id || session.userId}/${model.app_id || "?"}/${model.id}` : "no model";
  return h(
    "li",
    { "data-testid": "runner", "data-runner-id": runner.id },
    h("span", {}, runner.id),
    " serves ",
    h("code", { "data-testid": "runner-model" }, served),
  );
}
