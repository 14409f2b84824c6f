/**
 * Euler (Karras et al. 2022, Algorithm 2 without churn) as diffusers 0.27.2's
 * EulerDiscreteScheduler, optionally with Karras sigmas ("Euler Karras"), epsilon or v-prediction.
 */
import type { RandomSource } from "../rng/random-source.js";
import { derivative, predictOriginal } from "./sigma-sampling.js";
import { SigmaScheduler } from "./sigma-scheduler.js";

const f32 = Math.fround;

export class EulerDiscreteScheduler extends SigmaScheduler {
  step(modelOutput: Float32Array, index: number, sample: Float32Array, rng: RandomSource): Float32Array {
    // diffusers 0.27.2 draws the churn noise on every step even though s_churn = 0 leaves it unused;
    // drawing it keeps the generator where diffusers leaves it.
    rng.randn([sample.length]);
    const sigma = this.sigmas[index];
    const x0 = predictOriginal(this.prediction, modelOutput, sample, sigma);
    const d = derivative(sample, x0, sigma);
    const dt = f32(this.sigmas[index + 1] - sigma);
    const out = new Float32Array(sample.length);
    for (let i = 0; i < out.length; i++) out[i] = sample[i] + f32(d[i] * dt);
    return out;
  }
}
