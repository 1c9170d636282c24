// An app's inputs: upload by drag and drop with a progress bar, then a paged thumbnail grid.

import { appPath, call, postWithProgress } from "../api.js";
import { clear, dropzone, errorBox, fileToBase64, h, infoBox, progressBar } from "../dom.js";
import { field } from "./apps.js";
import { appHeader, appLink, inputTile, isPending } from "./common.js";

const PER_PAGE = 24;
const POLL_MS = 800;

export async function renderInputs(page, appId) {
  page.title(`${appId} · Inputs`);
  const pageNo = Math.max(1, Number.parseInt(page.query.get("page") || "1", 10) || 1);
  const counts = h("div", { class: "muted small", "data-testid": "counts" });
  const grid = h("div", { "data-testid": "grid" }, h("p", { class: "muted" }, "Loading inputs…"));
  const pager = h("div", { class: "pager" });
  const refresh = () => loadPage(page, appId, pageNo, { counts, grid, pager });
  clear(
    page.view,
    appHeader(appId, "inputs", { actions: counts }),
    uploader(page, appId, refresh),
    grid,
    pager,
  );
  await refresh();
}

async function loadPage(page, appId, pageNo, { counts, grid, pager }) {
  let listed;
  let tally;
  try {
    [listed, tally] = await Promise.all([
      call("GET", appPath(appId, `/inputs?page=${pageNo}&per_page=${PER_PAGE}`)),
      call("GET", appPath(appId, "/inputs/status")),
    ]);
  } catch (error) {
    if (page.alive()) clear(grid, errorBox(error, "Could not list the inputs"));
    return;
  }
  if (!page.alive()) return;
  const inputs = listed.inputs || [];
  const c = tally.counts || {};
  const waiting = (c.to_process || 0) + (c.processing || 0);
  const total = (c.processed || 0) + waiting + (c.errors || 0);
  clear(counts, describeCounts(c, total));
  const pages = Math.max(1, Math.ceil(total / PER_PAGE));
  if (!inputs.length) {
    clear(
      grid,
      h(
        "div",
        { class: "panel empty" },
        pageNo > 1 ? "No inputs on this page." : "No inputs yet: drop some images above.",
      ),
    );
  } else {
    updateGrid(grid, appId, inputs);
  }
  clear(
    pager,
    h(
      "a",
      {
        class: "button secondary",
        href: appLink(appId, "inputs", `?page=${pageNo - 1}`),
        hidden: pageNo <= 1,
        "data-testid": "prev",
      },
      "← Previous",
    ),
    h("span", { class: "muted small" }, `Page ${pageNo} of ${Math.max(pages, pageNo)}`),
    h(
      "a",
      {
        class: "button secondary",
        href: appLink(appId, "inputs", `?page=${pageNo + 1}`),
        hidden: pageNo >= pages,
        "data-testid": "next",
      },
      "Next →",
    ),
  );
  if (waiting > 0 || inputs.some(isPending)) {
    page.later(() => loadPage(page, appId, pageNo, { counts, grid, pager }), POLL_MS);
  }
}

function describeCounts(c, total) {
  const parts = [`${total} input${total === 1 ? "" : "s"}`];
  const waiting = (c.to_process || 0) + (c.processing || 0);
  if (waiting) parts.push(`${waiting} processing`);
  if (c.errors) parts.push(`${c.errors} failed`);
  return parts.join(" · ");
}

// Keep the tiles whose input did not change, so thumbnails are not fetched again.
function updateGrid(grid, appId, inputs) {
  let box = grid.querySelector(".grid");
  if (!box) {
    box = h("div", { class: "grid" });
    clear(grid, box);
  }
  const old = new Map([...box.children].map((tile) => [tile.dataset.key, tile]));
  const tiles = inputs.map((input) => {
    const key = `${input.id}@${input.modified_at}`;
    return old.get(key) || inputTile(appId, input);
  });
  for (const [index, tile] of tiles.entries()) {
    tile.dataset.key = `${inputs[index].id}@${inputs[index].modified_at}`;
  }
  box.replaceChildren(...tiles);
}

function uploader(page, appId, refresh) {
  const progress = progressBar("upload-progress");
  const status = h("div", { "data-testid": "upload-status" });
  const concepts = h("input", {
    id: "upload-concepts",
    placeholder: "cat, pet",
    "data-testid": "upload-concepts",
  });
  const metadata = h("input", {
    id: "upload-metadata",
    placeholder: '{"source": "camera-1"}',
    "data-testid": "upload-metadata",
  });
  let busy = false;
  const zone = dropzone({
    text: "Drop images here, or click to choose files",
    hint: "JPEG, PNG, GIF, BMP, TIFF or WEBP. Each image becomes an input; its file name goes into its metadata.",
    testid: "upload-drop",
    onFiles: async (files) => {
      if (busy) return;
      busy = true;
      zone.classList.add("busy");
      clear(status);
      try {
        const extra = {
          concepts: parseConcepts(concepts.value),
          metadata: JSON.parse(metadata.value.trim() || "{}"),
        };
        await upload(page, appId, files, extra, progress, status);
        await refresh();
      } catch (error) {
        status.append(
          errorBox(
            error,
            error instanceof SyntaxError ? "The metadata is not valid JSON" : "The upload failed",
          ),
        );
      } finally {
        busy = false;
        zone.classList.remove("busy");
      }
    },
  });
  return h(
    "section",
    { class: "panel" },
    h("h2", { class: "first" }, "Upload"),
    zone,
    h(
      "div",
      { class: "row inline-form small", style: { marginTop: ".75rem" } },
      field("Concepts for these images (optional)", concepts),
      field("Metadata JSON (optional)", metadata),
    ),
    progress.el,
    status,
  );
}

function parseConcepts(text) {
  return text
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean)
    .map((name) => ({ id: name, value: 1 }));
}

// Sends the files one request each (so the bar moves), then waits for ingestion to finish.
async function upload(page, appId, files, extra, progress, status) {
  const images = files.filter(
    (file) => file.type.startsWith("image/") || /\.(jpe?g|png|gif|bmp|tiff?|webp)$/i.test(file.name),
  );
  const skipped = files.length - images.length;
  if (!images.length) throw new Error("None of the dropped files is an image");
  const bodies = [];
  for (const file of images) {
    const data = {
      image: { base64: await fileToBase64(file) },
      metadata: { ...extra.metadata, filename: file.name },
    };
    if (extra.concepts.length) data.concepts = extra.concepts;
    bodies.push({ file, body: { inputs: [{ data }] } });
  }
  const sizes = bodies.map(({ body }) => body.inputs[0].data.image.base64.length);
  const totalBytes = sizes.reduce((a, b) => a + b, 0);
  let sent = 0;
  const failures = [];
  const ids = [];
  for (const [index, { file, body }] of bodies.entries()) {
    const label = `Uploading ${index + 1} of ${bodies.length}: ${file.name}`;
    progress.set(sent / totalBytes, label);
    try {
      const answer = await postWithProgress(appPath(appId, "/inputs"), body, (loaded, total) => {
        progress.set((sent + (sizes[index] * loaded) / Math.max(total, 1)) / totalBytes, label);
      });
      ids.push(...(answer.inputs || []).map((input) => input.id));
    } catch (error) {
      failures.push([file.name, error]);
    }
    sent += sizes[index];
  }
  if (ids.length) await waitForIngestion(page, appId, ids.length, progress);
  else progress.set(1, "Nothing was uploaded", false);
  const done = `${ids.length} image${ids.length === 1 ? "" : "s"} uploaded`;
  if (ids.length)
    status.append(
      infoBox(`${done} and processed.${skipped ? ` ${skipped} file(s) skipped: not images.` : ""}`, "ok"),
    );
  for (const [name, error] of failures) status.append(errorBox(error, name));
}

async function waitForIngestion(page, appId, count, progress) {
  const deadline = Date.now() + 5 * 60 * 1000;
  while (Date.now() < deadline && page.alive()) {
    const { counts = {} } = await call("GET", appPath(appId, "/inputs/status"));
    const waiting = Math.min(count, (counts.to_process || 0) + (counts.processing || 0));
    const ready = count - waiting;
    progress.set(ready / count, `Processing: ${ready} of ${count} ready`, waiting === 0);
    if (waiting === 0) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
