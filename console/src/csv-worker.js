// A Web Worker that reads one piece of a large CSV file (whole lines) into
// typed arrays, so that a million rows are read by every core at once and
// only numbers come back to the page.
import { readColumnsOfText } from "./recorder.js";

self.onmessage = ({ data: { bytes, kinds } }) => {
  const { length, columns } = readColumnsOfText(new TextDecoder().decode(bytes), kinds);
  const transfer = columns.flatMap((c) => (c ? Object.values(c).map((a) => a.buffer) : []));
  self.postMessage({ length, columns }, transfer);
};
