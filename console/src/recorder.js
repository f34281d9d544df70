// CSV files as GridLAB-D recorders write them: "# key.... value" lines, then
// "# timestamp,col,..." naming the columns, then rows of timestamps and
// values that may be complex ("+2197.75-144.929j", polar "+240.1+30d" or
// "...r") and carry units ("+120.1 V"). Papa Parse reads the CSV; this
// module turns its text cells into numbers.
import Papa from "papaparse";

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}/;

// {columns, rows, meta, zone}: rows are Papa Parse's arrays of cells.
export function parseRecorder(text) {
  const meta = {};
  let header = null;
  let offset = 0;
  while (offset < text.length && text[offset] === "#") {
    let end = text.indexOf("\n", offset);
    if (end === -1) end = text.length;
    const line = text.slice(offset + 1, end).replace(/\r$/, "").trim();
    const field = line.match(/^([A-Za-z_]+)\.+\s(.*)$/);
    if (field) meta[field[1]] = field[2].trim();
    else if (line.includes(",")) header = line;
    offset = end + 1;
  }
  const parsed = Papa.parse(text.slice(offset), { skipEmptyLines: true, comments: "#" });
  let rows = parsed.data;
  let columns;
  if (header) columns = Papa.parse(header).data[0].map((name) => name.trim());
  else if (rows.length && rows[0].some((cell) => Number.isNaN(parseComplex(cell).re) && !TIMESTAMP.test(cell))) {
    columns = rows[0].map((name) => name.trim());
    rows = rows.slice(1);
  } else columns = (rows[0] || []).map((_, i) => `column ${i + 1}`);
  const first = rows.find((row) => row.length === columns.length);
  const kinds = columns.map((_, i) => (first ? cellKind(first[i]) : "text"));
  const zoneMatch = first && kinds[0] === "time" ? first[0].trim().match(/\s([A-Za-z]{2,5})$/) : null;
  return { columns, rows, meta, kinds, zone: zoneMatch ? zoneMatch[1] : null, errors: parsed.errors.length };
}

export function cellKind(cell) {
  if (cell === undefined) return "text";
  const text = cell.trim();
  if (TIMESTAMP.test(text)) return "time";
  const value = parseComplex(text);
  if (Number.isNaN(value.re)) return "text";
  return value.complex ? "complex" : "number";
}

// A number or a complex number; units after a space are dropped.
export function parseComplex(cell) {
  let s = cell.trim();
  const space = s.indexOf(" ");
  if (space > 0) s = s.slice(0, space);
  const last = s[s.length - 1];
  if (last === "j" || last === "i" || last === "d" || last === "r") {
    const body = s.slice(0, -1);
    let split = -1;
    for (let k = body.length - 1; k > 0; k--) {
      const c = body[k];
      if ((c === "+" || c === "-") && body[k - 1] !== "e" && body[k - 1] !== "E") {
        split = k;
        break;
      }
    }
    if (split > 0) {
      const a = Number(body.slice(0, split));
      const b = Number(body.slice(split));
      if (last === "j" || last === "i") return { re: a, im: b, complex: true };
      const angle = last === "d" ? (b * Math.PI) / 180 : b;
      return { re: a * Math.cos(angle), im: a * Math.sin(angle), complex: true };
    }
  }
  return { re: s === "" ? NaN : Number(s), im: 0, complex: false };
}

export const MODES = ["magnitude", "real", "imaginary", "angle"];

function complexPart(value, mode) {
  if (!value.complex) return value.re;
  switch (mode) {
    case "real":
      return value.re;
    case "imaginary":
      return value.im;
    case "angle":
      return (Math.atan2(value.im, value.re) * 180) / Math.PI;
    default:
      return Math.hypot(value.re, value.im);
  }
}

// Seconds since 1970 of the timestamp as written (the recorder's wall
// clock, read as UTC so that the axis shows the times the file shows).
export function timestampParser() {
  let lastDay = null;
  let base = 0;
  return (cell) => {
    const s = cell.trim();
    if (!TIMESTAMP.test(s)) return NaN;
    const day = s.slice(0, 10);
    if (day !== lastDay) {
      lastDay = day;
      base = Date.UTC(+s.slice(0, 4), +s.slice(5, 7) - 1, +s.slice(8, 10)) / 1000;
    }
    let seconds = base + +s.slice(11, 13) * 3600 + +s.slice(14, 16) * 60 + (s[16] === ":" ? +s.slice(17, 19) : 0);
    const offset = s.match(/([+-])(\d{2}):?(\d{2})$/);
    if (offset && s.length > 19) seconds -= (offset[1] === "-" ? -1 : 1) * (+offset[2] * 3600 + +offset[3] * 60);
    return seconds;
  };
}

// One column as numbers (NaN where a cell is missing or not a number).
export function columnValues(table, index, mode = "magnitude") {
  const { rows, kinds } = table;
  const out = new Float64Array(rows.length);
  if (kinds[index] === "time") {
    const parse = timestampParser();
    for (let i = 0; i < rows.length; i++) {
      const cell = rows[i][index];
      out[i] = cell === undefined ? NaN : parse(cell);
    }
  } else {
    for (let i = 0; i < rows.length; i++) {
      const cell = rows[i][index];
      out[i] = cell === undefined ? NaN : complexPart(parseComplex(cell), mode);
    }
  }
  return out;
}

// A summary of a column: last, min, max or mean of its finite values.
export function summarize(values, how) {
  let count = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  let last = NaN;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    count += 1;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
    last = v;
  }
  if (!count) return NaN;
  return { last, min, max, mean: sum / count }[how];
}
