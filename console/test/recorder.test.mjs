// The console's reading of GridLAB-D recorder files and its downsampling,
// under node's own test runner (bin/test runs them).
import assert from "node:assert/strict";
import { test } from "node:test";
import { minMaxBuckets, sortByX } from "../src/downsample.js";
import { columnValues, parseComplex, parseRecorder, readColumns, readColumnsOfText, splitHeader, summarize, timestampParser } from "../src/recorder.js";

const RECORDER = `# file...... ieee4_load_voltages.csv
# date...... Tue Dec  1 23:53:07 2026
# target.... load 11
# interval.. 60
# timestamp,voltage_A,power,current
2020-07-01 00:00:00 EDT,+2197.75-144.929j,+240+90d,+1.5 A
2020-07-01 00:01:00 EDT,+2197.75-144.929j,+240+1.5707963r,-2.5e-1 A
`;

test("the # lines give the columns and the metadata", () => {
  const table = parseRecorder(RECORDER);
  assert.deepEqual(table.columns, ["timestamp", "voltage_A", "power", "current"]);
  assert.equal(table.meta.target, "load 11");
  assert.equal(table.meta.interval, "60");
  assert.deepEqual(table.kinds, ["time", "complex", "complex", "number"]);
  assert.equal(table.zone, "EDT");
  assert.equal(table.rows.length, 2);
});

test("rows read straight from text give the numbers rows read first give", () => {
  // A short row, an empty line and a "#" line among the rows, as a large
  // file's pieces may hold them.
  const text = RECORDER + "2020-07-01 00:02:00 EDT,+1+1j\n\n# a note\n2020-07-01 00:03:00 EDT,+3+4j,+2+0d,7\n";
  const table = parseRecorder(text);
  const { offset } = splitHeader(text);
  const streamed = readColumnsOfText(text.slice(offset), table.kinds);
  assert.equal(streamed.length, 4);
  assert.deepEqual(streamed.columns, readColumns(table.rows, table.kinds));
  assert.ok(Number.isNaN(streamed.columns[2].re[2]), "a missing cell is NaN");
  assert.equal(streamed.columns[3].re[3], 7);
});

test("complex values as magnitude, real, imaginary or angle; units dropped", () => {
  const table = parseRecorder(RECORDER);
  const magnitude = columnValues(table, 1, "magnitude");
  assert.ok(Math.abs(magnitude[0] - Math.hypot(2197.75, 144.929)) < 1e-9);
  assert.equal(columnValues(table, 1, "real")[0], 2197.75);
  assert.equal(columnValues(table, 1, "imaginary")[0], -144.929);
  assert.ok(Math.abs(columnValues(table, 1, "angle")[0] - (Math.atan2(-144.929, 2197.75) * 180) / Math.PI) < 1e-9);
  // Polar forms: 240 at 90 degrees, and at pi/2 radians.
  for (const row of [0, 1]) {
    assert.ok(Math.abs(columnValues(table, 2, "magnitude")[row] - 240) < 1e-6);
    assert.ok(Math.abs(columnValues(table, 2, "angle")[row] - 90) < 1e-4);
  }
  // Real columns stay as they are, sign included, whatever the mode.
  assert.deepEqual(Array.from(columnValues(table, 3, "magnitude")), [1.5, -0.25]);
});

test("numbers with exponents split at the right sign", () => {
  assert.deepEqual(parseComplex("-1.5e-3+2E+2j"), { re: -0.0015, im: 200, complex: true });
  assert.ok(Number.isNaN(parseComplex("OPEN").re));
});

test("timestamps: the recorder's wall clock, minute by minute", () => {
  const table = parseRecorder(RECORDER);
  const times = columnValues(table, 0);
  assert.equal(times[0], Date.UTC(2020, 6, 1) / 1000);
  assert.equal(times[1] - times[0], 60);
  assert.equal(timestampParser()("2020-07-01T01:00:00+01:00"), Date.UTC(2020, 6, 1) / 1000);
});

test("a CSV without # lines takes its header from the first row", () => {
  const table = parseRecorder("t,x\n1,2\n2,4\n");
  assert.deepEqual(table.columns, ["t", "x"]);
  assert.deepEqual(Array.from(columnValues(table, 1)), [2, 4]);
});

test("min/max buckets keep every peak of a million rows", () => {
  const n = 1_000_000;
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    xs[i] = i;
    ys[i] = Math.sin(i / 5000);
  }
  ys[123_457] = 50;
  ys[876_543] = -50;
  const [outX, outY] = minMaxBuckets(xs, [ys], 0, n, 1000);
  assert.ok(outX.length <= 2000);
  assert.equal(outX.length, outY.length);
  assert.equal(Math.max(...outY), 50);
  assert.equal(Math.min(...outY), -50);
  for (let i = 1; i < outX.length; i++) assert.ok(outX[i] >= outX[i - 1], "x stays ascending");
});

test("few rows are drawn as they are, missing values as gaps", () => {
  const [x, y] = minMaxBuckets(Float64Array.of(1, 2, 3), [Float64Array.of(5, NaN, 7)], 0, 3, 100);
  assert.deepEqual(x, [1, 2, 3]);
  assert.deepEqual(y, [5, null, 7]);
});

test("an x column out of order is sorted with its y values", () => {
  const [xs, [ys]] = sortByX(Float64Array.of(3, 1, 2), [Float64Array.of(30, 10, 20)]);
  assert.deepEqual(Array.from(xs), [1, 2, 3]);
  assert.deepEqual(Array.from(ys), [10, 20, 30]);
});

test("summaries of a column", () => {
  const values = Float64Array.of(2, NaN, 4, 3);
  assert.equal(summarize(values, "last"), 3);
  assert.equal(summarize(values, "min"), 2);
  assert.equal(summarize(values, "max"), 4);
  assert.equal(summarize(values, "mean"), 3);
});

test("the number reader agrees with Number() on the forms recorders write", () => {
  for (const text of ["0", "-0.5", "+2197.75", "1e3", "-2.5E-4", "123456789.123456", "7.", "1.7976931348623157e308", "12345678901234567890"]) {
    assert.equal(parseComplex(text).re, Number(text), text);
  }
  assert.deepEqual(parseComplex("+120.5 V"), { re: 120.5, im: 0, complex: false });
  assert.deepEqual(parseComplex("+2197.75-144.929j V"), { re: 2197.75, im: -144.929, complex: true });
  assert.deepEqual(parseComplex("+5j"), { re: 0, im: 5, complex: true });
  for (const text of ["", "abc", "1+2x", "--1", "+"]) assert.ok(Number.isNaN(parseComplex(text).re), text);
});
