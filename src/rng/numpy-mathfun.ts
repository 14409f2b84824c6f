/**
 * float32 log and sin exactly as numpy's AVX2/FMA3 SIMD loops compute them
 * (`loops_exponent_log.dispatch.c.src`, `loops_trigonometric.dispatch.c.src`). The Philox "NV"
 * reference values are float32 Box-Muller evaluated with these kernels, so using them (rather
 * than libm) makes the Philox source bit-exact.
 */
import { fmaF32 } from "./float32-fma.js";

const fround = Math.fround;
const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

/** C's hex-float literal 0x1.MMMMMMp{exponent} as a number. */
function hexFloat(mantissaWithLeadingOne: number, exponent: number): number {
  return fround(mantissaWithLeadingOne * 2 ** (exponent - 24));
}

// log(1 + x) ≈ P(x) / Q(x) on [sqrt(1/2) - 1, sqrt(2) - 1], Remez minimax (numpy npy_math.h)
const LOG_P = [
  0, 0.9999999999999999, 2.112677543073053, 1.4800006335765066, 0.3808837741388408, 0.025899791179079226,
].map(fround);
const LOG_Q = [
  1, 2.6126775430731093, 2.453006071784736, 0.9864942958519419, 0.15464763749839067, 0.005875095403124574,
].map(fround);
const SQRT_HALF = fround(Math.SQRT1_2);
const LN2 = fround(Math.LN2);
const MIN_NORMAL = 2 ** -126;

/** Natural log of a float32, bit-exact with numpy's float32 SIMD log for positive normal inputs. */
export function logNumpy(x: number): number {
  // zero, negatives, denormals, inf and NaN are rare special paths in numpy; libm agrees there
  if (!(x >= MIN_NORMAL && x < Number.POSITIVE_INFINITY)) return fround(Math.log(x));
  f32[0] = x;
  const bits = i32[0];
  let exponent = (bits >>> 23) - 0x7e;
  i32[0] = (bits & 0x7fffff) | (126 << 23); // mantissa in [0.5, 1)
  let m = f32[0];
  if (m <= SQRT_HALF) {
    m = fround(m + m);
    exponent -= 1;
  }
  m = fround(m - 1);
  let num = fmaF32(LOG_P[5], m, LOG_P[4]);
  let den = fmaF32(LOG_Q[5], m, LOG_Q[4]);
  for (let k = 3; k >= 0; k--) {
    num = fmaF32(num, m, LOG_P[k]);
    den = fmaF32(den, m, LOG_Q[k]);
  }
  return fmaF32(exponent, LN2, fround(num / den));
}

const TWO_OVER_PI = hexFloat(0x145f306, -1);
const PIO2_HIGH = -hexFloat(0x1921fb0, 0);
const PIO2_MED = -hexFloat(0x15110b4, -22);
const PIO2_LOW = -hexFloat(0x1846988, -48);
const RINT_MAGIC = hexFloat(0x1800000, 23);
const COS_C8 = hexFloat(0x198e616, -16);
const COS_C6 = -hexFloat(0x16c06dc, -10);
const COS_C4 = hexFloat(0x155553c, -5);
const SIN_C9 = hexFloat(0x17d3bbc, -19);
const SIN_C7 = -hexFloat(0x1a06bba, -13);
const SIN_C5 = hexFloat(0x111119a, -7);
const SIN_C3 = -hexFloat(0x1555556, -3);
/** Beyond this numpy leaves Cody-Waite reduction for libm. */
const MAX_REDUCIBLE = fround(117435.992);

/** sin of a float32, bit-exact with numpy's float32 SIMD sin for |x| <= 117435.992. */
export function sinNumpy(x: number): number {
  if (!(Math.abs(x) <= MAX_REDUCIBLE)) return fround(Math.sin(x));
  // quadrant = rint(x · 2/π) via the add-and-subtract-1.5·2^23 trick
  const quadrant = fround(fround(fround(x * TWO_OVER_PI) + RINT_MAGIC) - RINT_MAGIC);
  let r = fmaF32(quadrant, PIO2_HIGH, x);
  r = fmaF32(quadrant, PIO2_MED, r);
  r = fmaF32(quadrant, PIO2_LOW, r);
  const r2 = fround(r * r);
  let value: number;
  if ((quadrant & 1) === 0) {
    let s = fmaF32(SIN_C9, r2, SIN_C7);
    s = fmaF32(s, r2, SIN_C5);
    s = fmaF32(s, r2, SIN_C3);
    s = fround(s * r2);
    value = fmaF32(s, r, r);
  } else {
    let c = fmaF32(COS_C8, r2, COS_C6);
    c = fmaF32(c, r2, COS_C4);
    c = fmaF32(c, r2, -0.5);
    value = fmaF32(c, r2, 1);
  }
  return quadrant & 2 ? -value : value;
}
