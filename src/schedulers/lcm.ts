/**
 * LCM ("LCM"), as diffusers 0.27.2's LCMScheduler: the consistency model maps x_t straight to a
 * denoised estimate, then every step but the last re-noises it to the next timestep with fresh
 * noise from the generator.
 *
 * Numerics follow torch: scalars are 0-d float32 tensors, element-wise ops round to float32.
 */
import type { RandomSource } from "../rng/random-source.js";
import { ddpmAddNoise, numpyLinspace, trainingAlphasCumprod } from "./noise-schedule.js";
import { extraNumber, familyDefault } from "./scheduler-config.js";
import type { PredictionType, Scheduler, SchedulerConfig } from "./types.js";

const f32 = Math.fround;

/** The consistency-distillation grid's σ_data (diffusers hard-codes 0.5). */
const SIGMA_DATA = 0.5;

/**
 * The LCM/TCD timesteps: the distillation grid k·(1..N) − 1 with k = T // N (N =
 * original_inference_steps, 50), reversed, sampled at floor(linspace(0, N, steps, endpoint=False))
 * (4 steps → 999, 759, 499, 259).
 */
export function consistencyTimesteps(config: SchedulerConfig, steps: number): Float64Array {
  const grid = extraNumber(config, "original_inference_steps", 50);
  if (!Number.isInteger(steps) || steps < 1 || steps > grid) {
    throw new Error(
      `steps must be an integer in 1..${grid} (the distillation schedule's length), got ${steps}`,
    );
  }
  const k = Math.floor(config.numTrainTimesteps / grid);
  // positions in the reversed grid; grid entry p (from the top) is (N − p)·k − 1
  return numpyLinspace(0, grid, steps, false).map((p) => (grid - Math.floor(p)) * k - 1);
}

export class LCMScheduler implements Scheduler {
  readonly timesteps: Float64Array;
  readonly initNoiseSigma = 1;
  readonly order = 1;
  private readonly alphasCumprod: Float32Array;
  private readonly prediction: PredictionType;
  private readonly timestepScaling: number;
  /** clip_sample (LCM's default false) clamps x0 to ±clip_sample_range. */
  private readonly clipRange: number | undefined;

  /** Options from config.extra: original_inference_steps (50), timestep_scaling (10), clip_sample. */
  constructor(config: SchedulerConfig, steps: number) {
    this.alphasCumprod = trainingAlphasCumprod(config);
    this.prediction = config.predictionType;
    this.timestepScaling = extraNumber(config, "timestep_scaling", 10);
    const clip = familyDefault(config, "clip_sample", config.clipSample, false);
    this.clipRange = clip ? extraNumber(config, "clip_sample_range", 1) : undefined;
    this.timesteps = consistencyTimesteps(config, steps);
  }

  scaleModelInput(sample: Float32Array, _index: number): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array, rng: RandomSource): Float32Array {
    const t = this.timesteps[index];
    const isLast = index === this.timesteps.length - 1;
    const alphaProdT = this.alphasCumprod[t];
    const sqrtAlpha = f32(Math.sqrt(alphaProdT));
    const sqrtBeta = f32(Math.sqrt(f32(1 - alphaProdT)));

    // boundary-condition scalings c_skip, c_out of the scaled timestep (float32 tensor maths)
    const scaled = f32(t * f32(this.timestepScaling));
    const denominator = f32(f32(scaled * scaled) + SIGMA_DATA ** 2);
    const cSkip = f32(SIGMA_DATA ** 2 / denominator);
    const cOut = f32(scaled / f32(Math.sqrt(denominator)));

    const denoised = new Float32Array(sample.length);
    for (let i = 0; i < denoised.length; i++) {
      let x0 =
        this.prediction === "epsilon"
          ? f32(f32(sample[i] - f32(sqrtBeta * modelOutput[i])) / sqrtAlpha)
          : f32(f32(sqrtAlpha * sample[i]) - f32(sqrtBeta * modelOutput[i]));
      if (this.clipRange !== undefined) x0 = Math.min(Math.max(x0, -this.clipRange), this.clipRange);
      denoised[i] = f32(cOut * x0) + f32(cSkip * sample[i]);
    }
    // the last step returns the denoised estimate and draws no noise
    if (isLast) return denoised;

    const alphaProdPrev = this.alphasCumprod[this.timesteps[index + 1]];
    const sqrtAlphaPrev = f32(Math.sqrt(alphaProdPrev));
    const sqrtBetaPrev = f32(Math.sqrt(f32(1 - alphaProdPrev)));
    const noise = rng.randn([sample.length]);
    const next = new Float32Array(sample.length);
    for (let i = 0; i < next.length; i++) {
      next[i] = f32(sqrtAlphaPrev * denoised[i]) + f32(sqrtBetaPrev * noise[i]);
    }
    return next;
  }

  /** DDPM-type: √ᾱ_t·x0 + √(1−ᾱ_t)·noise. */
  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    return ddpmAddNoise(this.alphasCumprod, original, noise, this.timesteps[index]);
  }
}
