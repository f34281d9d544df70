// A CSV artifact read into numbers: small files on the page's thread, large
// ones split at line ends and read by one Web Worker per core at once
// (csv-worker.js), their typed arrays put back together in order.
import { request } from "./api.js";
import { cellKind, parseRecorder, readColumns, readRecorder, splitHeader } from "./recorder.js";

const PARALLEL_FROM = 4 * 2 ** 20; // bytes
const workerUrl = () => document.querySelector('meta[name="csv-worker"]')?.content;

export async function loadTable(url) {
  const bytes = new Uint8Array(await (await request(url)).arrayBuffer());
  const fetchedAt = performance.now();
  const workers = Math.min(4, navigator.hardwareConcurrency || 2);
  if (bytes.length < PARALLEL_FROM || !window.Worker || !workerUrl() || workers < 2) {
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
  for (let k = 1; k < workers; k++) {
    const at = bytes.indexOf(10, start + Math.floor(((bytes.length - start) * k) / workers));
    cuts.push(at === -1 ? bytes.length : at + 1);
  }
  cuts.push(bytes.length);
  const pieces = await Promise.all(
    cuts.slice(0, -1).map((from, k) => {
      const piece = bytes.slice(from, cuts[k + 1]);
      return new Promise((resolve, reject) => {
        const worker = new Worker(workerUrl(), { type: "module" });
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

export { readColumns };
