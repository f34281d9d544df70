// Build the console into dist/: one script and one style sheet, named by
// their content hash, and the page that loads them (served at / by the API).
import { build } from "esbuild";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename } from "node:path";

const out = new URL("./dist/", import.meta.url).pathname;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const result = await build({
  entryPoints: ["src/main.js", "src/csv-worker.js"],
  bundle: true,
  minify: true,
  sourcemap: "linked",
  format: "esm",
  target: ["es2020"],
  outdir: out,
  entryNames: "[name]-[hash]",
  metafile: true,
  logLevel: "warning",
});

const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path));
const script = outputs.find((name) => name.startsWith("main-") && name.endsWith(".js"));
const worker = outputs.find((name) => name.startsWith("csv-worker-") && name.endsWith(".js"));
const style = outputs.find((name) => name.endsWith(".css"));
const page = readFileSync("src/index.html", "utf8")
  .replace("%SCRIPT%", `/ui/${script}`)
  .replace("%STYLE%", `/ui/${style}`)
  .replace("%WORKER%", `/ui/${worker}`);
writeFileSync(out + "index.html", page);
console.log(`console: built ${script}, ${worker} and ${style}`);
