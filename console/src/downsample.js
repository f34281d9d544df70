// Min/max per pixel bucket: each bucket of a series keeps its lowest and its
// highest point, so no peak is lost however many rows the file has. (The
// LTTB package on npm took 0.8 s per million points and does not keep every
// peak; see ADR 0023.) xs must be ascending.

// The index of the first x >= value.
export function lowerBound(xs, value) {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// [xs', ys1', ys2', ...] of rows from..to (exclusive) in at most 2*buckets
// points, aligned for uPlot; a bucket with no value in a series gives null.
export function minMaxBuckets(xs, series, from, to, buckets) {
  const n = to - from;
  if (n <= 2 * buckets) {
    return [Array.from(xs.subarray(from, to)), ...series.map((ys) => Array.from(ys.subarray(from, to), (v) => (Number.isFinite(v) ? v : null)))];
  }
  const outX = [];
  const outs = series.map(() => []);
  const size = n / buckets;
  for (let b = 0; b < buckets; b++) {
    const start = from + Math.floor(b * size);
    const end = Math.min(to, from + Math.floor((b + 1) * size));
    if (end <= start) continue;
    outX.push(xs[start], xs[end - 1]);
    for (let s = 0; s < series.length; s++) {
      const ys = series[s];
      let min = Infinity;
      let max = -Infinity;
      let minAt = -1;
      let maxAt = -1;
      for (let i = start; i < end; i++) {
        const v = ys[i];
        if (v < min) {
          min = v;
          minAt = i;
        }
        if (v > max) {
          max = v;
          maxAt = i;
        }
      }
      if (minAt < 0) outs[s].push(null, null);
      else if (minAt <= maxAt) outs[s].push(min, max);
      else outs[s].push(max, min);
    }
  }
  return [outX, ...outs];
}

// Rows sorted by x (for an x column that is not ascending), NaN x dropped.
export function sortByX(xs, series) {
  let ascending = true;
  for (let i = 1; i < xs.length; i++) {
    if (!(xs[i] >= xs[i - 1])) {
      ascending = false;
      break;
    }
  }
  if (ascending) return [xs, series];
  const order = Array.from(xs.keys()).filter((i) => Number.isFinite(xs[i]));
  order.sort((a, b) => xs[a] - xs[b]);
  const pick = (values) => Float64Array.from(order, (i) => values[i]);
  return [pick(xs), series.map(pick)];
}
