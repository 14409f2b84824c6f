/**
 * The variance-preserving view of a σ schedule that the multistep solvers (DPM-Solver++, UniPC)
 * work in: x_t = α_t·x0 + σ_t·ε with α_t = 1/√(σ²+1), σ_t = σ·α_t, and the half log-SNR
 * λ = log α_t − log σ_t that they step in. float32, as diffusers' 0-d torch tensors
 * (_sigma_to_alpha_sigma_t, then torch.log).
 */
import type { PredictionType } from "./types.js";

const f32 = Math.fround;

/** [α_t, σ_t] for a σ of the schedule (σ = 0 gives [1, 0]). */
export function vpAlphaSigma(sigma: number): [alpha: number, sigmaT: number] {
  const alpha = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  return [alpha, f32(sigma * alpha)];
}

/** λ = log α_t − log σ_t; +∞ at σ = 0. */
export function vpLambda(alpha: number, sigmaT: number): number {
  return f32(f32(Math.log(alpha)) - f32(Math.log(sigmaT)));
}

/** The data prediction x0 from an ε or v model output at σ: (x − σ_t·ε)/α_t or α_t·x − σ_t·v. */
export function vpDataPrediction(
  modelOutput: Float32Array,
  sample: Float32Array,
  sigma: number,
  prediction: PredictionType,
): Float32Array {
  const [alpha, sigmaT] = vpAlphaSigma(sigma);
  const x0 = new Float32Array(sample.length);
  if (prediction === "epsilon") {
    for (let i = 0; i < x0.length; i++) x0[i] = f32(sample[i] - f32(sigmaT * modelOutput[i])) / alpha;
  } else {
    for (let i = 0; i < x0.length; i++) x0[i] = f32(alpha * sample[i]) - f32(sigmaT * modelOutput[i]);
  }
  return x0;
}

/** diffusers' DPMSolverMultistepScheduler.add_noise (UniPC copies it): α_t·x0 + σ_t·noise. */
export function vpAddNoise(original: Float32Array, noise: Float32Array, sigma: number): Float32Array {
  const [alpha, sigmaT] = vpAlphaSigma(sigma);
  const out = new Float32Array(original.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(alpha * original[i]) + f32(sigmaT * noise[i]);
  return out;
}
