/**
 * `torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed))`, float32, bit for bit
 * (fixtures README 4.2). torch picks one of two algorithms by element count:
 *  - numel < 16: per element, float64 Box-Muller whose second (sine) value is cached in the
 *    generator and survives across calls;
 *  - numel >= 16: float32 Box-Muller over blocks of 16 uniforms, redoing the last 16 outputs with
 *    fresh uniforms when numel is not a multiple of 16. This path ignores the cache.
 * The float path follows torch's AVX2 kernel (every x86-64 machine of the last decade); torch
 * builds without AVX2 use libm's sinf/cosf/logf there and can differ from it by an ulp.
 */
import { logAvx, sincosAvx } from "./avx-mathfun.js";
import { MersenneTwister19937 } from "./mersenne-twister.js";
import type { RandomSource } from "./random-source.js";
import { type Seed, seedToUint64 } from "./seed.js";
import { shapeNumel } from "./shape.js";

const fround = Math.fround;
const TWO_POW_MINUS_24 = 2 ** -24;
const TWO_POW_MINUS_53 = 2 ** -53;
const TWO_POW_32 = 2 ** 32;
/** float32(2π), the constant torch's vectorised (AVX2) normal_fill multiplies by. */
const TWO_PI_F32 = fround(2 * Math.PI);
/** Below this many elements torch uses the scalar float64 path. */
const VECTOR_PATH_MIN_NUMEL = 16;

export class TorchCpuGenerator implements RandomSource {
  private readonly mt: MersenneTwister19937;
  /** torch's `next_double_normal_sample`: the sine half of the last float64 Box-Muller pair. */
  private cachedNormal: number | undefined;

  constructor(seed: Seed) {
    // manual_seed keeps the full uint64 but init_genrand only sees its low 32 bits
    this.mt = new MersenneTwister19937(Number(seedToUint64(seed) & 0xffffffffn));
  }

  randn(shape: readonly number[]): Float32Array {
    const numel = shapeNumel(shape);
    const out = new Float32Array(numel);
    if (numel < VECTOR_PATH_MIN_NUMEL) {
      for (let i = 0; i < numel; i++) out[i] = this.nextDoubleNormal();
    } else {
      this.fillFloatNormals(out);
    }
    return out;
  }

  /** at::normal_distribution<double>: returns r·cos θ, caches r·sin θ. */
  private nextDoubleNormal(): number {
    if (this.cachedNormal !== undefined) {
      const cached = this.cachedNormal;
      this.cachedNormal = undefined;
      return cached;
    }
    const u1 = this.nextDoubleUniform();
    const u2 = this.nextDoubleUniform();
    const r = Math.sqrt(-2 * Math.log(1 - u2));
    const theta = 2 * Math.PI * u1;
    this.cachedNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** uniform_real_distribution<double>: the low 53 bits of random64() = (first << 32) | second. */
  private nextDoubleUniform(): number {
    const hi = this.mt.nextUint32() & 0x1fffff;
    const lo = this.mt.nextUint32();
    return (hi * TWO_POW_32 + lo) * TWO_POW_MINUS_53;
  }

  /** normal_fill: uniforms for every element first, then Box-Muller per block of 16. */
  private fillFloatNormals(out: Float32Array): void {
    const numel = out.length;
    for (let i = 0; i < numel; i++) out[i] = this.nextFloatUniform();
    for (let i = 0; i + 16 <= numel; i += 16) boxMuller16(out, i);
    if (numel % 16 !== 0) {
      const start = numel - 16;
      for (let i = start; i < numel; i++) out[i] = this.nextFloatUniform();
      boxMuller16(out, start);
    }
  }

  /** uniform_real_distribution<float>: 24 random bits scaled to [0, 1). */
  private nextFloatUniform(): number {
    return (this.mt.nextUint32() & 0xffffff) * TWO_POW_MINUS_24;
  }
}

const sinCos = new Float32Array(2);

/**
 * normal_fill_16_AVX2 in float32: uniforms in data[i..i+16) become 8 cosine and 8 sine normals.
 * torch's float log/sin/cos are avx_mathfun's, not libm's, hence logAvx/sincosAvx.
 */
function boxMuller16(data: Float32Array, i: number): void {
  for (let j = i; j < i + 8; j++) {
    const a = fround(1 - data[j]); // [0, 1) -> (0, 1] so the log is finite
    const radius = fround(Math.sqrt(-2 * logAvx(a))); // -2·x is exact in float32
    sincosAvx(fround(TWO_PI_F32 * data[j + 8]), sinCos);
    data[j] = fround(radius * sinCos[1]);
    data[j + 8] = fround(radius * sinCos[0]);
  }
}
