/**
 * The merge arithmetic on plain typed arrays: W' = W + Σ factor_i · (up_i @ down_i), where
 * factor_i = weight_i · scale_i and conv kernels are viewed as [out, in·kh·kw]. The low-rank
 * products are accumulated in float64 per output row and added to W once, then rounded to float32.
 */

export interface LoraContribution {
  /** [out, rank] row-major (a [out, rank, 1, 1] kernel has the same layout). */
  readonly up: Float32Array;
  /** [rank, fanIn] row-major. */
  readonly down: Float32Array;
  readonly rank: number;
  /** weight · alpha / rank for this LoRA and module. */
  readonly factor: number;
}

/**
 * Returns a new array; `base` ([out, fanIn] flattened) is left untouched. `dense` deltas (LyCORIS
 * modules, DoRA; already multiplied by their weights) are added in the same float64 sum.
 */
export function applyLoraDeltas(
  base: Float32Array,
  out: number,
  contributions: readonly LoraContribution[],
  dense: readonly Float64Array[] = [],
): Float32Array {
  const fanIn = base.length / out;
  const merged = new Float32Array(base.length);
  const row = new Float64Array(fanIn);
  for (let o = 0; o < out; o++) {
    row.fill(0);
    for (const { up, down, rank, factor } of contributions) {
      for (let k = 0; k < rank; k++) {
        const u = factor * up[o * rank + k];
        if (u === 0) continue;
        const d = k * fanIn;
        for (let j = 0; j < fanIn; j++) row[j] += u * down[d + j];
      }
    }
    const w = o * fanIn;
    for (const d of dense) for (let j = 0; j < fanIn; j++) row[j] += d[w + j];
    for (let j = 0; j < fanIn; j++) merged[w + j] = base[w + j] + row[j];
  }
  return merged;
}
