/**
 * Euler ancestral ("Euler a") as diffusers 0.27.2's EulerAncestralDiscreteScheduler: an Euler step
 * down to σ_down, then fresh noise of size σ_up drawn from the run's generator after every step
 * (also the last, where σ_up = 0), exactly where diffusers draws it.
 */
import type { RandomSource } from "../rng/random-source.js";
import { derivative, predictOriginal } from "./sigma-sampling.js";
import { SigmaScheduler } from "./sigma-scheduler.js";
import type { SchedulerConfig } from "./types.js";

const f32 = Math.fround;

export class EulerAncestralScheduler extends SigmaScheduler {
  constructor(config: SchedulerConfig, steps: number) {
    // diffusers 0.27.2's Euler a ignores use_karras_sigmas; only a schedule chosen for it applies
    super(config, steps, config.sigmaSchedule);
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array, rng: RandomSource): Float32Array {
    const sigma = this.sigmas[index];
    const x0 = predictOriginal(this.prediction, modelOutput, sample, sigma);
    const from2 = f32(sigma * sigma);
    const to = this.sigmas[index + 1];
    const to2 = f32(to * to);
    const sigmaUp = f32(Math.sqrt(f32(f32(to2 * f32(from2 - to2)) / from2)));
    const sigmaDown = f32(Math.sqrt(f32(to2 - f32(sigmaUp * sigmaUp))));
    const d = derivative(sample, x0, sigma);
    const dt = f32(sigmaDown - sigma);
    const noise = rng.randn([sample.length]);
    const out = new Float32Array(sample.length);
    for (let i = 0; i < out.length; i++) {
      const euler = f32(sample[i] + f32(d[i] * dt));
      out[i] = euler + f32(noise[i] * sigmaUp);
    }
    return out;
  }
}
