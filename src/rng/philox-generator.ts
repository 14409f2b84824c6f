/**
 * The GPU-compatible randn AUTOMATIC1111 calls RNG source "NV" (and stable-diffusion.cpp's
 * default): element i of call n is Philox4x32-10 of counter (n, 0, i, 0) under the 64-bit seed,
 * turned into a normal by Box-Muller keeping only the sine branch. This is how torch.randn draws
 * on a CUDA device, so a seed gives (to float32 rounding) the noise an NVIDIA GPU would.
 * Box-Muller runs in float32 like the CUDA kernel and stable-diffusion.cpp, with numpy's float32
 * log/sin (the reference values were made that way); A1111's numpy code promotes to float64 and
 * differs from these by up to ~1.5e-6.
 */
import { logNumpy, sinNumpy } from "./numpy-mathfun.js";
import { philox4x32 } from "./philox4x32.js";
import type { RandomSource } from "./random-source.js";
import { type Seed, seedToUint64 } from "./seed.js";
import { shapeNumel } from "./shape.js";

const fround = Math.fround;
// curand's CURAND_2POW32_INV and CURAND_2POW32_INV_2PI, as float32
const TWO_POW_32_INV = fround(2.3283064e-10);
const TWO_POW_32_INV_2PI = fround(2.3283064e-10 * 6.2831855);
const HALF_BIN = fround(TWO_POW_32_INV / 2);
const HALF_BIN_2PI = fround(TWO_POW_32_INV_2PI / 2);
/** counter word 2 holds the element index, so one call yields at most 2^32 values. */
const MAX_NUMEL = 2 ** 32;

export class PhiloxGenerator implements RandomSource {
  private readonly keyLow: number;
  private readonly keyHigh: number;
  /** Counter word 0: one per randn call. */
  private offset = 0;

  constructor(seed: Seed) {
    const key = seedToUint64(seed);
    this.keyLow = Number(key & 0xffffffffn);
    this.keyHigh = Number(key >> 32n);
  }

  randn(shape: readonly number[]): Float32Array {
    const numel = shapeNumel(shape);
    if (numel > MAX_NUMEL) {
      throw new RangeError(`Philox randn draws at most 2^32 values per call, asked for ${numel}`);
    }
    const out = new Float32Array(numel);
    const block = new Uint32Array(4);
    const offset = this.offset;
    this.offset = (this.offset + 1) >>> 0;
    for (let i = 0; i < numel; i++) {
      philox4x32(offset, 0, i, 0, this.keyLow, this.keyHigh, block);
      out[i] = boxMullerSine(block[0], block[1]);
    }
    return out;
  }
}

/** Two uint32s to one normal in float32: uniforms centred in their 2^-32 bins, sine branch only. */
function boxMullerSine(x: number, y: number): number {
  // the uint32 -> float32 conversion rounds away the low bits, as (float)x does
  const u = fround(fround(fround(x) * TWO_POW_32_INV) + HALF_BIN);
  const v = fround(fround(fround(y) * TWO_POW_32_INV_2PI) + HALF_BIN_2PI);
  const radius = fround(Math.sqrt(-2 * logNumpy(u))); // -2·x is exact in float32
  return fround(radius * sinNumpy(v));
}
