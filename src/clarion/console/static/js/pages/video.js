// A video input: a player for its hosted original (its thumbnail as the poster) and the
// general model's concepts frame by frame on a timeline; a frame's row seeks the player there.

import { appPath, call, hostedBlob, session } from "../api.js";
import { clear, errorBox, h, objectUrl } from "../dom.js";
import { conceptChips } from "./common.js";

const MODEL = "general-image-recognition";
const CONCEPTS_PER_FRAME = 5;

export async function showVideo(page, appId, input, left) {
  let original;
  let poster = null;
  try {
    [original, poster] = await Promise.all([
      hostedBlob(session.userId, appId, input.id, "orig"),
      hostedBlob(session.userId, appId, input.id, "tiny").catch(() => null),
    ]);
  } catch (error) {
    if (page.alive()) clear(left, errorBox(error, "Could not load the video"));
    return;
  }
  if (!page.alive()) return;
  const player = h("video", {
    controls: "",
    preload: "metadata",
    src: objectUrl(original),
    poster: poster ? objectUrl(poster) : null,
    "data-testid": "input-video",
    class: "video",
  });
  const timeline = h("div", { "data-testid": "timeline" }, h("p", { class: "muted" }, "Predicting frame by frame…"));
  clear(left, player, h("h2", {}, "Concepts frame by frame"), timeline);
  try {
    const frames = await predictFrames(appId, input.id);
    if (page.alive()) clear(timeline, frameTable(frames, player));
  } catch (error) {
    if (page.alive()) clear(timeline, errorBox(error, `${MODEL} could not predict`));
  }
}

// The general model on the stored video (by input id, so through the app), one frame a second.
async function predictFrames(appId, inputId) {
  const body = {
    inputs: [{ id: inputId }],
    model: { output_info: { output_config: { max_concepts: CONCEPTS_PER_FRAME } } },
  };
  const answer = await call("POST", appPath(appId, `/models/${MODEL}/outputs`), body);
  const output = answer.outputs[0];
  if (output.status?.code !== 10000) throw new Error(output.status?.description || "prediction failed");
  return output.data?.frames || [];
}

function frameTable(frames, player) {
  if (!frames.length) return h("p", { class: "muted" }, "No frames.");
  return h(
    "table",
    { class: "timeline" },
    h("thead", {}, h("tr", {}, h("th", {}, "Time"), h("th", {}, "Concepts"))),
    h(
      "tbody",
      {},
      frames.map((frame) => {
        const ms = Number(frame.frame_info?.time || 0);
        const seek = () => {
          player.currentTime = ms / 1000;
        };
        return h(
          "tr",
          { "data-testid": "frame", "data-time": String(ms), onclick: seek, class: "clickable" },
          h("td", { class: "mono" }, `${(ms / 1000).toFixed(1)} s`),
          h("td", {}, conceptChips(frame.data?.concepts)),
        );
      }),
    ),
  );
}
