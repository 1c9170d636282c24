// The deprecated REST client, npm clarifai@2 (2.9.1), used as its README shows, against Clarion.
//
// Run by tests/sdks/test_clarifai_js_2.py with NODE_PATH at the client's own node_modules.
// Environment: CLARIFAI_API_KEY (an app's API key, as the client's users hold), API_ENDPOINT
// (Clarion's HTTP base URL, read by the client itself), IMAGES (cat.jpg, coffee.jpg), CAT_URL
// (cat.jpg on a loopback HTTP server), RESULTS (a file). Writes one JSON object there: flow
// name -> what it saw, or {"error": ...}.
"use strict";

const fs = require("fs");
const path = require("path");
const Clarifai = require("clarifai");

const app = new Clarifai.App({ apiKey: process.env.CLARIFAI_API_KEY });
const CAT_URL = process.env.CAT_URL;
const base64 = (name) => fs.readFileSync(path.join(process.env.IMAGES, name)).toString("base64");

const conceptsOf = (response) =>
  response.outputs[0].data.concepts.map((c) => [c.name, Math.round(c.value * 1e4) / 1e4]);
const hitIds = (response) => response.hits.map((hit) => hit.input.id);

async function predict() {
  return {
    by_url: conceptsOf(await app.models.predict(Clarifai.GENERAL_MODEL, CAT_URL)),
    by_bytes: conceptsOf(await app.models.predict(Clarifai.GENERAL_MODEL, { base64: base64("cat.jpg") })),
    by_name: conceptsOf(await app.models.predict("general-image-recognition", CAT_URL)),
    moderation: conceptsOf(await app.models.predict(Clarifai.MODERATION_MODEL, CAT_URL)),
  };
}

async function inputs() {
  const created = await app.inputs.create([
    { id: "cat-url", url: CAT_URL, concepts: [{ id: "cat", value: true }], metadata: { kind: "pet" } },
    { id: "coffee-bytes", base64: base64("coffee.jpg"), concepts: [{ id: "coffee" }], metadata: { kind: "drink" } },
  ]);
  await waitUntilProcessed();
  const listed = await app.inputs.list({ page: 1, perPage: 20 });
  const got = await app.inputs.get("coffee-bytes");
  return {
    // Collections of the client are array-like (indexes and length), not arrays.
    created_ids: Array.from(created, (input) => input.id),
    created_urls: Array.from(created, (input) => Boolean(input.imageUrl)),
    listed: Array.from(listed, (input) => input.id).sort(),
    got: {
      id: got.id,
      has_url: Boolean(got.imageUrl),
      concepts: Array.from(got.concepts, (c) => [c.id, c.value]),
      metadata: got.metadata,
    },
  };
}

async function waitUntilProcessed() {
  for (let attempt = 0; attempt < 120; attempt++) {
    const status = await app.inputs.getStatus();
    // A count of 0 is absent from the JSON (proto3), as on Clarifai.
    if (!status.counts.to_process && !status.counts.processing) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error("inputs still processing");
}

async function searches() {
  return {
    predicted_concept: hitIds(await app.inputs.search({ concept: { name: "tabby" } })),
    annotated_concept: hitIds(await app.inputs.search({ concept: { name: "coffee", type: "input" } })),
    by_image_url: hitIds(await app.inputs.search({ input: { url: CAT_URL } })),
    by_image_bytes: hitIds(await app.inputs.search({ input: { base64: base64("coffee.jpg") } })),
    by_metadata: hitIds(await app.inputs.search({ input: { metadata: { kind: "drink" } } })),
    by_input_id: hitIds(await app.inputs.search({ input: { id: "cat-url" } })),
    not_predicted: hitIds(await app.inputs.search({ concept: { name: "tabby", value: false } })),
  };
}

const FLOWS = { predict, inputs, searches };

async function main() {
  const results = {};
  for (const [name, flow] of Object.entries(FLOWS)) {
    try {
      results[name] = await flow();
    } catch (error) {
      console.error(error);
      const detail = error && error.data ? JSON.stringify(error.data.status || error.data) : String(error);
      results[name] = { error: detail.slice(0, 2000) };
    }
  }
  fs.writeFileSync(process.env.RESULTS, JSON.stringify(results));
}

main();
