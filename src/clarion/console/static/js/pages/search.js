// Search an app's inputs by example image, by concept or by metadata; the hits as a grid.

import { appPath, call } from "../api.js";
import { clear, dropzone, errorBox, fileToBase64, h, objectUrl } from "../dom.js";
import { appHeader, inputTile } from "./common.js";

const PER_PAGE = 48;

export function renderSearch(page, appId) {
  page.title(`${appId} · Search`);
  const results = h("div", { "data-testid": "results" });
  const show = (label, query) => runSearch(page, appId, label, query, results);
  clear(
    page.view,
    appHeader(appId, "search"),
    h("div", { class: "searchforms" }, byImage(show), byConcept(show), byMetadata(show)),
    results,
  );
}

function byImage(show) {
  const example = h("div", { class: "example", "data-testid": "example" });
  const zone = dropzone({
    text: "Drop an example image",
    hint: "or click to choose one",
    multiple: false,
    testid: "search-drop",
    onFiles: async ([file]) => {
      clear(example, h("img", { src: objectUrl(file), alt: "" }), h("span", {}, file.name));
      const base64 = await fileToBase64(file);
      show(`Looks like ${file.name}`, { ranks: [{ annotation: { data: { image: { base64 } } } }] });
    },
  });
  return h("section", { class: "panel" }, h("h3", {}, "By example image"), zone, example);
}

function byConcept(show) {
  const name = h("input", {
    id: "search-concept",
    placeholder: "cat",
    required: true,
    "data-testid": "search-concept",
  });
  const mode = h(
    "select",
    { "aria-label": "How", "data-testid": "search-concept-mode" },
    h("option", { value: "labelled" }, "labelled with the concept"),
    h("option", { value: "ranked" }, "ranked by likeness to it"),
  );
  return h(
    "form",
    {
      class: "panel",
      onsubmit: (event) => {
        event.preventDefault();
        const concept = name.value.trim();
        if (!concept) return;
        if (mode.value === "labelled") {
          show(`Labelled “${concept}”`, {
            filters: [{ annotation: { data: { concepts: [{ id: concept, value: 1 }] } } }],
          });
        } else {
          show(`Ranked by “${concept}”`, {
            ranks: [{ annotation: { data: { concepts: [{ name: concept, value: 1 }] } } }],
          });
        }
      },
    },
    h("h3", {}, "By concept"),
    h("label", { for: "search-concept" }, "Concept"),
    name,
    mode,
    h("button", { type: "submit", "data-testid": "search-concept-go" }, "Search"),
  );
}

function byMetadata(show) {
  const text = h("textarea", {
    id: "search-metadata",
    placeholder: '{"kind": "cat"}',
    "data-testid": "search-metadata",
  });
  const problem = h("div", {});
  return h(
    "form",
    {
      class: "panel",
      onsubmit: (event) => {
        event.preventDefault();
        clear(problem);
        let metadata;
        try {
          metadata = JSON.parse(text.value.trim() || "{}");
          if (typeof metadata !== "object" || Array.isArray(metadata) || metadata === null)
            throw new SyntaxError("not an object");
        } catch (error) {
          problem.append(errorBox(error, "Write the metadata as a JSON object"));
          return;
        }
        show("Metadata contains " + JSON.stringify(metadata), {
          filters: [{ annotation: { data: { metadata } } }],
        });
      },
    },
    h("h3", {}, "By metadata"),
    h("label", { for: "search-metadata" }, "Inputs whose metadata contains"),
    text,
    problem,
    h("button", { type: "submit", "data-testid": "search-metadata-go" }, "Search"),
  );
}

async function runSearch(page, appId, label, query, results) {
  clear(results, h("p", { class: "muted" }, "Searching…"));
  try {
    const answer = await call("POST", appPath(appId, "/inputs/searches"), {
      searches: [{ query }],
      pagination: { page: 1, per_page: PER_PAGE },
    });
    if (!page.alive()) return;
    const hits = answer.hits || [];
    const total = Number(answer.hit_counts?.[0]?.estimated_total ?? hits.length);
    clear(
      results,
      h(
        "div",
        { class: "spread" },
        h("h2", {}, label),
        h(
          "span",
          { class: "muted small", "data-testid": "hit-count" },
          `${total} hit${total === 1 ? "" : "s"}${total > hits.length ? `, the first ${hits.length} shown` : ""}`,
        ),
      ),
      hits.length
        ? h(
            "div",
            { class: "grid", "data-testid": "hits" },
            hits.map((hit, index) =>
              inputTile(hit.app_id || appId, hit.input, {
                userId: hit.user_id,
                score: hit.score,
                rank: index + 1,
              }),
            ),
          )
        : h("div", { class: "panel empty" }, "No input matches."),
    );
  } catch (error) {
    if (page.alive()) clear(results, errorBox(error, "The search failed"));
  }
}
