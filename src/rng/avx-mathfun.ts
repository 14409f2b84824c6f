/**
 * float32 log and sincos exactly as torch's `aten/src/ATen/native/cpu/avx_mathfun.h` computes
 * them (Cephes polynomials, the AVX port of Julien Pommier's sse_mathfun). torch's AVX2
 * `normal_fill` uses these, and GCC contracts its separate multiply and add intrinsics into FMA
 * instructions; reproducing both makes torch CPU randn bit-exact instead of 1 ulp off.
 */
import { fmaF32 } from "./float32-fma.js";

const fround = Math.fround;
const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

const SQRT_HALF = fround(Math.SQRT1_2);
const LOG_P = [
  7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
  2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(fround);
const LOG_Q1 = fround(-2.1219444e-4);
const LOG_Q2 = fround(0.693359375);
const MIN_NORMAL = 2 ** -126;

/** Natural log of a float32 (NaN for x <= 0), bit-exact with torch's log256_ps. */
export function logAvx(x: number): number {
  if (!(x > 0)) return Number.NaN;
  f32[0] = Math.max(x, MIN_NORMAL); // denormals are cut off, as the original does
  const bits = i32[0];
  // mantissa into [0.5, 1), exponent into e
  i32[0] = (bits & ~0x7f800000) | 0x3f000000;
  let m = f32[0];
  let e = (bits >>> 23) - 0x7f + 1;
  const small = m < SQRT_HALF;
  const tmp = small ? m : 0;
  m = fround(m - 1);
  if (small) e -= 1;
  m = fround(m + tmp);
  const z = fround(m * m);
  let y = LOG_P[0];
  for (let k = 1; k < LOG_P.length; k++) y = fmaF32(y, m, LOG_P[k]);
  y = fround(y * m);
  y = fmaF32(y, z, fround(e * LOG_Q1));
  y = fround(y - fround(z * 0.5));
  // e * LOG_Q2 is exact (small integer times an 8-bit constant)
  return fround(fround(m + y) + e * LOG_Q2);
}

const FOUR_OVER_PI = fround(1.27323954473516);
const MINUS_DP1 = fround(-0.78515625);
const MINUS_DP2 = fround(-2.4187564849853516e-4);
const MINUS_DP3 = fround(-3.774894977445941e-8);
const SIN_P0 = fround(-1.9515295891e-4);
const SIN_P1 = fround(8.3321608736e-3);
const SIN_P2 = fround(-1.6666654611e-1);
const COS_P0 = fround(2.443315711809948e-5);
const COS_P1 = fround(-1.388731625493765e-3);
const COS_P2 = fround(4.166664568298827e-2);

/** Writes [sin x, cos x] of a float32 into `out`, bit-exact with torch's sincos256_ps (|x| < 8192). */
export function sincosAvx(x: number, out: Float32Array | number[]): void {
  let sinNegative = x < 0;
  let r = Math.abs(x);
  // octant j, rounded up to even, as an int32 like _mm256_cvttps_epi32
  const j = ((Math.trunc(fround(r * FOUR_OVER_PI)) | 0) + 1) & ~1;
  const y = j; // small integers are exact float32 values
  if (j & 4) sinNegative = !sinNegative;
  const cosNegative = (~(j - 2) & 4) !== 0;
  const sinPolynomialIsSin = (j & 2) === 0;
  // extended-precision range reduction: r - j·π/4 in three parts
  r = fmaF32(y, MINUS_DP1, r);
  r = fmaF32(y, MINUS_DP2, r);
  r = fmaF32(y, MINUS_DP3, r);
  const z = fround(r * r);

  let cosPoly = fmaF32(COS_P0, z, COS_P1);
  cosPoly = fmaF32(cosPoly, z, COS_P2);
  cosPoly = fround(cosPoly * z);
  cosPoly = fmaF32(cosPoly, z, -fround(z * 0.5));
  cosPoly = fround(cosPoly + 1);

  let sinPoly = fmaF32(SIN_P0, z, SIN_P1);
  sinPoly = fmaF32(sinPoly, z, SIN_P2);
  sinPoly = fround(sinPoly * z);
  sinPoly = fmaF32(sinPoly, r, r);

  const s = sinPolynomialIsSin ? sinPoly : cosPoly;
  const c = sinPolynomialIsSin ? cosPoly : sinPoly;
  out[0] = sinNegative ? -s : s;
  out[1] = cosNegative ? -c : c;
}
