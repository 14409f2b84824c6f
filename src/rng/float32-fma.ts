/**
 * Fused multiply-add on float32 values, rounded once as the hardware FMA instruction does.
 * Doubles hold a float32 product exactly, but `fround(a * b + c)` rounds twice (to double, then
 * to float32); that is only wrong when the double sum lands exactly halfway between two floats,
 * so that case is resolved with the exact remainder of the sum.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float32 next to `r` (a finite, nonzero-or-zero float32) in the direction `up`. */
function adjacentFloat32(r: number, up: boolean): number {
  if (r === 0) return up ? 2 ** -149 : -(2 ** -149);
  f32[0] = r;
  // for positive floats the next larger magnitude is bits + 1; mirrored for negative ones
  u32[0] += r > 0 === up ? 1 : -1;
  return f32[0];
}

/** round_to_float32(a * b + c) with a single rounding; a, b and c must be float32 values. */
export function fmaF32(a: number, b: number, c: number): number {
  const product = a * b; // exact: 24 + 24 significant bits fit in a double
  const sum = product + c;
  const rounded = Math.fround(sum);
  if (rounded === sum || !Number.isFinite(sum)) return rounded;
  // TwoSum: the exact part of product + c that the double sum lost
  const cPart = sum - product;
  const lost = product - (sum - cPart) + (c - cPart);
  if (lost === 0) return rounded;
  const other = adjacentFloat32(rounded, sum > rounded);
  if (sum !== (rounded + other) / 2) return rounded;
  // a tie in double precision that is not a tie in exact arithmetic: the lost part decides
  return lost > 0 === other > rounded ? other : rounded;
}
