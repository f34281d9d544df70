// The form that starts a run or a sweep: files from the person's disk
// (uploaded as input files), inputs by URL, and parameters.
import { ApiError, request, sendJSON } from "../api.js";
import { clearError, errorBox, h, showError } from "../dom.js";

let rowId = 0;

function pairRow(list, leftLabel, rightLabel, leftName, rightName, placeholder = "") {
  rowId += 1;
  const left = h("input", { id: `${leftName}-${rowId}`, name: leftName, autocomplete: "off" });
  const right = h("input", { id: `${rightName}-${rowId}`, name: rightName, autocomplete: "off", placeholder });
  const row = h(
    "div",
    { class: "pair" },
    h("div", {}, h("label", { for: left.id }, leftLabel), left),
    h("div", {}, h("label", { for: right.id }, rightLabel), right),
    h("button", { type: "button", class: "small", "aria-label": `Remove this ${leftLabel.toLowerCase()}`, onclick: () => row.remove() }, "Remove"),
  );
  list.append(row);
  return row;
}

const pairs = (list) =>
  [...list.querySelectorAll(".pair")]
    .map((row) => [...row.querySelectorAll("input")].map((input) => input.value.trim()))
    .filter(([left, right]) => left || right);

// A parameter value as typed: numbers and booleans as such, the rest as text.
export function typedValue(text) {
  if (text === "true" || text === "false") return text === "true";
  if (text !== "" && Number.isFinite(Number(text))) return Number(text);
  return text;
}

async function uploadFile(pipeline, file) {
  try {
    const response = await request(`/v1/pipelines/${pipeline}/input_files?name=${encodeURIComponent(file.name)}`, {
      method: "POST",
      body: file,
    });
    return response.json();
  } catch (error) {
    if (error.status === 404 || error.status === 405) {
      throw new ApiError(error.status, `This server does not take input file uploads yet (${file.name}): give the input by URL instead.`);
    }
    error.message = `Uploading ${file.name}: ${error.message}`;
    throw error;
  }
}

// kind: "run" or "sweep"; onStarted(json) after the API accepted it.
export function startForm(pipeline, kind, onStarted) {
  const id = `start-${kind}`;
  const error = errorBox();
  const files = h("input", { id: `${id}-files`, type: "file", multiple: true, name: "files" });
  const urls = h("div", { class: "pairs", id: `${id}-urls` });
  const params = h("div", { class: "pairs", id: `${id}-params` });
  const sweep = kind === "sweep";
  const addUrl = () => pairRow(urls, "Input name", "URL", "input-name", "input-url", "https://…");
  const addParam = () =>
    pairRow(params, "Parameter", sweep ? "Values (comma-separated)" : "Value", "param-name", "param-value", sweep ? "0.5, 0.75, 1" : "");
  const submit = h("button", { type: "submit" }, sweep ? "Start sweep" : "Start run");
  const form = h(
    "form",
    { class: "card", id, "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title` }, sweep ? "Start a sweep" : "Start a run"),
    h("label", { for: files.id }, "Input files from your disk (the model and what it reads)"),
    files,
    h("fieldset", {}, h("legend", {}, "Inputs by URL"), urls, h("button", { type: "button", class: "small", onclick: addUrl }, "Add an input by URL")),
    h(
      "fieldset",
      {},
      h("legend", {}, sweep ? "Parameters: one run per combination of values" : "Parameters (passed as -D name=value)"),
      params,
      h("button", { type: "button", class: "small", onclick: addParam }, "Add a parameter"),
    ),
    error,
    submit,
  );
  if (sweep) addParam();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    submit.disabled = true;
    try {
      const inputs = [];
      for (const file of files.files) {
        const uploaded = await uploadFile(pipeline, file);
        inputs.push({ name: uploaded.name, url: uploaded.url });
      }
      for (const [name, url] of pairs(urls)) inputs.push({ name, url });
      const body = { inputs };
      const parameters = {};
      for (const [name, value] of pairs(params)) {
        parameters[name] = sweep ? value.split(",").map((part) => typedValue(part.trim())) : typedValue(value);
      }
      if (sweep || Object.keys(parameters).length) body.parameters = parameters;
      const path = `/v1/pipelines/${pipeline}/${sweep ? "sweeps" : "runs"}`;
      let created;
      try {
        created = await sendJSON("POST", path, body);
      } catch (problem) {
        if (sweep && (problem.status === 404 || problem.status === 405)) problem.message = "This server does not run sweeps yet.";
        throw problem;
      }
      onStarted(created);
    } catch (problem) {
      showError(error, problem);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
