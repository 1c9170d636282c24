// Labelling: an app's tasks and a form to create one; on a task, the labeller's next inputs with
// a button per concept (the label is posted for the task and the input submitted), and for its
// reviewers the submissions waiting, each to approve or reject.

import { appPath, call, enc, session } from "../api.js";
import { badge, clear, errorBox, h, hostedImage, infoBox } from "../dom.js";
import { field } from "./apps.js";
import { appHeader, appLink, conceptChips } from "./common.js";

// The API's JSON writes enums as numbers (as Clarifai's does); TaskReview.MANUAL is 2.
function manualReview(task) {
  return [2, "MANUAL"].includes(task.review?.strategy);
}

export async function renderTasks(page, appId) {
  page.title(`Labelling · ${appId}`);
  const list = h("div", { "data-testid": "tasks" }, h("p", { class: "muted" }, "Loading tasks…"));
  clear(page.view, appHeader(appId, "labelling", { title: "Labelling" }), createForm(appId), h("h2", {}, "Tasks"), list);
  try {
    const answer = await call("GET", appPath(appId, "/tasks?per_page=1000"));
    if (!page.alive()) return;
    const tasks = answer.tasks || [];
    if (!tasks.length) clear(list, h("div", { class: "panel empty" }, "No tasks yet: create one above."));
    else clear(list, h("div", { class: "cards" }, tasks.map((task) => taskCard(appId, task))));
  } catch (error) {
    if (page.alive()) clear(list, errorBox(error, "Could not list the tasks"));
  }
}

function taskCard(appId, task) {
  const review = manualReview(task) ? `reviewed by ${task.review.user_ids.join(", ")}` : "no review";
  return h(
    "a",
    { class: "card", href: appLink(appId, "labelling", `/${enc(task.id)}`), "data-testid": "task-card", "data-task-id": task.id },
    h("div", { class: "title" }, task.name || task.id),
    h("div", { class: "small muted" }, `Concepts: ${(task.concept_ids || []).join(", ")}`),
    h("div", { class: "small muted" }, `Labellers: ${(task.worker?.user_ids || []).join(", ")}; ${review}`),
  );
}

function listOf(text) {
  return text.split(",").map((part) => part.trim()).filter(Boolean);
}

function createForm(appId) {
  const status = h("div", {});
  const id = h("input", { id: "new-task-id", required: true, pattern: "[A-Za-z0-9_\\-]+", placeholder: "pets", "data-testid": "new-task-id" });
  const concepts = h("input", { id: "new-task-concepts", required: true, placeholder: "cat, dog", "data-testid": "new-task-concepts" });
  const workers = h("input", { id: "new-task-workers", value: session.userId, "data-testid": "new-task-workers" });
  const reviewers = h("input", { id: "new-task-reviewers", value: session.userId, "data-testid": "new-task-reviewers" });
  const button = h("button", { type: "submit", "data-testid": "create-task" }, "Create task");
  return h(
    "form",
    {
      class: "panel",
      onsubmit: async (event) => {
        event.preventDefault();
        clear(status);
        const reviewerIds = listOf(reviewers.value);
        const task = {
          id: id.value.trim(),
          type: "CONCEPTS_CLASSIFICATION",
          concept_ids: listOf(concepts.value),
          worker: { strategy: "FULL", user_ids: listOf(workers.value) },
          review: reviewerIds.length ? { strategy: "MANUAL", user_ids: reviewerIds } : { strategy: "NONE" },
          input_source: { type: "ALL_INPUTS" },
        };
        try {
          await call("POST", appPath(appId, "/tasks"), { tasks: [task] });
          location.hash = appLink(appId, "labelling", `/${enc(task.id)}`);
        } catch (error) {
          status.append(errorBox(error, "Could not create the task"));
        }
      },
    },
    h("h3", { class: "first" }, "Create a labelling task over all of the app's inputs"),
    status,
    h(
      "div",
      { class: "inline-form row" },
      field("Task id", id),
      field("Concepts (comma separated)", concepts),
      field("Labellers (user ids)", workers),
      field("Reviewers (empty: no review)", reviewers),
      h("div", { class: "field" }, h("label", {}, "\u00a0"), button),
    ),
  );
}

export async function renderTask(page, appId, taskId) {
  page.title(`${taskId} · Labelling · ${appId}`);
  const crumbs = [["Labelling", appLink(appId, "labelling")], [taskId, null]];
  const counts = h("div", { "data-testid": "task-counts" });
  const labelling = h("div", { "data-testid": "label-queue" });
  const reviewing = h("div", { "data-testid": "review-queue" });
  clear(page.view, appHeader(appId, "labelling", { title: `Task ${taskId}`, crumbs }), counts, h("h2", {}, "Label"), labelling, h("h2", {}, "Review"), reviewing);
  const redraw = () => renderTask(page, appId, taskId);
  try {
    const { task } = await call("GET", appPath(appId, `/tasks/${enc(taskId)}`));
    const tally = await call("GET", appPath(appId, `/tasks/${enc(taskId)}/inputs/count`));
    if (!page.alive()) return;
    clear(counts, countLine(tally.counts || []));
    await drawLabelQueue(page, appId, task, labelling, redraw);
    await drawReviewQueue(page, appId, task, reviewing, redraw);
  } catch (error) {
    if (page.alive()) clear(counts, errorBox(error, "Could not load the task"));
  }
}

function countLine(counts) {
  if (!counts.length) return h("p", { class: "muted" }, "Nobody has taken inputs yet.");
  return h(
    "ul",
    {},
    counts.map((c) =>
      h("li", { "data-testid": "count", "data-user-id": c.user_id }, `${c.user_id}: ${c.pending || 0} to label, ${c.awaiting_review || 0} awaiting review, ${c.success || 0} accepted, ${c.review_denied || 0} rejected`),
    ),
  );
}

function assignments(appId, taskId, body) {
  return call("PUT", appPath(appId, `/tasks/${enc(taskId)}/assignments`), body).then((a) => a.task_assignments || []);
}

async function drawLabelQueue(page, appId, task, box, redraw) {
  if (!(task.worker?.user_ids || []).includes(session.userId)) {
    clear(box, infoBox("You are not one of this task's labellers."));
    return;
  }
  const next = await assignments(appId, task.id, { action: "LABEL_START" });
  if (!page.alive()) return;
  if (!next.length) {
    clear(box, infoBox("Nothing left to label.", "success"));
    return;
  }
  clear(box, h("div", { class: "cards" }, next.map((a) => labelCard(appId, task, a, redraw))));
}

function labelCard(appId, task, assignment, redraw) {
  const status = h("div", {});
  const choose = async (concept) => {
    try {
      const annotation = { input_id: assignment.input.id, task_id: task.id, data: { concepts: [{ id: concept, value: 1 }] } };
      await call("POST", appPath(appId, "/annotations"), { annotations: [annotation] });
      await assignments(appId, task.id, { action: "LABEL_SUBMIT", label_submit_config: { task_assignments: [{ id: assignment.id }] } });
      redraw();
    } catch (error) {
      status.append(errorBox(error, "Could not save the label"));
    }
  };
  return h(
    "div",
    { class: "card", "data-testid": "label-card", "data-input-id": assignment.input.id },
    hostedImage(session.userId, appId, assignment.input.id, "tiny", { alt: assignment.input.id }),
    h("div", { class: "mono small" }, assignment.input.id),
    status,
    h("div", { class: "row" }, (task.concept_ids || []).map((concept) => h("button", { type: "button", "data-testid": `label-${concept}`, onclick: () => choose(concept) }, concept))),
  );
}

async function drawReviewQueue(page, appId, task, box, redraw) {
  if (!manualReview(task) || !(task.review.user_ids || []).includes(session.userId)) {
    clear(box, infoBox("You do not review this task."));
    return;
  }
  const waiting = await assignments(appId, task.id, { action: "REVIEW_START" });
  if (!page.alive()) return;
  if (!waiting.length) {
    clear(box, infoBox("No submissions wait for review.", "success"));
    return;
  }
  const cards = await Promise.all(waiting.map((a) => reviewCard(appId, task, a, redraw)));
  if (page.alive()) clear(box, h("div", { class: "cards" }, cards));
}

async function reviewCard(appId, task, assignment, redraw) {
  const inputId = assignment.input.id;
  const found = await call("GET", appPath(appId, `/annotations?input_ids=${enc(inputId)}`));
  const labels = (found.annotations || []).filter((a) => a.task_id === task.id && a.user_id === assignment.worker.user.id);
  const status = h("div", {});
  const decide = async (action, config) => {
    try {
      await assignments(appId, task.id, { action, [config]: { task_assignments: [{ id: assignment.id }] } });
      redraw();
    } catch (error) {
      status.append(errorBox(error, "Could not record the review"));
    }
  };
  return h(
    "div",
    { class: "card", "data-testid": "review-card", "data-input-id": inputId },
    hostedImage(session.userId, appId, inputId, "tiny", { alt: inputId }),
    h("div", { class: "mono small" }, inputId, " ", badge(`by ${assignment.worker.user.id}`)),
    h("div", { class: "concepts", "data-testid": "review-labels" }, labels.flatMap((a) => conceptChips(a.data?.concepts))),
    status,
    h(
      "div",
      { class: "row" },
      h("button", { type: "button", "data-testid": "approve", onclick: () => decide("REVIEW_APPROVE", "review_approve_config") }, "Approve"),
      h("button", { type: "button", class: "secondary", "data-testid": "reject", onclick: () => decide("REVIEW_REJECT", "review_reject_config") }, "Reject"),
    ),
  );
}
