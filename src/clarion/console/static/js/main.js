// The console's shell: sign-in state, the top bar and a hash router (#/apps/demo/inputs?page=2).

import { onCredentialLost, session } from "./api.js";
import { clear, releaseObjectUrls } from "./dom.js";
import { renderApps } from "./pages/apps.js";
import { renderCollaborators } from "./pages/collaborators.js";
import { renderInput } from "./pages/input.js";
import { renderInputs } from "./pages/inputs.js";
import { renderKeys } from "./pages/keys.js";
import { renderTask, renderTasks } from "./pages/labelling.js";
import { renderModels } from "./pages/models.js";
import { renderPredict } from "./pages/predict.js";
import { renderRunners } from "./pages/runners.js";
import { renderSearch } from "./pages/search.js";
import { renderSignIn } from "./pages/signin.js";
import { renderCustomModel, renderCustomModels } from "./pages/training.js";

const ROUTES = [
  [/^apps$/, (page) => renderApps(page)],
  [/^apps\/([^/]+)$/, (page, app) => renderInputs(page, app)],
  [/^apps\/([^/]+)\/inputs$/, (page, app) => renderInputs(page, app)],
  [/^apps\/([^/]+)\/inputs\/([^/]+)$/, (page, app, input) => renderInput(page, app, input)],
  [/^apps\/([^/]+)\/search$/, (page, app) => renderSearch(page, app)],
  [/^apps\/([^/]+)\/models$/, (page, app) => renderCustomModels(page, app)],
  [/^apps\/([^/]+)\/models\/([^/]+)$/, (page, app, model) => renderCustomModel(page, app, model)],
  [/^apps\/([^/]+)\/keys$/, (page, app) => renderKeys(page, app)],
  [/^apps\/([^/]+)\/labelling$/, (page, app) => renderTasks(page, app)],
  [/^apps\/([^/]+)\/labelling\/([^/]+)$/, (page, app, task) => renderTask(page, app, task)],
  [/^apps\/([^/]+)\/collaborators$/, (page, app) => renderCollaborators(page, app)],
  [/^models$/, (page) => renderModels(page)],
  [/^models\/([^/]+)\/([^/]+)\/([^/]+)$/, (page, user, app, model) => renderPredict(page, user, app, model)],
  [/^keys$/, (page) => renderKeys(page, null)],
  [/^runners$/, (page) => renderRunners(page)],
];

const view = document.getElementById("view");
let generation = 0;
let timers = [];
let flash = null; // a message for the sign-in page, set when the session's PAT stops working

// What a page gets: where to draw, whether it is still the page shown, and timers that stop
// when the user moves on.
function newPage(query) {
  const mine = ++generation;
  for (const timer of timers) clearTimeout(timer);
  timers = [];
  releaseObjectUrls();
  return {
    view,
    query,
    alive: () => mine === generation,
    later(fn, ms) {
      if (mine !== generation) return;
      timers.push(setTimeout(() => mine === generation && fn(), ms));
    },
    title(text) {
      document.title = text ? `${text} · Clarion console` : "Clarion console";
    },
  };
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, search = ""] = raw.split("?", 2);
  return { path: path.replace(/\/+$/, ""), query: new URLSearchParams(search) };
}

function showChrome(signedIn) {
  document.getElementById("mainnav").hidden = !signedIn;
  document.getElementById("whoami").hidden = !signedIn;
  document.getElementById("user-id").textContent = signedIn ? session.userId : "";
}

function markNav(path) {
  const section = path.split("/")[0];
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", link.dataset.nav === section);
  }
}

async function route() {
  const { path, query } = parseHash();
  if (!session.pat || path === "signin") {
    showChrome(false);
    const page = newPage(query);
    const back = path && path !== "signin" ? location.hash : "#/apps";
    const message = flash;
    flash = null;
    renderSignIn(page, { message, back });
    return;
  }
  showChrome(true);
  markNav(path);
  const page = newPage(query);
  for (const [pattern, render] of ROUTES) {
    const match = pattern.exec(path);
    if (match) {
      const parts = match.slice(1).map(decodeURIComponent);
      await render(page, ...parts);
      return;
    }
  }
  location.replace("#/apps");
}

onCredentialLost((error) => {
  if (!session.pat) return;
  session.clear();
  flash = error;
  route();
});

document.getElementById("sign-out").addEventListener("click", () => {
  session.clear();
  if (location.hash === "#/signin") route();
  else location.hash = "#/signin";
});

window.addEventListener("hashchange", route);
document.getElementById("loading")?.remove();
clear(view);
route();
