/**
 * The numpy 1.24 behaviours diffusers' schedule code relies on, reproduced number for number:
 * timesteps must match bit for bit, so "roughly linspace" is not good enough.
 */
import { fmaF32 } from "../rng/float32-fma.js";

const f32 = Math.fround;

/** numpy's round / rint: halves go to the even neighbour (812.5 -> 812), unlike Math.round. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor; // exact for doubles
  if (fraction < 0.5) return floor;
  if (fraction > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** np.linspace(start, stop, num, endpoint) in float64: i*step + start, the last value forced to stop. */
export function numpyLinspace(start: number, stop: number, num: number, endpoint = true): Float64Array {
  const div = endpoint ? num - 1 : num;
  const delta = stop - start;
  const out = new Float64Array(num);
  const step = delta / div;
  for (let i = 0; i < num; i++) {
    if (div <= 0) out[i] = i * delta + start;
    else if (step === 0) out[i] = (i / div) * delta + start;
    else out[i] = i * step + start;
  }
  if (endpoint && num > 1) out[num - 1] = stop;
  return out;
}

/**
 * np.arange(start, stop, step) for floats: the length is ceil((stop - start) / step) and values are
 * start + i*(second - start) with second = start + step, exactly as numpy's fill does it.
 */
export function numpyArange(start: number, stop: number, step: number): Float64Array {
  const length = Math.max(0, Math.ceil((stop - start) / step));
  const out = new Float64Array(length);
  if (length === 0) return out;
  out[0] = start;
  if (length > 1) out[1] = start + step;
  const delta = out[1] - start;
  for (let i = 2; i < length; i++) out[i] = start + i * delta;
  return out;
}

/**
 * np.interp(x, arange(len(fp)), fp): float64 linear interpolation on unit-spaced knots, with
 * numpy's exact-hit and end-point rules (values outside the range clamp to the ends).
 */
export function interpUnitKnots(x: ArrayLike<number>, fp: ArrayLike<number>): Float64Array {
  const n = fp.length;
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const xv = x[i];
    if (Number.isNaN(xv)) {
      out[i] = xv;
    } else if (xv < 0) {
      out[i] = fp[0];
    } else if (xv >= n - 1) {
      out[i] = fp[n - 1];
    } else {
      const j = Math.floor(xv);
      if (j === xv) {
        out[i] = fp[j];
      } else {
        const slope = (fp[j + 1] - fp[j]) / 1; // dx[j+1] - dx[j] = 1
        out[i] = slope * (xv - j) + fp[j];
      }
    }
  }
  return out;
}

// numpy's SIMD float32 log (loops_exponent_log.dispatch.c.src, AVX2/FMA3 and AVX512F): a P5/Q5
// rational approximation on the mantissa, up to ~3.8 ulp away from the true log. diffusers inverts
// Karras sigmas through np.log of a float32 table, so fractional timesteps depend on these ulps.
const fromBits = (bits: number): number => new Float32Array(new Uint32Array([bits]).buffer)[0];
/** NPY_COEFF_P*_LOGf / NPY_COEFF_Q*_LOGf of npy_simd_data.h as float32 bit patterns. */
const LOG_P = [0x00000000, 0x3f800000, 0x4007361c, 0x3fbd70a9, 0x3ec30333, 0x3cd42bcd].map(fromBits);
const LOG_Q = [0x3f800000, 0x4027361c, 0x401cfe0d, 0x3f7c8ae4, 0x3e1e5bf3, 0x3bc083df].map(fromBits);
const LOG_E2 = f32(Math.LN2);
const SQRT1_2 = f32(Math.SQRT1_2);
const FLT_MIN = 2 ** -126;

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** np.log on one float32 value as numpy's vectorised float32 loop computes it. */
export function numpyLogFloat32(value: number): number {
  const x = f32(value);
  if (Number.isNaN(x)) return Number.NaN;
  if (x < 0) return Number.NaN;
  if (x === 0) return Number.NEGATIVE_INFINITY;
  if (x === Number.POSITIVE_INFINITY) return x;
  // exponent and mantissa in [0.5, 1); denormals are pre-scaled by 2^100
  const denormal = x < FLT_MIN;
  scratch[0] = denormal ? x * 2 ** 100 : x;
  const bits = scratchBits[0];
  let exponent = (bits >>> 23) - 126 - (denormal ? 100 : 0);
  scratchBits[0] = (bits & 0x7fffff) | (126 << 23);
  let m = scratch[0];
  if (m <= SQRT1_2) {
    m = f32(m + m);
    exponent -= 1;
  }
  m = f32(m - 1);
  let num = fmaF32(LOG_P[5], m, LOG_P[4]);
  num = fmaF32(num, m, LOG_P[3]);
  num = fmaF32(num, m, LOG_P[2]);
  num = fmaF32(num, m, LOG_P[1]);
  num = fmaF32(num, m, LOG_P[0]);
  let den = fmaF32(LOG_Q[5], m, LOG_Q[4]);
  den = fmaF32(den, m, LOG_Q[3]);
  den = fmaF32(den, m, LOG_Q[2]);
  den = fmaF32(den, m, LOG_Q[1]);
  den = fmaF32(den, m, LOG_Q[0]);
  return fmaF32(exponent, LOG_E2, f32(num / den));
}
