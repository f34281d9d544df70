// Sign-in: a client key, checked against the API, kept for this tab only.
import { getJSON, setKey, clearKey } from "../api.js";
import { errorBox, go, h, showError } from "../dom.js";

export function signInPage(main, { notice, returnTo, setTitle }) {
  setTitle("Sign in");
  const error = errorBox();
  const input = h("input", {
    id: "api-key",
    name: "api-key",
    type: "password",
    autocomplete: "off",
    required: true,
    spellcheck: false,
    "aria-describedby": "api-key-help",
  });
  const form = h(
    "form",
    { class: "card narrow", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title" }, "Sign in"),
    notice ? h("p", { class: "notice", role: "status" }, notice) : null,
    h("label", { for: "api-key" }, "Client key"),
    input,
    h(
      "p",
      { id: "api-key-help", class: "help" },
      "A key with the PIPELINES_CLIENT permission (",
      h("code", {}, "invoke create-application-key -p PIPELINES_CLIENT"),
      "). It is kept in this browser tab only, and sent in the Workflow-API-Key header.",
    ),
    error,
    h("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setKey(input.value.trim());
    try {
      await getJSON("/v1/pipelines");
      go(returnTo && returnTo !== "#/sign-in" ? returnTo : "#/");
    } catch (problem) {
      clearKey();
      if (problem.status === 401) problem.message = "The API does not know this key, or it was revoked.";
      if (problem.status === 403) problem.message = "This key lacks the PIPELINES_CLIENT permission.";
      showError(error, problem);
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  });
  main.append(form);
  input.focus();
}
