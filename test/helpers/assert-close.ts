/** One numeric assertion: says what was compared, the max difference and where it is. */
import assert from "node:assert/strict";

type Numeric = ArrayLike<number>;

export interface Difference {
  maxAbs: number;
  index: number;
  actual: number;
  expected: number;
}

export function maxDifference(actual: Numeric, expected: Numeric): Difference {
  let worst: Difference = { maxAbs: 0, index: -1, actual: 0, expected: 0 };
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    // NaN anywhere is a failure, never a silent pass
    if (Number.isNaN(d) || d > worst.maxAbs) {
      worst = {
        maxAbs: Number.isNaN(d) ? Number.POSITIVE_INFINITY : d,
        index: i,
        actual: actual[i],
        expected: expected[i],
      };
    }
  }
  return worst;
}

export function assertClose(
  actual: Numeric,
  expected: Numeric,
  tolerance: number,
  label: string,
): Difference {
  assert.equal(
    actual.length,
    expected.length,
    `${label}: length ${actual.length} != expected ${expected.length}`,
  );
  const diff = maxDifference(actual, expected);
  assert.ok(
    diff.maxAbs <= tolerance,
    `${label}: max |diff| ${diff.maxAbs.toExponential(3)} > ${tolerance} at index ${diff.index} (got ${diff.actual}, expected ${diff.expected})`,
  );
  return diff;
}

export function maxAbs(values: Numeric): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return m;
}
