// Pipelines: the list, the create/edit form, and one pipeline's page with
// its runs, its sweeps and the forms that start them.
import { getAll, getJSON, pipelinePath, sendJSON } from "../api.js";
import { clearError, errorBox, formatDuration, formatTime, go, h, poll, replace, showError, stateBadge } from "../dom.js";
import { progressBar } from "./progress.js";
import { startForm } from "./startform.js";

export function pipelinesPage(main, { setTitle }) {
  setTitle("Pipelines");
  const error = errorBox();
  const body = h("tbody");
  main.append(
    h("div", { class: "heading" }, h("h1", {}, "Pipelines"), h("a", { class: "button", href: "#/pipelines/new" }, "New pipeline")),
    error,
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        { id: "pipelines" },
        h("caption", { class: "visually-hidden" }, "Pipelines"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Model"), h("th", { scope: "col" }, "Description"), h("th", { scope: "col" }, "Updated"))),
        body,
      ),
    ),
  );
  getJSON("/v1/pipelines")
    .then((pipelines) => {
      if (!pipelines.length) body.append(h("tr", {}, h("td", { colspan: 4 }, "No pipelines yet.")));
      for (const p of pipelines) {
        body.append(
          h(
            "tr",
            {},
            h("td", {}, h("a", { href: `#/pipelines/${p.uuid}` }, p.name)),
            h("td", {}, h("code", {}, p.model || "")),
            h("td", {}, p.description || ""),
            h("td", {}, formatTime(p.updated_at)),
          ),
        );
      }
    })
    .catch((problem) => showError(error, problem));
}

const FIELDS = [
  ["name", "Name", { required: true, maxlength: 50 }],
  ["description", "Description", { maxlength: 300 }],
  ["model", "Model file (.glm, relative to the working directory)", { placeholder: "model.glm" }],
  ["repository_ssh_url", "Repository URL (optional)", { placeholder: "git@… or https://…" }],
  ["repository_branch", "Repository branch (optional)", {}],
  ["arguments", "Extra gridlabd arguments, one per line (optional)", { textarea: true }],
  ["timeout", "Timeout in seconds (optional)", { type: "number", min: 1 }],
];

export function pipelineFormPage(main, { params, setTitle }) {
  const editing = Boolean(params.pipeline);
  setTitle(editing ? "Edit pipeline" : "New pipeline");
  const error = errorBox();
  const inputs = {};
  const fieldErrors = {};
  const form = h("form", { class: "card", id: "pipeline-form", "aria-labelledby": "pipeline-form-title" }, h("h1", { id: "pipeline-form-title" }, editing ? "Edit pipeline" : "New pipeline"));
  for (const [name, label, options] of FIELDS) {
    const { textarea, ...attrs } = options;
    const input = h(textarea ? "textarea" : "input", { id: `field-${name}`, name, rows: textarea ? 3 : undefined, ...attrs, "aria-describedby": `field-${name}-error` });
    inputs[name] = input;
    fieldErrors[name] = h("div", { class: "field-error", id: `field-${name}-error` });
    form.append(h("label", { for: input.id }, label), input, fieldErrors[name]);
  }
  const submit = h("button", { type: "submit" }, editing ? "Save" : "Create");
  form.append(error, h("div", { class: "actions" }, submit, h("a", { href: editing ? `#/pipelines/${params.pipeline}` : "#/" }, "Cancel")));
  main.append(form);

  if (editing) {
    getJSON(pipelinePath(params.pipeline))
      .then((p) => {
        for (const [name] of FIELDS) {
          const value = p[name];
          inputs[name].value = name === "arguments" ? (value || []).join("\n") : value ?? "";
        }
      })
      .catch((problem) => showError(error, problem));
  }
  inputs.name.focus();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    for (const box of Object.values(fieldErrors)) box.textContent = "";
    const body = {};
    for (const [name] of FIELDS) {
      const value = inputs[name].value.trim();
      if (name === "arguments") body.arguments = value ? value.split("\n").map((line) => line.trim()).filter(Boolean) : [];
      else if (name === "timeout") body.timeout = value ? Number(value) : null;
      else if (name === "name") body.name = value;
      else if (name === "model") {
        if (value) body.model = value;
      } else body[name] = value || null;
    }
    submit.disabled = true;
    try {
      const saved = editing ? await sendJSON("PUT", pipelinePath(params.pipeline), body) : await sendJSON("POST", "/v1/pipelines", body);
      go(`#/pipelines/${saved.uuid}`);
    } catch (problem) {
      for (const [field, message] of Object.entries(problem.errors || {})) {
        if (fieldErrors[field]) {
          fieldErrors[field].textContent = Array.isArray(message) ? message.join(" ") : String(message);
          inputs[field].setAttribute("aria-invalid", "true");
        }
      }
      showError(error, problem);
    } finally {
      submit.disabled = false;
    }
  });
}

export function runRow(pipeline, run) {
  return h(
    "tr",
    { dataset: { run: run.uuid } },
    h("td", {}, h("a", { href: `#/pipelines/${pipeline}/runs/${run.uuid}` }, `#${run.sequence}`)),
    h("td", {}, stateBadge(run.state)),
    h("td", {}, progressBar(run, { compact: true })),
    h("td", {}, formatTime(run.created_at)),
    h("td", {}, formatTime(run.started_at)),
    h("td", {}, formatDuration(run.started_at, run.completed_at)),
  );
}

export const runTableHead = () =>
  h("thead", {}, h("tr", {}, ...["Run", "State", "Progress", "Created", "Started", "Duration"].map((title) => h("th", { scope: "col" }, title))));

export function pipelinePage(main, { params, setTitle }) {
  const pipeline = params.pipeline;
  setTitle("Pipeline");
  const error = errorBox();
  const title = h("h1", {}, "Pipeline");
  const details = h("dl", { class: "details" });
  const runsError = errorBox();
  const runsBody = h("tbody");
  const sweepsBox = h("div", { id: "sweeps" });
  const deleteError = errorBox();
  main.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Pipelines")),
    h(
      "div",
      { class: "heading" },
      title,
      h(
        "div",
        { class: "actions" },
        h("a", { class: "button", href: `#/pipelines/${pipeline}/edit` }, "Edit"),
        h(
          "button",
          {
            type: "button",
            class: "danger",
            onclick: async () => {
              if (!confirm("Delete this pipeline? Its runs that are not finished are cancelled.")) return;
              try {
                await sendJSON("DELETE", pipelinePath(pipeline));
                go("#/");
              } catch (problem) {
                showError(deleteError, problem);
              }
            },
          },
          "Delete",
        ),
      ),
    ),
    deleteError,
    error,
    details,
    h("div", { class: "columns" }, startForm(pipeline, "run", (run) => go(`#/pipelines/${pipeline}/runs/${run.uuid}`)), startForm(pipeline, "sweep", (sweep) => go(`#/pipelines/${pipeline}/sweeps/${sweep.uuid}`))),
    h("h2", {}, "Runs"),
    runsError,
    h("div", { class: "scroll" }, h("table", { id: "runs" }, h("caption", { class: "visually-hidden" }, "Runs of this pipeline"), runTableHead(), runsBody)),
    h("h2", {}, "Sweeps"),
    sweepsBox,
  );

  getJSON(pipelinePath(pipeline))
    .then((p) => {
      setTitle(p.name);
      title.textContent = p.name;
      replace(
        details,
        ...[
          ["Model", p.model],
          ["Description", p.description],
          ["Repository", p.repository_ssh_url && `${p.repository_ssh_url}${p.repository_branch ? ` (${p.repository_branch})` : ""}`],
          ["Arguments", (p.arguments || []).join(" ")],
          ["Timeout", p.timeout ? `${p.timeout} s` : ""],
          ["UUID", p.uuid],
        ]
          .filter(([, value]) => value)
          .flatMap(([label, value]) => [h("dt", {}, label), h("dd", {}, value)]),
      );
    })
    .catch((problem) => showError(error, problem));

  let shownRuns = null;
  const stopRuns = poll(async () => {
    try {
      const runs = await getAll(`${pipelinePath(pipeline)}/runs`);
      const signature = JSON.stringify(runs.map((r) => [r.uuid, r.state, r.progress, r.completed_at]));
      if (signature === shownRuns) return; // unchanged: keep the focus where it is
      shownRuns = signature;
      runs.reverse(); // newest first on this page
      if (!runs.length) replace(runsBody, h("tr", {}, h("td", { colspan: 6 }, "No runs yet.")));
      else replace(runsBody, ...runs.map((run) => runRow(pipeline, run)));
      clearError(runsError);
    } catch (problem) {
      showError(runsError, problem);
    }
  }, 3000);

  const stopSweeps = poll(async () => {
    try {
      const sweeps = await getJSON(`${pipelinePath(pipeline)}/sweeps`);
      const list = Array.isArray(sweeps) ? sweeps : sweeps.items || [];
      if (!list.length) replace(sweepsBox, h("p", {}, "No sweeps yet."));
      else
        replace(
          sweepsBox,
          h(
            "ul",
            { class: "plain" },
            list.map((sweep) =>
              h(
                "li",
                {},
                h("a", { href: `#/pipelines/${pipeline}/sweeps/${sweep.uuid}` }, `Sweep of ${sweep.run_count} runs`),
                " ",
                stateBadge(sweep.state),
                ` ${formatTime(sweep.created_at)}`,
              ),
            ),
          ),
        );
    } catch (problem) {
      if (problem.status === 404 || problem.status === 405) {
        replace(sweepsBox, h("p", { class: "unavailable" }, "Sweeps are not available on this server."));
        return false;
      }
      replace(sweepsBox, errorBox());
      showError(sweepsBox.firstChild, problem);
    }
  }, 5000);

  return () => {
    stopRuns();
    stopSweeps();
  };
}
