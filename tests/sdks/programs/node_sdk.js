// The modern Node SDK (npm clarifai-nodejs) used as its documentation shows, against Clarion.
//
// Run by tests/sdks/test_node_sdk.py with NODE_PATH at the SDK's own node_modules. Environment:
// CLARIFAI_PAT, CLARIFAI_BASE (http://127.0.0.1:<grpc port>: the SDK speaks gRPC only; an
// http:// base means plaintext), CLARIFAI_USER_ID, IMAGES (cat.jpg, coffee.jpg, cat/*.jpg),
// CAT_URL (cat.jpg on a loopback HTTP server), RESULTS (a file: the SDK logs on stdout). Writes
// one JSON object there: flow name -> what it saw, or {"error": ...}.
// Left out: the SDK has no training, evaluation, input listing or download calls, and its
// Model.getParams cannot work against any server (0.4.0's loadInfo drops model_type_id).
"use strict";

const fs = require("fs");
const path = require("path");
const { App, Dataset, Input, Model, Search, User } = require("clarifai-nodejs");
const { Concept, OutputConfig } = require("clarifai-nodejs-grpc/proto/clarifai/api/resources_pb");

const IMAGES = process.env.IMAGES;
const CAT_URL = process.env.CAT_URL;
const USER_ID = process.env.CLARIFAI_USER_ID;
const APP_ID = `sdk-node-${Date.now()}`;
const DATASET_ID = "pets";
const auth = (appId, userId = USER_ID) => ({
  userId,
  appId,
  pat: process.env.CLARIFAI_PAT,
  base: process.env.CLARIFAI_BASE,
});

const generalModel = () =>
  new Model({
    modelId: "general-image-recognition",
    authConfig: auth("main", "clarifai"),
  });
const conceptsOf = (outputs) =>
  outputs[0].data.conceptsList.map((c) => [c.name, Math.round(c.value * 1e4) / 1e4]);

async function firstPage(generator) {
  const page = await generator.next();
  return page.value ?? [];
}

async function appsAndDatasets() {
  const user = new User(auth(""));
  await user.createApp({ appId: APP_ID });
  const app = new App({ authConfig: auth(APP_ID) });
  await app.createDataset({ datasetId: DATASET_ID });
  return {
    apps: (await firstPage(user.listApps())).map((a) => a.id),
    datasets: (await firstPage(app.listDataSets())).map((d) => d.id),
  };
}

async function uploads() {
  const inputs = new Input({ authConfig: auth(APP_ID) });
  const cat = fs.readFileSync(path.join(IMAGES, "cat.jpg"));
  await inputs.uploadFromBytes({ inputId: "cat-bytes", imageBytes: cat, labels: ["cat"] });
  await inputs.uploadFromFile({
    inputId: "coffee-file",
    imageFile: path.join(IMAGES, "coffee.jpg"),
    labels: ["coffee"],
  });
  await inputs.uploadFromUrl({ inputId: "cat-url", imageUrl: CAT_URL });
  const dataset = new Dataset({ datasetId: DATASET_ID, authConfig: auth(APP_ID) });
  await dataset.uploadFromFolder({
    folderPath: path.join(IMAGES, "cat"),
    inputType: "image",
    labels: true,
  });
  // The SDK has no input listing: list them the way its docs do, with a filter-only search.
  const search = new Search({ authConfig: auth(APP_ID), topK: 50 });
  await waitUntilProcessed(search, 9);
  return {
    input_ids: await hitIds(search, { filters: [{ inputTypes: ["image"] }] }),
    dataset_input_ids: await hitIds(search, { filters: [{ inputDatasetIds: [DATASET_ID] }] }),
  };
}

async function waitUntilProcessed(search, count) {
  // Inputs are indexed in the background, as on Clarifai; a processed one is searchable.
  const processed = { filters: [{ inputStatusCode: 30000 }] }; // INPUT_DOWNLOAD_SUCCESS
  for (let attempt = 0; attempt < 240; attempt++) {
    if ((await hitIds(search, processed)).length >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error("inputs still processing");
}

async function hitIds(search, query) {
  const ids = [];
  for await (const page of search.query(query)) {
    for (const hit of page.hitsList) ids.push(hit.input.id);
  }
  return ids;
}

async function predictOutputConfig() {
  const model = generalModel();
  const cat = fs.readFileSync(path.join(IMAGES, "cat.jpg"));
  const config = (set) => {
    const outputConfig = new OutputConfig();
    set(outputConfig);
    return outputConfig;
  };
  const byBytes = (outputConfig) =>
    model.predictByBytes({ inputBytes: cat, inputType: "image", outputConfig });
  const chosen = ["espresso", "tabby"].map((name) => {
    const concept = new Concept();
    concept.setName(name);
    return concept;
  });
  return {
    plain: conceptsOf(await byBytes(undefined)),
    max_concepts_2: conceptsOf(await byBytes(config((c) => c.setMaxConcepts(2)))),
    "min_value_0.05": conceptsOf(await byBytes(config((c) => c.setMinValue(0.05)))),
    select_concepts: conceptsOf(await byBytes(config((c) => c.setSelectConceptsList(chosen)))),
    by_url: conceptsOf(await generalModel().predictByUrl({ url: CAT_URL, inputType: "image" })),
    by_file: conceptsOf(
      await generalModel().predictByFilepath({
        filepath: path.join(IMAGES, "cat.jpg"),
        inputType: "image",
      })
    ),
  };
}

async function predictImage() {
  // The new interface: the model's method signatures come with GetModel.
  const model = generalModel();
  const methods = await model.availableMethods();
  const outputs = await model.predict({ methodName: "predict", image: { url: CAT_URL } });
  const data = outputs[0].data;
  const concepts = data.conceptsList.length ? data.conceptsList : data.partsList[0].data.conceptsList;
  return { methods, concepts: concepts.map((c) => [c.name, Math.round(c.value * 1e4) / 1e4]) };
}

async function searches() {
  const search = new Search({ authConfig: auth(APP_ID), topK: 10 });
  return {
    images: (await hitIds(search, { filters: [{ inputTypes: ["image"] }] })).sort(),
    labelled_cat: (await hitIds(search, { filters: [{ concepts: [{ name: "cat", value: 1 }] }] })).sort(),
    by_image_url: await hitIds(search, { ranks: [{ imageUrl: CAT_URL }] }),
    by_predicted_concept: await hitIds(search, { ranks: [{ concepts: [{ name: "espresso" }] }] }),
    ranked_and_filtered: await hitIds(search, {
      ranks: [{ imageUrl: CAT_URL }],
      filters: [{ concepts: [{ name: "coffee", value: 1 }] }],
    }),
  };
}

const FLOWS = {
  apps_and_datasets: appsAndDatasets,
  uploads,
  predict_output_config: predictOutputConfig,
  predict_image: predictImage,
  searches,
};

async function main() {
  const results = {};
  for (const [name, flow] of Object.entries(FLOWS)) {
    try {
      results[name] = await flow();
    } catch (error) {
      console.error(error);
      results[name] = { error: String(error && error.message ? error.message : error).slice(0, 2000) };
    }
  }
  fs.writeFileSync(process.env.RESULTS, JSON.stringify(results));
}

main();
