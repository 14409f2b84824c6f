/**
 * Linear multistep (order 4) as diffusers 0.27.2's LMSDiscreteScheduler: x_{i+1} = x_i +
 * Σ_j c_j·d_{i−j}, where c_j integrates the Lagrange basis polynomial through the last sigmas over
 * [σ_i, σ_{i+1}]. diffusers integrates with scipy.integrate.quad; the integrand is a polynomial of
 * degree ≤ 3, which 8-point Gauss–Legendre integrates exactly (to rounding, ~1e-16).
 */
import type { RandomSource } from "../rng/random-source.js";
import { derivative, predictOriginal } from "./sigma-sampling.js";
import { SigmaScheduler } from "./sigma-scheduler.js";

const f32 = Math.fround;
const LMS_ORDER = 4;

// 8-point Gauss–Legendre nodes and weights on [-1, 1] (exact for polynomials of degree <= 15)
const GL_NODES = [
  -0.9602898564975363, -0.7966664774136267, -0.525532409916329, -0.1834346424956498, 0.1834346424956498,
  0.525532409916329, 0.7966664774136267, 0.9602898564975363,
];
const GL_WEIGHTS = [
  0.1012285362903763, 0.2223810344533745, 0.3137066458778873, 0.362683783378362, 0.362683783378362,
  0.3137066458778873, 0.2223810344533745, 0.1012285362903763,
];

/** ∫_a^b f(τ) dτ by 8-point Gauss–Legendre. */
export function gaussLegendre(f: (tau: number) => number, a: number, b: number): number {
  const half = (b - a) / 2;
  const mid = (a + b) / 2;
  let sum = 0;
  for (let k = 0; k < GL_NODES.length; k++) sum += GL_WEIGHTS[k] * f(mid + half * GL_NODES[k]);
  return sum * half;
}

/**
 * The LMS coefficient for the derivative `current` steps back: ∫ over [σ_i, σ_{i+1}] of the
 * Lagrange basis polynomial through σ_i, σ_{i−1}, …, σ_{i−order+1} that is 1 at σ_{i−current}.
 */
export function lmsCoefficient(sigmas: ArrayLike<number>, order: number, i: number, current: number): number {
  const basis = (tau: number): number => {
    let product = 1;
    for (let k = 0; k < order; k++) {
      if (k === current) continue;
      product *= (tau - sigmas[i - k]) / (sigmas[i - current] - sigmas[i - k]);
    }
    return product;
  };
  return gaussLegendre(basis, sigmas[i], sigmas[i + 1]);
}

export class LmsDiscreteScheduler extends SigmaScheduler {
  /** The last LMS_ORDER derivatives, oldest first. */
  private readonly derivatives: Float32Array[] = [];

  step(modelOutput: Float32Array, index: number, sample: Float32Array, _rng: RandomSource): Float32Array {
    const sigma = this.sigmas[index];
    const x0 = predictOriginal(this.prediction, modelOutput, sample, sigma);
    this.derivatives.push(derivative(sample, x0, sigma));
    if (this.derivatives.length > LMS_ORDER) this.derivatives.shift();
    // diffusers bounds the order by the step index (not the history), then zips with the history
    const order = Math.min(index + 1, LMS_ORDER);
    const terms = Math.min(order, this.derivatives.length);
    const n = sample.length;
    const sum = new Float32Array(n);
    for (let j = 0; j < terms; j++) {
      const coefficient = f32(lmsCoefficient(this.sigmas, order, index, j));
      const d = this.derivatives[this.derivatives.length - 1 - j];
      for (let i = 0; i < n; i++) sum[i] = sum[i] + f32(coefficient * d[i]);
    }
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = sample[i] + sum[i];
    return out;
  }
}
