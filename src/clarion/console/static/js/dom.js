// Small DOM helpers: an element builder, alerts, drop zones, progress bars, image loading.

import { hostedBlob } from "./api.js";

// h("a", {href: "#/", class: "x", onclick: fn}, "text", child, [more])
export function h(tag, attrs = {}, ...children) {
  const el = tag === "svg" || attrs.svg ? svgElement(tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false || name === "svg") continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "style") Object.assign(el.style, value);
    else if (name in el && !(el instanceof SVGElement) && typeof value !== "string") el[name] = value;
    else el.setAttribute(name === "className" ? "class" : name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function svgElement(tag) {
  return document.createElementNS("http://www.w3.org/2000/svg", tag);
}

export function s(tag, attrs = {}, ...children) {
  return h(tag, { ...attrs, svg: true }, ...children);
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// A red box with the server's own words, its code and request id.
export function errorBox(error, lead = "") {
  const detail = [];
  if (error.code) detail.push(`status ${error.code}`);
  if (error.details) detail.push(error.details);
  if (error.reqId) detail.push(`request ${error.reqId}`);
  const said = error.message || String(error);
  return h(
    "div",
    { class: "alert error", role: "alert", "data-testid": "error" },
    lead ? h("strong", { class: "lead" }, /[.!?]$/.test(lead) ? lead : `${lead}.`) : null,
    h("div", {}, lead && error.code ? `The server said: ${said}` : said),
    detail.length ? h("span", { class: "detail" }, detail.join(" · ")) : null,
  );
}

export function infoBox(text, kind = "info") {
  return h("div", { class: `alert ${kind}`, role: "status" }, text);
}

export function badge(text, kind = "neutral", testid = undefined) {
  return h("span", { class: `badge ${kind}`, "data-testid": testid }, text);
}

export function when(iso) {
  if (!iso) return "";
  return iso.replace("T", " ").slice(0, 16);
}

export function pct(value, digits = 1) {
  return `${(100 * (value || 0)).toFixed(digits)}%`;
}

export function shortId(id) {
  return id && id.length > 12 ? `${id.slice(0, 8)}…` : id || "";
}

// Drop files on it or click it to choose: `onFiles(File[])`.
export function dropzone({ text, hint = "", multiple = true, onFiles, testid }) {
  const picker = h("input", {
    type: "file",
    accept: "image/*",
    multiple,
    "data-testid": testid ? `${testid}-input` : undefined,
    onchange: () => {
      if (picker.files.length) onFiles([...picker.files]);
      picker.value = "";
    },
  });
  const zone = h(
    "div",
    { class: "dropzone", tabindex: 0, role: "button", "data-testid": testid },
    h("div", {}, h("strong", {}, text)),
    hint ? h("div", { class: "small" }, hint) : null,
    picker,
  );
  zone.addEventListener("click", (event) => {
    if (event.target !== picker) picker.click();
  });
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") picker.click();
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const files = [...(event.dataTransfer?.files || [])];
    if (files.length) onFiles(multiple ? files : files.slice(0, 1));
  });
  return zone;
}

export function progressBar(testid = "progress") {
  const fill = h("div", { class: "fill" });
  const label = h("div", { class: "label", "data-testid": `${testid}-label` });
  const el = h(
    "div",
    { class: "progress", "data-testid": testid, hidden: true },
    h("div", { class: "bar" }, fill),
    label,
  );
  return {
    el,
    set(fraction, text, done = false) {
      el.hidden = false;
      fill.style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
      fill.classList.toggle("done", done);
      label.textContent = text;
    },
  };
}

export function fileToBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

// Object URLs made for the current page; released when the page changes.
const liveUrls = new Set();

export function objectUrl(blob) {
  const url = URL.createObjectURL(blob);
  liveUrls.add(url);
  return url;
}

// Called when the page changes: the old page's images are no longer wanted.
export function releaseObjectUrls() {
  for (const url of liveUrls) URL.revokeObjectURL(url);
  liveUrls.clear();
  queue.length = 0;
}

// At most a few image requests at once, so a page of thumbnails does not flood the server.
const queue = [];
let running = 0;
const MAX_PARALLEL = 6;

function pump() {
  while (running < MAX_PARALLEL && queue.length) {
    const job = queue.shift();
    running += 1;
    job().finally(() => {
      running -= 1;
      pump();
    });
  }
}

function queued(task) {
  return new Promise((resolve, reject) => {
    queue.push(() => task().then(resolve, reject));
    pump();
  });
}

// An <img> showing an input's hosted image; a placeholder until it arrives (or if it fails).
export function hostedImage(userId, appId, inputId, size, { alt = "", testid } = {}) {
  const img = h("img", { alt, "data-testid": testid, "data-input-id": inputId });
  img.hidden = true;
  const placeholder = h("div", { class: "placeholder" }, "Loading…");
  const frame = h("span", { class: "hosted" }, placeholder, img);
  frame.ready = queued(() => hostedBlob(userId, appId, inputId, size))
    .then((blob) => {
      img.src = objectUrl(blob);
      return img.decode().catch(() => undefined);
    })
    .then(() => {
      img.hidden = false;
      placeholder.remove();
      return img;
    })
    .catch((err) => {
      placeholder.textContent = `No image (${err.message})`;
      return null;
    });
  frame.img = img;
  return frame;
}
