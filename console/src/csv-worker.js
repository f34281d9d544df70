// A Web Worker that reads one piece of a large CSV file (whole lines) into
// typed arrays, so that a million rows are read by every core at once and
// only numbers come back to the page.
import { parseRows, readColumns } from "./recorder.js";

self.onmessage = ({ data: { bytes, kinds } }) => {
  const text = new TextDecoder().decode(bytes);
  const rows = parseRows(text).data;
  const columns = readColumns(rows, kinds);
  const transfer = columns.flatMap((c) => (c ? Object.values(c).filter(Boolean).map((a) => a.buffer) : []));
  self.postMessage({ length: rows.length, columns }, transfer);
};
