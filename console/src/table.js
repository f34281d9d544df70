// A CSV artifact read into numbers: small files on the page's thread, large
// ones split at line ends and read by one Web Worker per core at once
// (csv-worker.js), their typed arrays put back together in order.
import { request } from "./api.js";
import { cellKind, parseRecorder, readRecorder, splitHeader } from "./recorder.js";

const PARALLEL_FROM = 4 * 2 ** 20; // bytes
const workerUrl = () => document.querySelector('meta[name="csv-worker"]')?.content;

// One Web Worker per core (at most 4), or null where the page cannot have them.
function startWorkers() {
  const count = Math.min(4, navigator.hardwareConcurrency || 2);
  if (!window.Worker || !workerUrl() || count < 2) return null;
  return Array.from({ length: count }, () => new Worker(workerUrl(), { type: "module" }));
}

export async function loadTable(url) {
  const response = await request(url);
  // A large file's workers start while its body downloads, so that their
  // code is loaded by the time it has arrived.
  let workers = Number(response.headers.get("Content-Length")) >= PARALLEL_FROM ? startWorkers() : null;
  let bytes;
  try {
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch (problem) {
    for (const worker of workers || []) worker.terminate();
    throw problem;
  }
  const fetchedAt = performance.now();
  if (bytes.length >= PARALLEL_FROM && !workers) workers = startWorkers();
  if (bytes.length < PARALLEL_FROM || !workers) {
    for (const worker of workers || []) worker.terminate();
    return { ...readRecorder(new TextDecoder().decode(bytes)), fetchedAt };
  }
  // The head: "#" lines, the column names, the kinds of the first row.
  const headBytes = bytes.subarray(0, Math.min(bytes.length, 256 * 1024));
  const headText = new TextDecoder().decode(headBytes);
  const { offset } = splitHeader(headText);
  const head = parseRecorder(headText.slice(0, headText.lastIndexOf("\n") + 1));
  const firstRow = head.rows.find((row) => row.length === head.columns.length);
  const kinds = head.columns.map((_, i) => (firstRow ? cellKind(firstRow[i]) : "text"));
  // Where the rows start, in bytes (the "#" lines and a header row, if any).
  let start = new TextEncoder().encode(headText.slice(0, offset)).length;
  if (!splitHeader(headText).header && head.columns[0] !== "column 1") start = bytes.indexOf(10, start) + 1;
  const cuts = [start];
  for (let k = 1; k < workers.length; k++) {
    const at = bytes.indexOf(10, start + Math.floor(((bytes.length - start) * k) / workers.length));
    cuts.push(at === -1 ? bytes.length : at + 1);
  }
  cuts.push(bytes.length);
  const pieces = await Promise.all(
    cuts.slice(0, -1).map((from, k) => {
      const piece = bytes.slice(from, cuts[k + 1]);
      const worker = workers[k];
      return new Promise((resolve, reject) => {
        worker.onmessage = ({ data }) => {
          worker.terminate();
          resolve(data);
        };
        worker.onerror = (event) => {
          worker.terminate();
          reject(new Error(`Reading the file failed: ${event.message || "worker error"}`));
        };
        worker.postMessage({ bytes: piece, kinds }, [piece.buffer]);
      });
    }),
  );
  const length = pieces.reduce((sum, piece) => sum + piece.length, 0);
  const join = (parts) => {
    const out = new Float64Array(length);
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  };
  const data = kinds.map((kind, i) => {
    const first = pieces[0].columns[i];
    if (!first) return null;
    const column = {};
    for (const key of Object.keys(first)) if (first[key]) column[key] = join(pieces.map((p) => p.columns[i][key]));
    if ("im" in first && !first.im) column.im = null;
    return column;
  });
  return { columns: head.columns, kinds, meta: head.meta, zone: head.zone, length, data, fetchedAt };
}
