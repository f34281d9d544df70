// A sweep's page: its runs with their parameters and states (refreshed while
// it runs), and a chart of one recorded value across the runs.
import uPlot from "uplot";
import { getAll, getJSON, getText, request, sweepPath } from "../api.js";
import { FINAL, clearError, errorBox, formatDuration, formatTime, h, poll, replace, showError, stateBadge } from "../dom.js";
import { columnValues, parseRecorder, summarize } from "../recorder.js";

const STATES = ["QUEUED", "NOT_STARTED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"];

export function sweepPage(main, { params, setTitle }) {
  const { pipeline, sweep: sweepUuid } = params;
  const path = sweepPath(pipeline, sweepUuid);
  setTitle("Sweep");
  const error = errorBox();
  const badge = h("span", { id: "sweep-state" });
  const counts = h("p", { id: "sweep-counts" });
  const head = h("thead");
  const body = h("tbody");
  const cancelError = errorBox();
  const cancel = h("button", { type: "button", class: "danger", hidden: true }, "Cancel sweep");
  const chartBox = h("section", { class: "card", "aria-labelledby": "sweep-chart-title", id: "sweep-chart" });
  const content = h(
    "div",
    {},
    h("div", { class: "heading" }, h("h1", {}, "Sweep"), badge, h("div", { class: "actions" }, cancel)),
    cancelError,
    counts,
    h("div", { class: "scroll" }, h("table", { id: "sweep-runs" }, h("caption", { class: "visually-hidden" }, "Runs of this sweep"), head, body)),
    chartBox,
  );
  main.append(h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Pipelines"), " › ", h("a", { href: `#/pipelines/${pipeline}` }, "Pipeline")), error, content);

  let runs = [];
  let names = [];
  let shownRuns = null;
  cancel.addEventListener("click", async () => {
    clearError(cancelError);
    try {
      await request(`${path}/cancel`, { method: "POST" });
    } catch (problem) {
      showError(cancelError, problem);
    }
  });

  const stop = poll(async () => {
    let sweep;
    try {
      sweep = await getJSON(path);
      runs = await getAll(`${path}/runs`);
      clearError(error);
    } catch (problem) {
      if (problem.status === 404 || problem.status === 405) {
        replace(content, h("h1", {}, "Sweep"), h("p", { class: "unavailable" }, "Sweeps are not available on this server (or this sweep does not exist)."));
        return false;
      }
      showError(error, problem);
      return true;
    }
    replace(badge, stateBadge(sweep.state));
    badge.dataset.state = sweep.state;
    cancel.hidden = FINAL.has(sweep.state);
    const c = sweep.counts || {};
    counts.textContent = `${sweep.run_count} runs: ` + STATES.filter((s) => c[s]).map((s) => `${c[s]} ${s}`).join(", ");
    names = [...new Set(runs.flatMap((run) => Object.keys(run.parameters || {})))];
    const signature = JSON.stringify(runs.map((r) => [r.uuid, r.state, r.started_at, r.completed_at]));
    if (signature !== shownRuns) showRuns();
    shownRuns = signature;
    updateChartForm();
    return !FINAL.has(sweep.state);
  }, 2000);

  function showRuns() {
    replace(head, h("tr", {}, h("th", { scope: "col" }, "Run"), names.map((n) => h("th", { scope: "col" }, n)), h("th", { scope: "col" }, "State"), h("th", { scope: "col" }, "Started"), h("th", { scope: "col" }, "Duration")));
    replace(
      body,
      runs.map((run) =>
        h(
          "tr",
          { dataset: { run: run.uuid, state: run.state } },
          h("td", {}, h("a", { href: `#/pipelines/${pipeline}/runs/${run.uuid}` }, `#${run.sequence}`)),
          names.map((n) => h("td", {}, (run.parameters || {})[n] ?? "")),
          h("td", {}, stateBadge(run.state)),
          h("td", {}, formatTime(run.started_at)),
          h("td", {}, formatDuration(run.started_at, run.completed_at)),
        ),
      ),
    );
  }

  // The chart of one recorded value against a parameter.
  const chartError = errorBox();
  const artifactSelect = h("select", { id: "sweep-artifact" });
  const columnInput = h("select", { id: "sweep-column" });
  const howSelect = h("select", { id: "sweep-how" }, ["last", "min", "max", "mean"].map((how) => h("option", { value: how }, how)));
  const paramSelect = h("select", { id: "sweep-parameter" });
  const drawButton = h("button", { type: "submit" }, "Draw");
  const plotBox = h("div", { class: "plot", id: "sweep-plot" });
  const form = h(
    "form",
    { class: "chart-controls" },
    h("div", {}, h("label", { for: artifactSelect.id }, "Artifact"), artifactSelect),
    h("div", {}, h("label", { for: columnInput.id }, "Column"), columnInput),
    h("div", {}, h("label", { for: howSelect.id }, "Value"), howSelect),
    h("div", {}, h("label", { for: paramSelect.id }, "Against parameter"), paramSelect),
    drawButton,
  );
  replace(chartBox, h("h2", { id: "sweep-chart-title" }, "A recorded value across the runs"), form, chartError, plotBox);
  let known = "";
  function updateChartForm() {
    const artifactNames = [...new Set(runs.flatMap((run) => (run.artifacts || []).map((a) => a.name)).filter((n) => /\.csv$/i.test(n)))];
    const signature = artifactNames.join("|") + "#" + names.join("|");
    if (signature === known) return;
    known = signature;
    const keep = artifactSelect.value;
    replace(artifactSelect, artifactNames.map((n) => h("option", { value: n, selected: n === keep }, n)));
    replace(paramSelect, names.map((n) => h("option", { value: n }, n)));
    loadColumns();
  }
  async function loadColumns() {
    const run = runs.find((r) => (r.artifacts || []).some((a) => a.name === artifactSelect.value));
    if (!run) return replace(columnInput);
    try {
      const table = parseRecorder(await getText(run.artifacts.find((a) => a.name === artifactSelect.value).url));
      replace(columnInput, table.columns.map((c, i) => (table.kinds[i] === "number" || table.kinds[i] === "complex" ? h("option", { value: c }, c) : null)));
    } catch (problem) {
      showError(chartError, problem);
    }
  }
  artifactSelect.addEventListener("change", loadColumns);

  let plot = null;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(chartError);
    drawButton.disabled = true;
    try {
      const points = [];
      const done = runs.filter((run) => run.state === "COMPLETED" && (run.artifacts || []).some((a) => a.name === artifactSelect.value));
      for (const run of done) {
        const table = parseRecorder(await getText(run.artifacts.find((a) => a.name === artifactSelect.value).url));
        const index = table.columns.indexOf(columnInput.value);
        if (index < 0) continue;
        points.push([run.parameters[paramSelect.value], summarize(columnValues(table, index), howSelect.value)]);
      }
      if (!points.length) throw new Error("No completed run has that artifact and column yet.");
      const numeric = points.every(([p]) => p !== "" && Number.isFinite(Number(p)));
      const labels = numeric ? null : [...new Set(points.map(([p]) => p))];
      const xy = points.map(([p, v]) => [numeric ? Number(p) : labels.indexOf(p), v]).sort((a, b) => a[0] - b[0]);
      if (plot) plot.destroy();
      replace(plotBox);
      const width = Math.max(300, plotBox.clientWidth || 700);
      // Room between x ticks for the widest label, so that "2,700,000" and
      // its neighbours do not run into each other.
      const widest = Math.max(...xy.map(([x]) => (labels ? labels[x] : x.toLocaleString()).length));
      const tickSpace = Math.max(50, widest * 8 + 24);
      plot = new uPlot(
        {
          width,
          height: 300,
          scales: { x: { time: false } },
          axes: [{ label: paramSelect.value, space: tickSpace, values: labels ? (u, ticks) => ticks.map((t) => labels[t] ?? "") : undefined }, { label: `${howSelect.value} of ${columnInput.value}`, size: 80 }],
          series: [{ label: paramSelect.value }, { label: `${howSelect.value} ${columnInput.value}`, stroke: "#1f5fbf", width: 1, points: { show: true, size: 8 } }],
        },
        [xy.map((p) => p[0]), xy.map((p) => (Number.isFinite(p[1]) ? p[1] : null))],
        plotBox,
      );
      plotBox.dataset.points = String(xy.length);
    } catch (problem) {
      showError(chartError, problem);
    } finally {
      drawButton.disabled = false;
    }
  });

  return () => {
    stop();
    if (plot) plot.destroy();
  };
}
