// CSV files as GridLAB-D recorders write them: "# key.... value" lines, then
// "# timestamp,col,..." naming the columns, then rows of timestamps and
// values that may be complex ("+2197.75-144.929j", polar "+240.1+30d" or
// "...r") and carry units ("+120.1 V"). d3-dsv reads the CSV; this module
// turns its text cells into numbers.
import { csvParseRows } from "d3-dsv";

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}/;

// The "#" lines at the top: {meta, header (the column names' line or null),
// offset (where the rows start)}.
export function splitHeader(text) {
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
  return { meta, header, offset };
}

// A row d3-dsv read that is not data: an empty line or a "#" line.
const isNotData = (row) => (row.length === 1 && row[0] === "") || row[0].startsWith("#");

// The rows (arrays of cells) of CSV text, without empty and "#" lines.
export const parseRows = (text) => csvParseRows(text, (row) => (isNotData(row) ? null : row));

// {columns, rows, meta, kinds, zone}: the whole file, read on this thread.
export function parseRecorder(text) {
  const { meta, header, offset } = splitHeader(text);
  let rows = parseRows(text.slice(offset));
  let columns;
  if (header) columns = csvParseRows(header)[0].map((name) => name.trim());
  else if (rows.length && rows[0].some((cell) => Number.isNaN(parseComplex(cell).re) && !TIMESTAMP.test(cell))) {
    columns = rows[0].map((name) => name.trim());
    rows = rows.slice(1);
  } else columns = (rows[0] || []).map((_, i) => `column ${i + 1}`);
  const first = rows.find((row) => row.length === columns.length);
  const kinds = columns.map((_, i) => (first ? cellKind(first[i]) : "text"));
  return { columns, rows, meta, kinds, zone: zoneOf(first, kinds) };
}

const zoneOf = (row, kinds) => {
  const match = row && kinds[0] === "time" ? row[0].trim().match(/\s([A-Za-z]{2,5})$/) : null;
  return match ? match[1] : null;
};

// A column's numbers by kind, written cell by cell: a time column as
// seconds ({values}), a complex one as {re, im}, a number one as {re}, text
// as null.
function columnWriter(kind, capacity) {
  if (kind === "time") {
    const parse = timestampParser();
    const values = new Float64Array(capacity);
    return {
      write(i, cell) {
        values[i] = cell === undefined ? NaN : parse(cell);
      },
      result: (n) => ({ values: values.subarray(0, n) }),
    };
  }
  if (kind === "complex" || kind === "number") {
    const re = new Float64Array(capacity);
    const im = kind === "complex" ? new Float64Array(capacity) : null;
    const out = { re: 0, im: 0, complex: false };
    return {
      write(i, cell) {
        if (cell === undefined) {
          re[i] = NaN;
          if (im) im[i] = NaN;
          return;
        }
        parseComplexInto(cell, out);
        re[i] = out.re;
        if (im) im[i] = out.im;
      },
      result: (n) => (im ? { re: re.subarray(0, n), im: im.subarray(0, n) } : { re: re.subarray(0, n) }),
    };
  }
  return { write() {}, result: () => null };
}

// Every column of ``rows`` (arrays of cells) as numbers, by kind.
export function readColumns(rows, kinds) {
  const writers = kinds.map((kind) => columnWriter(kind, rows.length));
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    for (let k = 0; k < writers.length; k++) writers[k].write(i, row[k]);
  }
  return writers.map((writer) => writer.result(rows.length));
}

// {length, columns}: the rows of CSV ``text`` (no header row) read straight
// into numbers as d3-dsv hands each row over, so that no cell string
// outlives its row (for a million rows, most of the time of parsing to
// arrays first went to the four million strings kept).
export function readColumnsOfText(text, kinds) {
  let capacity = 1;
  for (let at = text.indexOf("\n"); at !== -1; at = text.indexOf("\n", at + 1)) capacity++;
  const writers = kinds.map((kind) => columnWriter(kind, capacity));
  let n = 0;
  csvParseRows(text, (row) => {
    if (isNotData(row)) return null;
    for (let k = 0; k < writers.length; k++) writers[k].write(n, row[k]);
    n++;
    return null;
  });
  return { length: n, columns: writers.map((writer) => writer.result(n)) };
}

// A column read by readColumns as one series: complex values as ``mode``.
export function seriesOf(column, mode = "magnitude") {
  if (!column) return null;
  if (column.values) return column.values;
  if (!column.im) return column.re;
  const { re, im } = column;
  const out = new Float64Array(re.length);
  for (let i = 0; i < re.length; i++) {
    if (mode === "real") out[i] = re[i];
    else if (mode === "imaginary") out[i] = im[i];
    else if (mode === "angle") out[i] = (Math.atan2(im[i], re[i]) * 180) / Math.PI;
    else out[i] = Math.sqrt(re[i] * re[i] + im[i] * im[i]);
  }
  return out;
}

// The whole file as numbers: {columns, kinds, meta, zone, length, data}.
export function readRecorder(text) {
  const table = parseRecorder(text);
  return { ...table, rows: undefined, length: table.rows.length, data: readColumns(table.rows, table.kinds) };
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
  return parseComplexInto(cell, { re: 0, im: 0, complex: false });
}

// Numbers are read from the cell's characters, without slicing it: for a
// million rows this is several times faster than Number() on substrings.
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);
let scanEnd = 0;

// The number at s[i...], or NaN; scanEnd is set to the index after it.
function scanNumber(s, i) {
  const n = s.length;
  const start = i;
  let sign = 1;
  let c = s.charCodeAt(i);
  if (c === 43 || c === 45) {
    if (c === 45) sign = -1;
    c = s.charCodeAt(++i);
  }
  let mantissa = 0;
  let digits = 0;
  let scale = 0;
  while (c >= 48 && c <= 57) {
    mantissa = mantissa * 10 + (c - 48);
    digits++;
    c = s.charCodeAt(++i);
  }
  if (c === 46) {
    c = s.charCodeAt(++i);
    while (c >= 48 && c <= 57) {
      mantissa = mantissa * 10 + (c - 48);
      digits++;
      scale++;
      c = s.charCodeAt(++i);
    }
  }
  if (!digits) {
    scanEnd = i;
    return NaN;
  }
  let exponent = 0;
  if ((c === 101 || c === 69) && i + 1 < n) {
    let j = i + 1;
    let expSign = 1;
    let e = s.charCodeAt(j);
    if (e === 43 || e === 45) {
      if (e === 45) expSign = -1;
      e = s.charCodeAt(++j);
    }
    if (e >= 48 && e <= 57) {
      while (e >= 48 && e <= 57) {
        exponent = exponent * 10 + (e - 48);
        e = s.charCodeAt(++j);
      }
      exponent *= expSign;
      i = j;
    }
  }
  scanEnd = i;
  const power = exponent - scale;
  if (digits > 15 || Math.abs(power) > 22) return Number(s.slice(start, i)); // rare: let Number() round it
  return sign * (power >= 0 ? mantissa * POW10[power] : mantissa / POW10[-power]);
}

function parseComplexInto(cell, out) {
  const n = cell.length;
  let i = 0;
  while (i < n && cell.charCodeAt(i) <= 32) i++;
  out.complex = false;
  out.im = 0;
  const a = scanNumber(cell, i);
  i = scanEnd;
  const c = cell.charCodeAt(i);
  if (Number.isNaN(a) || i >= n || c <= 32) {
    out.re = a; // a real number, perhaps with a unit after a space
    return out;
  }
  if (c === 43 || c === 45) {
    const b = scanNumber(cell, i);
    const suffix = cell[scanEnd];
    const after = cell.charCodeAt(scanEnd + 1);
    if (!Number.isNaN(b) && (Number.isNaN(after) || after <= 32)) {
      out.complex = true;
      if (suffix === "j" || suffix === "i") {
        out.re = a;
        out.im = b;
        return out;
      }
      if (suffix === "d" || suffix === "r") {
        const angle = suffix === "d" ? (b * Math.PI) / 180 : b;
        out.re = a * Math.cos(angle);
        out.im = a * Math.sin(angle);
        return out;
      }
    }
  }
  if ((c === 106 || c === 105) && (i + 1 >= n || cell.charCodeAt(i + 1) <= 32)) {
    out.complex = true; // imaginary alone: "+5j"
    out.re = 0;
    out.im = a;
    return out;
  }
  out.complex = false;
  out.re = NaN;
  return out;
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
  const digits = (s, from, count) => {
    let value = 0;
    for (let k = from; k < from + count; k++) {
      const d = s.charCodeAt(k) - 48;
      if (d < 0 || d > 9) return NaN;
      value = value * 10 + d;
    }
    return value;
  };
  return (cell) => {
    const s = cell.charCodeAt(0) <= 32 ? cell.trim() : cell;
    if (s.length < 16 || s[4] !== "-" || s[7] !== "-" || s[13] !== ":") return NaN;
    if (lastDay === null || !s.startsWith(lastDay)) {
      lastDay = s.slice(0, 10);
      base = Date.UTC(digits(s, 0, 4), digits(s, 5, 2) - 1, digits(s, 8, 2)) / 1000;
    }
    let seconds = base + digits(s, 11, 2) * 3600 + digits(s, 14, 2) * 60 + (s[16] === ":" ? digits(s, 17, 2) : 0);
    const end = s.charCodeAt(s.length - 1);
    if (s.length > 19 && end >= 48 && end <= 57) {
      const offset = s.match(/([+-])(\d{2}):?(\d{2})$/);
      if (offset) seconds -= (offset[1] === "-" ? -1 : 1) * (+offset[2] * 3600 + +offset[3] * 60);
    }
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
