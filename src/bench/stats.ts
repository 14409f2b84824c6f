/** Summary statistics of repeated timings: the median resists one slow run on a shared machine. */

export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** n, median, min and max; undefined for no values (a stage that ran only its warm-up). */
export function summarize(values: readonly number[]): Summary | undefined {
  if (values.length === 0) return undefined;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (!Number.isFinite(v)) throw new Error(`cannot summarize a non-finite value (${v})`);
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return { n: values.length, median: median(values), min, max };
}
