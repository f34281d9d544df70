// A chart of a CSV artifact: pick the x column and up to four y columns,
// complex values as magnitude, real, imaginary or angle; drag to zoom (the
// zoomed range is downsampled again from every row), double-click or
// "Reset zoom" to see it all.
import uPlot from "uplot";
import { errorBox, h, replace, showError } from "./dom.js";
import { lowerBound, minMaxBuckets, sortByX } from "./downsample.js";
import { MODES, seriesOf } from "./recorder.js";
import { loadTable } from "./table.js";

const MAX_Y = 4;
const COLORS = ["#1f5fbf", "#c2410c", "#15803d", "#7e22ce"];
let chartId = 0;

export function chartPanel(artifact, { onClose } = {}) {
  chartId += 1;
  const id = `chart-${chartId}`;
  const error = errorBox();
  const status = h("p", { class: "muted", role: "status" }, `Loading ${artifact.name}…`);
  const controls = h("div", { class: "chart-controls" });
  const plotBox = h("div", { class: "plot", id: `${id}-plot` });
  const panel = h(
    "section",
    { class: "card chart", "aria-labelledby": `${id}-title`, dataset: { artifact: artifact.name } },
    h("div", { class: "heading" }, h("h3", { id: `${id}-title` }, `Chart of ${artifact.name}`), onClose ? h("button", { type: "button", class: "small", onclick: onClose }, "Close chart") : null),
    status,
    error,
    controls,
    plotBox,
  );
  const started = performance.now();
  let table = null;
  let plot = null;
  const cache = new Map();
  const values = (index, mode) => {
    const key = `${index}:${table.kinds[index] === "complex" ? mode : ""}`;
    if (!cache.has(key)) cache.set(key, seriesOf(table.data[index], mode));
    return cache.get(key);
  };

  loadTable(artifact.url)
    .then((loaded) => {
      table = loaded;
      panel.dataset.fetchMs = String(Math.round(table.fetchedAt - started));
      panel.dataset.parseMs = String(Math.round(performance.now() - table.fetchedAt));
      const numeric = table.columns.map((_, i) => i).filter((i) => table.kinds[i] !== "text");
      if (numeric.length < 2 || !table.length) {
        status.textContent = `${artifact.name} has no two numeric columns to chart.`;
        return;
      }
      buildControls(numeric);
      draw();
      // Time to first draw, from the click: download, parse, convert, draw.
      panel.dataset.firstDrawMs = String(Math.round(performance.now() - started));
      performance.mark("console:chart-drawn");
    })
    .catch((problem) => {
      status.textContent = "";
      showError(error, problem);
    });

  let xSelect;
  let modeSelect;
  let yBoxes;
  function buildControls(numeric) {
    const label = (i) => table.columns[i] + (table.kinds[i] === "complex" ? " (complex)" : "");
    xSelect = h("select", { id: `${id}-x` }, numeric.map((i) => h("option", { value: i }, label(i))));
    const ys = numeric.filter((i) => i !== numeric[0]);
    yBoxes = ys.map((i, n) =>
      h("input", { type: "checkbox", id: `${id}-y-${i}`, value: i, checked: n < MAX_Y && (n === 0 || table.kinds[i] === table.kinds[ys[0]]) }),
    );
    modeSelect = h("select", { id: `${id}-mode` }, MODES.map((mode) => h("option", { value: mode }, mode === "angle" ? "angle (degrees)" : mode)));
    const yLimit = h("p", { class: "field-error", role: "status" });
    replace(
      controls,
      h("div", {}, h("label", { for: xSelect.id }, "x column"), xSelect),
      h("fieldset", {}, h("legend", {}, `y columns (up to ${MAX_Y})`), yBoxes.map((box) => h("span", { class: "check" }, box, h("label", { for: box.id }, label(+box.value)))), yLimit),
      h("div", {}, h("label", { for: modeSelect.id }, "Complex values as"), modeSelect),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "small", onclick: () => zoom(0.5) }, "Zoom in"),
        h("button", { type: "button", class: "small", onclick: () => zoom(2) }, "Zoom out"),
        h("button", { type: "button", class: "small", onclick: () => zoom(null) }, "Reset zoom"),
      ),
    );
    xSelect.addEventListener("change", draw);
    modeSelect.addEventListener("change", draw);
    for (const box of yBoxes) {
      box.addEventListener("change", () => {
        const chosen = yBoxes.filter((b) => b.checked);
        if (chosen.length > MAX_Y) {
          box.checked = false;
          yLimit.textContent = `At most ${MAX_Y} y columns: clear one first.`;
          return;
        }
        yLimit.textContent = "";
        draw();
      });
    }
  }

  let full = null; // {xs, series} sorted by x, every row
  function draw() {
    const xIndex = +xSelect.value;
    const yIndexes = yBoxes.filter((b) => b.checked && +b.value !== xIndex).map((b) => +b.value);
    const mode = modeSelect.value;
    const [xs, series] = sortByX(values(xIndex, mode), yIndexes.map((i) => values(i, mode)));
    full = { xs, series };
    const isTime = table.kinds[xIndex] === "time";
    const width = Math.max(300, plotBox.clientWidth || 800);
    const options = {
      width,
      height: Math.round(Math.min(420, Math.max(240, width * 0.45))),
      scales: { x: { time: isTime } },
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
      axes: [{ label: table.columns[xIndex] + (isTime && table.zone ? ` (${table.zone})` : "") }, { size: 70 }],
      series: [
        { label: table.columns[xIndex] },
        ...yIndexes.map((i, n) => ({
          label: table.columns[i] + (table.kinds[i] === "complex" ? ` (${mode})` : ""),
          stroke: COLORS[n],
          width: 1.5,
          spanGaps: true,
        })),
      ],
      cursor: { drag: { x: true, y: false } },
      hooks: {
        setScale: [
          (u, key) => {
            if (key === "x" && !redrawing) resample(u.scales.x.min, u.scales.x.max);
          },
        ],
      },
    };
    if (plot) plot.destroy();
    replace(plotBox);
    plot = new uPlot(options, sample(0, xs.length), plotBox);
    plot.over.tabIndex = 0;
    plot.over.setAttribute("aria-label", `Chart of ${yIndexes.map((i) => table.columns[i]).join(", ")} against ${table.columns[xIndex]}; arrow keys pan, + and - zoom`);
    plot.over.addEventListener("keydown", onKey);
    panel.dataset.rows = String(xs.length);
    status.textContent = `${xs.length.toLocaleString()} rows${table.meta.target ? ` of ${table.meta.target}` : ""}; ${panel.dataset.points} points drawn${isTime && table.zone ? `; times as the recorder wrote them (${table.zone})` : ""}. Drag across the chart to zoom.`;
  }

  function sample(from, to) {
    const buckets = Math.max(100, Math.round(plotBox.clientWidth || 800));
    const data = minMaxBuckets(full.xs, full.series, from, to, buckets);
    panel.dataset.points = String(data[0].length);
    // The highest value drawn of the first y column (the tests look for peaks).
    if (data.length > 1) panel.dataset.drawnMax = String(Math.max(...data[1].filter((v) => v !== null)));
    return data;
  }

  let redrawing = false;
  function resample(min, max) {
    const { xs } = full;
    const from = Math.max(0, lowerBound(xs, min) - 1);
    const to = Math.min(xs.length, lowerBound(xs, max) + 1);
    redrawing = true;
    plot.setData(sample(from, to), false);
    plot.setScale("x", { min, max });
    redrawing = false;
  }

  function zoom(factor) {
    if (!plot) return;
    const { xs } = full;
    if (factor === null) {
      redrawing = true;
      plot.setData(sample(0, xs.length), true);
      redrawing = false;
      return;
    }
    const { min, max } = plot.scales.x;
    const mid = (min + max) / 2;
    const half = ((max - min) / 2) * factor;
    plot.setScale("x", { min: Math.max(xs[0], mid - half), max: Math.min(xs[xs.length - 1], mid + half) });
  }

  function onKey(event) {
    if (!plot) return;
    const { min, max } = plot.scales.x;
    const step = (max - min) / 10;
    if (event.key === "+" || event.key === "=") zoom(0.5);
    else if (event.key === "-") zoom(2);
    else if (event.key === "ArrowLeft") plot.setScale("x", { min: min - step, max: max - step });
    else if (event.key === "ArrowRight") plot.setScale("x", { min: min + step, max: max + step });
    else if (event.key === "0") zoom(null);
    else return;
    event.preventDefault();
  }

  const onResize = () => plot && plot.setSize({ width: Math.max(300, plotBox.clientWidth), height: plot.height });
  window.addEventListener("resize", onResize);
  panel.destroy = () => {
    window.removeEventListener("resize", onResize);
    if (plot) plot.destroy();
  };
  return panel;
}

export const chartable = (name) => /\.csv$/i.test(name);
