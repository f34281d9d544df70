// The console's entry point: a hash router over the pages, and sign-in.
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { clearKey, getKey, setUnauthorizedHandler } from "./api.js";
import { go, h, replace } from "./dom.js";
import { pipelinesPage, pipelineFormPage, pipelinePage } from "./pages/pipelines.js";
import { runPage } from "./pages/run.js";
import { signInPage } from "./pages/signin.js";
import { sweepPage } from "./pages/sweep.js";
import { workflowPage, workflowRunPage, workflowsPage } from "./pages/workflows.js";

const ROUTES = [
  [/^\/sign-in$/, signInPage],
  [/^\/$/, pipelinesPage],
  [/^\/pipelines\/new$/, pipelineFormPage],
  [/^\/pipelines\/(?<pipeline>[0-9a-f]+)\/edit$/, pipelineFormPage],
  [/^\/pipelines\/(?<pipeline>[0-9a-f]+)$/, pipelinePage],
  [/^\/pipelines\/(?<pipeline>[0-9a-f]+)\/runs\/(?<run>[0-9a-f]+)$/, runPage],
  [/^\/pipelines\/(?<pipeline>[0-9a-f]+)\/sweeps\/(?<sweep>[0-9a-f]+)$/, sweepPage],
  [/^\/workflows$/, workflowsPage],
  [/^\/workflows\/(?<workflow>[0-9a-f]+)$/, workflowPage],
  [/^\/workflows\/(?<workflow>[0-9a-f]+)\/runs\/(?<workflowRun>[0-9a-f]+)$/, workflowRunPage],
];

let cleanup = null;
let signInNotice = "";
let returnTo = "#/";


// A key the API refuses (revoked, or unknown): back to sign-in, then back here.
setUnauthorizedHandler(() => {
  clearKey();
  if (location.hash.startsWith("#/sign-in")) return; // the sign-in form says so itself
  signInNotice = "The API refused your key (it may have been revoked). Sign in again.";
  if (!location.hash.startsWith("#/sign-in")) returnTo = location.hash || "#/";
  go("#/sign-in");
});

function route() {
  const path = (location.hash || "#/").slice(1) || "/";
  const main = document.getElementById("main");
  if (cleanup) cleanup();
  cleanup = null;
  const nav = document.getElementById("nav");
  nav.hidden = !getKey();
  if (!getKey() && path !== "/sign-in") {
    returnTo = location.hash || "#/";
    go("#/sign-in");
    return;
  }
  for (const [pattern, page] of ROUTES) {
    const match = path.match(pattern);
    if (!match) continue;
    const context = {
      params: match.groups || {},
      notice: signInNotice,
      returnTo,
      setTitle: (title) => (document.title = `${title} · Workflow Service`),
    };
    signInNotice = "";
    replace(main);
    cleanup = page(main, context) || null;
    for (const link of nav.querySelectorAll("a")) {
      const current = link.getAttribute("href") === "#" + path.split("/").slice(0, 2).join("/");
      if (current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    // Focus moves to the new page, unless the page put it somewhere itself.
    if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
    return;
  }
  replace(main, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "Back to the pipelines")));
}

document.getElementById("sign-out").addEventListener("click", () => {
  clearKey();
  returnTo = "#/";
  go("#/sign-in");
});
window.addEventListener("hashchange", route);
window.addEventListener("console:route", route);
route();
