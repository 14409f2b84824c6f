/**
 * Pieces shared by the σ-parameterised (k-diffusion style) samplers of the Euler family: Euler,
 * Euler a, Heun, LMS. x_σ = x0 + σ·ε; the model sees x/√(σ²+1). All float32 like torch.
 */
import { eulerInputScale } from "./noise-schedule.js";
import type { PredictionType } from "./types.js";

const f32 = Math.fround;

/** scale_model_input: x / √(σ² + 1). */
export function scaleBySigma(sample: Float32Array, sigma: number): Float32Array {
  const divisor = eulerInputScale(sigma);
  return sample.map((x) => x / divisor);
}

/** add_noise for σ-samplers: x0 + σ·noise. */
export function addSigmaNoise(original: Float32Array, noise: Float32Array, sigma: number): Float32Array {
  const s = f32(sigma);
  const out = new Float32Array(original.length);
  for (let i = 0; i < out.length; i++) out[i] = original[i] + f32(noise[i] * s);
  return out;
}

/**
 * The denoised estimate x0 from the model output at noise level σ:
 * epsilon: x − σ·ε; v-prediction: v·(−σ/√(σ²+1)) + x/(σ²+1).
 */
export function predictOriginal(
  prediction: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  sigma: number,
): Float32Array {
  const n = sample.length;
  const out = new Float32Array(n);
  if (prediction === "epsilon") {
    for (let i = 0; i < n; i++) out[i] = sample[i] - f32(sigma * modelOutput[i]);
    return out;
  }
  const sigmaSqPlusOne = f32(f32(sigma * sigma) + 1);
  const outputScale = f32(-sigma / f32(Math.sqrt(sigmaSqPlusOne)));
  for (let i = 0; i < n; i++) {
    out[i] = f32(modelOutput[i] * outputScale) + f32(sample[i] / sigmaSqPlusOne);
  }
  return out;
}

/** The ODE derivative d = (x − x0)/σ. */
export function derivative(sample: Float32Array, original: Float32Array, sigma: number): Float32Array {
  const out = new Float32Array(sample.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(sample[i] - original[i]) / sigma;
  return out;
}
