/**
 * Percentiles, the three ways the benchmarks take them. Each benchmark keeps its own definition so that
 * its numbers stay comparable with the ones it wrote before.
 */

/**
 * Nearest rank on values sorted ascending: the value at index floor(q * n), q in [0, 1]. NaN without
 * values. The way `npm run bench`, bench:settlement and bench:matching have always reported.
 */
export function nearestRank(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** `nearestRank` of unsorted values (copied, then sorted ascending). */
export function nearestRankOf(values: readonly number[], q: number): number {
  return nearestRank(
    [...values].sort((a, b) => a - b),
    q,
  );
}

/**
 * Percentile of values sorted ascending, k6's way: linear interpolation between the closest ranks;
 * `pct` in 0-100, 0 without values (the Node load generator, load/scenarios/metrics.ts).
 */
export function interpolated(sorted: readonly number[], pct: number): number {
  if (sorted.length === 0) return 0;
  const i = (pct / 100) * (sorted.length - 1);
  const lo = sorted[Math.floor(i)] ?? 0;
  const hi = sorted[Math.ceil(i)] ?? lo;
  return lo + (hi - lo) * (i - Math.floor(i));
}

/**
 * Percentile of a histogram with one bucket per unit (`hist[v]` samples of value v, `total` of them in
 * all): the smallest v with at least ceil(q * total) samples at or below it; NaN without samples, the
 * last bucket when the counts fall short (bench:feed's 1 ms latency buckets).
 */
export function histogramRank(hist: ArrayLike<number>, total: number, q: number): number {
  if (total === 0) return NaN;
  const rank = Math.ceil(total * q);
  let seen = 0;
  for (let v = 0; v < hist.length; v++) {
    seen += hist[v] ?? 0;
    if (seen >= rank) return v;
  }
  return hist.length - 1;
}
