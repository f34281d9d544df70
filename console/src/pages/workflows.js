// Workflows: the list, one workflow's DAG and runs, and a workflow run's
// DAG with each node's state, refreshed while it runs.
import { getAll, getJSON, sendJSON } from "../api.js";
import { drawDag } from "../dag.js";
import { FINAL, clearError, errorBox, formatTime, go, h, poll, replace, showError, stateBadge } from "../dom.js";

const unavailable = (box) => replace(box, h("p", { class: "unavailable" }, "Workflows are not available on this server."));
const missing = (problem) => problem.status === 404 || problem.status === 405;

export function workflowsPage(main, { setTitle }) {
  setTitle("Workflows");
  const error = errorBox();
  const list = h("div", { id: "workflows" });
  const nameInput = h("input", { id: "workflow-name", required: true, maxlength: 50 });
  const descInput = h("input", { id: "workflow-description", maxlength: 300 });
  const formError = errorBox();
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "new-workflow-title" },
    h("h2", { id: "new-workflow-title" }, "New workflow"),
    h("label", { for: nameInput.id }, "Name"),
    nameInput,
    h("label", { for: descInput.id }, "Description"),
    descInput,
    formError,
    h("button", { type: "submit" }, "Create"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(formError);
    try {
      const created = await sendJSON("POST", "/v1/workflows", { name: nameInput.value.trim(), description: descInput.value.trim() || null });
      go(`#/workflows/${created.uuid}`);
    } catch (problem) {
      if (missing(problem)) problem.message = "Workflows are not available on this server.";
      showError(formError, problem);
    }
  });
  main.append(h("h1", {}, "Workflows"), error, list, form);
  getJSON("/v1/workflows")
    .then((workflows) => {
      const items = Array.isArray(workflows) ? workflows : workflows.items || [];
      if (!items.length) return replace(list, h("p", {}, "No workflows yet."));
      replace(list, h("ul", { class: "plain" }, items.map((w) => h("li", {}, h("a", { href: `#/workflows/${w.uuid}` }, w.name), w.description ? ` – ${w.description}` : ""))));
    })
    .catch((problem) => (missing(problem) ? unavailable(list) : showError(error, problem)));
}

async function pipelineNames(uuids) {
  const names = new Map();
  if (!uuids.length) return names;
  try {
    const found = await sendJSON("POST", "/v1/pipelines/search", { uuids: [...new Set(uuids)] });
    for (const p of found) names.set(p.uuid, p.name);
  } catch {
    // labels fall back to the uuids
  }
  return names;
}

export function workflowPage(main, { params, setTitle }) {
  const { workflow } = params;
  setTitle("Workflow");
  const error = errorBox();
  const title = h("h1", {}, "Workflow");
  const dagBox = h("div", { id: "dag" });
  const runsBox = h("div", { id: "workflow-runs" });
  const nodeError = errorBox();
  const pipelineSelect = h("select", { id: "node-pipeline" });
  const sourcesSelect = h("select", { id: "node-sources", multiple: true, size: 3 });
  const runError = errorBox();
  const inputName = h("input", { id: "workflow-input-name", placeholder: "model.glm" });
  const inputUrl = h("input", { id: "workflow-input-url", placeholder: "https://…" });
  main.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/workflows" }, "Workflows")),
    title,
    error,
    h("h2", {}, "Nodes"),
    dagBox,
    h(
      "div",
      { class: "columns" },
      h(
        "form",
        { class: "card", id: "add-node", "aria-labelledby": "add-node-title" },
        h("h2", { id: "add-node-title" }, "Add a node"),
        h("label", { for: pipelineSelect.id }, "Pipeline"),
        pipelineSelect,
        h("label", { for: sourcesSelect.id }, "After (sources)"),
        sourcesSelect,
        nodeError,
        h("button", { type: "submit" }, "Add node"),
      ),
      h(
        "form",
        { class: "card", id: "start-workflow-run", "aria-labelledby": "start-workflow-title" },
        h("h2", { id: "start-workflow-title" }, "Start a workflow run"),
        h("label", { for: inputName.id }, "Input name (optional)"),
        inputName,
        h("label", { for: inputUrl.id }, "Input URL"),
        inputUrl,
        runError,
        h("button", { type: "submit" }, "Start run"),
      ),
    ),
    h("h2", {}, "Runs"),
    runsBox,
  );

  async function load() {
    try {
      const w = await getJSON(`/v1/workflows/${workflow}`);
      title.textContent = w.name;
      setTitle(w.name);
      const nodes = await getJSON(`/v1/workflows/${workflow}/pipelines`);
      const names = await pipelineNames(nodes.map((n) => n.pipeline_uuid));
      replace(dagBox, nodes.length ? drawDag(nodes.map((n) => ({ uuid: n.uuid, sources: n.source_workflow_pipelines, label: names.get(n.pipeline_uuid) || n.pipeline_uuid })), { title: w.name }) : h("p", {}, "No nodes yet."));
      replace(sourcesSelect, nodes.map((n) => h("option", { value: n.uuid }, names.get(n.pipeline_uuid) || n.uuid)));
      const pipelines = await getJSON("/v1/pipelines");
      replace(pipelineSelect, pipelines.map((p) => h("option", { value: p.uuid }, p.name)));
      const runs = await getAll(`/v1/workflows/${workflow}/runs`);
      replace(runsBox, runs.length ? h("ul", { class: "plain" }, runs.reverse().map((r) => h("li", {}, h("a", { href: `#/workflows/${workflow}/runs/${r.uuid}` }, formatTime(r.created_at)), " ", stateBadge(r.state)))) : h("p", {}, "No runs yet."));
    } catch (problem) {
      if (missing(problem)) unavailable(dagBox);
      else showError(error, problem);
    }
  }
  main.querySelector("#add-node").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(nodeError);
    try {
      await sendJSON("POST", `/v1/workflows/${workflow}/pipelines`, {
        pipeline_uuid: pipelineSelect.value,
        source_workflow_pipelines: [...sourcesSelect.selectedOptions].map((o) => o.value),
        destination_workflow_pipelines: [],
      });
      load();
    } catch (problem) {
      showError(nodeError, problem);
    }
  });
  main.querySelector("#start-workflow-run").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(runError);
    const url = inputUrl.value.trim();
    const inputs = url ? [{ name: inputName.value.trim() || url.split("/").pop(), url }] : [];
    try {
      const created = await sendJSON("POST", `/v1/workflows/${workflow}/runs`, { inputs });
      go(`#/workflows/${workflow}/runs/${created.uuid}`);
    } catch (problem) {
      showError(runError, problem);
    }
  });
  load();
}

export function workflowRunPage(main, { params, setTitle }) {
  const { workflow, workflowRun } = params;
  setTitle("Workflow run");
  const error = errorBox();
  const badge = h("span", { id: "workflow-run-state" });
  const dagBox = h("div", { id: "dag" });
  const cancelError = errorBox();
  const cancel = h("button", { type: "button", class: "danger", hidden: true }, "Cancel workflow run");
  main.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/workflows" }, "Workflows"), " › ", h("a", { href: `#/workflows/${workflow}` }, "Workflow")),
    h("div", { class: "heading" }, h("h1", {}, "Workflow run"), badge, h("div", { class: "actions" }, cancel)),
    cancelError,
    error,
    dagBox,
  );
  const path = `/v1/workflows/${workflow}/runs/${workflowRun}`;
  cancel.addEventListener("click", async () => {
    clearError(cancelError);
    try {
      await sendJSON("POST", `${path}/cancel`);
    } catch (problem) {
      showError(cancelError, problem);
    }
  });
  let nodes = null;
  let names = new Map();
  const stop = poll(async () => {
    try {
      const run = await getJSON(path);
      if (!nodes) {
        nodes = await getJSON(`/v1/workflows/${workflow}/pipelines`);
        names = await pipelineNames(run.workflow_pipeline_runs.map((n) => n.pipeline_uuid));
      }
      const sources = new Map(nodes.map((n) => [n.uuid, n.source_workflow_pipelines]));
      const state = run.state || (run.states || []).at(-1)?.state;
      replace(badge, stateBadge(state));
      cancel.hidden = FINAL.has(state);
      replace(
        dagBox,
        drawDag(
          run.workflow_pipeline_runs.map((n) => ({
            uuid: n.workflow_pipeline_uuid,
            sources: sources.get(n.workflow_pipeline_uuid) || [],
            label: names.get(n.pipeline_uuid) || n.pipeline_uuid,
            state: n.pipeline_run && n.pipeline_run.state,
            href: n.pipeline_run ? `#/pipelines/${n.pipeline_uuid}/runs/${n.pipeline_run.uuid}` : null,
          })),
          { title: "Workflow run" },
        ),
      );
      clearError(error);
      return !FINAL.has(state);
    } catch (problem) {
      if (missing(problem)) {
        unavailable(dagBox);
        return false;
      }
      showError(error, problem);
    }
  }, 2000);
  return stop;
}
