// A run's page: its states as a timeline, the progress of the simulated
// clock, the console as it streams, its artifacts (download, chart), cancel.
import { getBlob, getJSON, request, runPath } from "../api.js";
import { chartable, chartPanel } from "../chart.js";
import { FINAL, clearError, errorBox, formatDuration, formatSize, formatTime, h, poll, replace, showError, stateBadge, announce } from "../dom.js";
import { follow } from "../events.js";
import { progressBar } from "./progress.js";

export function runPage(main, { params, setTitle }) {
  const { pipeline, run: runUuid } = params;
  const path = runPath(pipeline, runUuid);
  setTitle("Run");
  const error = errorBox();
  const title = h("h1", {}, "Run");
  const badge = h("span", { id: "run-state" });
  const summary = h("dl", { class: "details" });
  const timeline = h("ol", { class: "timeline", id: "timeline", "aria-label": "States" });
  const progress = h("div", { id: "progress" });
  const cancelError = errorBox();
  const cancel = h("button", { type: "button", class: "danger", id: "cancel", hidden: true }, "Cancel run");
  const stdout = h("pre", { id: "std-out", class: "console", tabindex: 0, "aria-label": "Standard output" });
  const stderr = h("pre", { id: "std-err", class: "console err", tabindex: 0, "aria-label": "Standard error" });
  const live = h("span", { id: "console-mode", class: "muted" });
  const artifactsError = errorBox();
  const artifacts = h("tbody");
  const charts = h("div", { id: "charts" });
  main.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Pipelines"), " › ", h("a", { href: `#/pipelines/${pipeline}` }, "Pipeline")),
    h("div", { class: "heading" }, title, badge, h("div", { class: "actions" }, cancel)),
    cancelError,
    error,
    summary,
    h("section", { "aria-labelledby": "progress-title" }, h("h2", { id: "progress-title" }, "Progress"), progress, timeline),
    h(
      "section",
      { "aria-labelledby": "console-title" },
      h("div", { class: "heading" }, h("h2", { id: "console-title" }, "Console"), live),
      h("h3", {}, "Standard output"),
      stdout,
      h("h3", {}, "Standard error"),
      stderr,
    ),
    h(
      "section",
      { "aria-labelledby": "artifacts-title" },
      h("h2", { id: "artifacts-title" }, "Artifacts"),
      artifactsError,
      h("div", { class: "scroll" }, h("table", { id: "artifacts" }, h("thead", {}, h("tr", {}, ...["Name", "Size", "Created", ""].map((t) => h("th", { scope: "col" }, t)))), artifacts)),
      charts,
    ),
  );

  let run = null;
  let states = [];
  const openCharts = new Map();

  function follows(element, text, append) {
    const atBottom = element.scrollHeight - element.scrollTop - element.clientHeight < 40;
    if (append) element.append(text);
    else if (element.textContent !== text) element.textContent = text;
    if (atBottom) element.scrollTop = element.scrollHeight;
  }

  function showStates() {
    replace(
      timeline,
      states.map((change, i) =>
        h(
          "li",
          { class: `state-${change.state.toLowerCase()}` },
          stateBadge(change.state),
          h("time", { datetime: change.created_at }, ` ${formatTime(change.created_at)}`),
          i + 1 < states.length ? h("span", { class: "muted" }, ` (${formatDuration(change.created_at, states[i + 1].created_at)})`) : null,
        ),
      ),
    );
    const state = states.length ? states[states.length - 1].state : run && run.state;
    replace(badge, stateBadge(state));
    cancel.hidden = FINAL.has(state);
    badge.dataset.state = state || "";
  }

  function showRun(json) {
    run = json;
    states = json.states || [];
    setTitle(`Run #${json.sequence}`);
    title.textContent = `Run #${json.sequence}`;
    replace(
      summary,
      ...[
        ["Created", formatTime(json.created_at)],
        ["Started", formatTime(json.started_at)],
        ["Completed", formatTime(json.completed_at)],
        ["Duration", formatDuration(json.started_at, json.completed_at)],
        ["Inputs", (json.inputs || []).map((input) => input.name).join(", ")],
        ["Parameters", Object.entries(json.parameters || {}).map(([k, v]) => `${k}=${v}`).join(", ")],
        ["Sweep", json.sweep_uuid ? h("a", { href: `#/pipelines/${pipeline}/sweeps/${json.sweep_uuid}` }, "the sweep") : ""],
      ]
        .filter(([, value]) => value)
        .flatMap(([label, value]) => [h("dt", {}, label), h("dd", {}, value)]),
    );
    replace(progress, progressBar(json));
    showStates();
    showArtifacts(json.artifacts || []);
  }

  let shownArtifacts = null;
  function showArtifacts(list) {
    // Redrawn only when they change, so that focus stays on a button.
    const signature = JSON.stringify([list.map((a) => a.uuid), run && FINAL.has(run.state)]);
    if (signature === shownArtifacts) return;
    shownArtifacts = signature;
    if (!list.length) {
      replace(artifacts, h("tr", {}, h("td", { colspan: 4 }, run && FINAL.has(run.state) ? "No artifacts." : "None yet.")));
      return;
    }
    replace(
      artifacts,
      list.map((artifact) => {
        const rowError = errorBox();
        const download = h("button", { type: "button", class: "small", "aria-label": `Download ${artifact.name}` }, "Download");
        download.addEventListener("click", async () => {
          clearError(rowError);
          try {
            const blob = await getBlob(artifact.url);
            const url = URL.createObjectURL(blob);
            const link = h("a", { href: url, download: artifact.name, hidden: true });
            document.body.append(link);
            link.click();
            link.remove();
            setTimeout(() => URL.revokeObjectURL(url), 60000);
          } catch (problem) {
            showError(rowError, problem);
          }
        });
        const chart = chartable(artifact.name)
          ? h("button", { type: "button", class: "small", "aria-label": `Chart ${artifact.name}`, onclick: () => openChart(artifact) }, "Chart")
          : null;
        return h(
          "tr",
          { dataset: { artifact: artifact.name } },
          h("td", {}, artifact.name),
          h("td", {}, formatSize(artifact.size)),
          h("td", {}, formatTime(artifact.created_at)),
          h("td", { class: "actions" }, download, chart, rowError),
        );
      }),
    );
  }

  function openChart(artifact) {
    if (openCharts.has(artifact.uuid)) {
      openCharts.get(artifact.uuid).scrollIntoView();
      return;
    }
    const panel = chartPanel(artifact, {
      onClose: () => {
        panel.destroy();
        panel.remove();
        openCharts.delete(artifact.uuid);
      },
    });
    openCharts.set(artifact.uuid, panel);
    charts.append(panel);
    panel.scrollIntoView();
  }

  cancel.addEventListener("click", async () => {
    clearError(cancelError);
    cancel.disabled = true;
    try {
      await request(`${path}/cancel`, { method: "POST" });
      announce("Run cancelled");
      showRun(await getJSON(path));
    } catch (problem) {
      showError(cancelError, problem);
    } finally {
      cancel.disabled = false;
    }
  });

  // Live: the event stream, or polling where the server has none.
  let stopPolling = null;
  let stopStream = null;
  const refresh = async () => {
    try {
      showRun(await getJSON(path));
      clearError(error);
    } catch (problem) {
      showError(error, problem);
    }
  };
  function startPolling() {
    live.textContent = "(refreshed every 2 s)";
    stopPolling = poll(async () => {
      const [json, output] = await Promise.all([getJSON(path), getJSON(`${path}/console`)]);
      showRun(json);
      follows(stdout, output.std_out || "", false);
      follows(stderr, output.std_err || "", false);
      return !FINAL.has(json.state);
    }, 2000);
  }

  refresh().then(() => {
    stopStream = follow(path, {
      event(name, data) {
        if (name === "console") {
          if (data.std_out) follows(stdout, data.std_out, true);
          if (data.std_err) follows(stderr, data.std_err, true);
        } else if (name === "state") {
          if (!states.some((s) => s.state === data.state && s.created_at === data.created_at)) states.push(data);
          showStates();
          announce(`Run ${data.state}`);
          if (FINAL.has(data.state)) refresh();
        } else if (name === "progress" && run) {
          run.progress = data;
          replace(progress, progressBar(run));
        }
      },
      fallback: startPolling,
      opened: () => {
        live.textContent = "(live)";
      },
      ended: () => run && FINAL.has(badge.dataset.state),
    });
  });

  return () => {
    if (stopStream) stopStream();
    if (stopPolling) stopPolling();
    for (const panel of openCharts.values()) panel.destroy();
  };
}
