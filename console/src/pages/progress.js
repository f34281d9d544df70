// A run's progress: the simulated clock between the model's start and stop.
import { h } from "../dom.js";

export function progressBar(run, { compact = false } = {}) {
  const progress = run.progress;
  const fraction = progress && typeof progress.fraction === "number" ? progress.fraction : run.state === "COMPLETED" ? 1 : null;
  const label = progress && progress.clock ? `simulated clock ${progress.clock}` : fraction === null ? "no progress reported" : "";
  if (fraction === null) return h("span", { class: "muted" }, compact ? "–" : label || "–");
  const percent = Math.round(fraction * 1000) / 10;
  const bar = h("progress", { max: 1, value: fraction, "aria-label": `Progress ${percent}%${label ? `, ${label}` : ""}` });
  if (compact) return h("span", { class: "progress" }, bar, ` ${percent}%`);
  return h(
    "div",
    { class: "progress wide" },
    bar,
    h("span", {}, ` ${percent}%`),
    progress ? h("div", { class: "muted" }, `${progress.clock || ""}${progress.start ? ` (from ${progress.start}` : ""}${progress.stop ? ` to ${progress.stop})` : progress.start ? ", no stop time)" : ""}`) : null,
  );
}
