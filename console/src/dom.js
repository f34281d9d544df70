// A few DOM helpers: h() builds elements, errors go next to what caused them.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name in el && typeof value !== "string") el[name] = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// The API's error as a message (and its per-field errors) in `box`, which is
// an element beside the form or button that caused it.
export function showError(box, error) {
  const lines = [error.message || String(error)];
  if (error.errors) {
    for (const [field, problem] of Object.entries(error.errors)) {
      lines.push(`${field}: ${Array.isArray(problem) ? problem.join(" ") : JSON.stringify(problem)}`);
    }
  }
  replace(box, ...lines.map((line) => h("div", {}, line)));
  box.hidden = false;
  box.setAttribute("role", "alert");
}

export function clearError(box) {
  box.hidden = true;
  box.replaceChildren();
}

export const errorBox = () => h("div", { class: "error", hidden: true });

export function announce(text) {
  const region = document.getElementById("announce");
  if (region) region.textContent = text;
}

export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function formatDuration(start, end) {
  if (!start) return "";
  const ms = (end ? new Date(end) : new Date()) - new Date(start);
  if (!(ms >= 0)) return "";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function formatSize(bytes) {
  if (bytes === null || bytes === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

export const stateBadge = (state) => h("span", { class: `state state-${(state || "").toLowerCase()}` }, state || "?");

export const FINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);

// Repeats `fn` every `ms` until stopped; one call at a time.
export function poll(fn, ms) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    try {
      const again = await fn();
      if (again === false) return;
    } catch {
      // the page shows its own errors; keep polling
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// Go to a page of the console (the same one again re-renders it).
export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new Event("console:route"));
  else location.hash = hash;
}
