/**
 * Heun's method (Karras et al. 2022, Algorithm 1 without churn) as diffusers 0.27.2's
 * HeunDiscreteScheduler. Every step but the last takes two model calls, so the schedule repeats
 * each timestep after the first (2n−1 entries, order 2) and the sigmas likewise; the last step is a
 * plain Euler step to σ = 0. Whether a call is the predictor or the corrector is state (dt).
 */
import type { RandomSource } from "../rng/random-source.js";
import { eulerInitNoiseSigma, eulerSchedule } from "./noise-schedule.js";
import { spacingFor } from "./scheduler-config.js";
import { addSigmaNoise, derivative, predictOriginal, scaleBySigma } from "./sigma-sampling.js";
import { configuredSchedule } from "./sigma-schedules.js";
import type { PredictionType, Scheduler, SchedulerConfig } from "./types.js";

const f32 = Math.fround;

/** [a0, a1, a1, a2, a2, ...]: every entry after the first twice (torch repeat_interleave). */
function repeatAfterFirst(values: Float64Array, keepLast: boolean): Float64Array {
  const out: number[] = [values[0]];
  const end = keepLast ? values.length - 1 : values.length;
  for (let i = 1; i < end; i++) out.push(values[i], values[i]);
  if (keepLast && values.length > 1) out.push(values[values.length - 1]);
  return Float64Array.from(out);
}

export class HeunDiscreteScheduler implements Scheduler {
  readonly timesteps: Float64Array;
  /** float32 values: σ0, σ1, σ1, σ2, σ2, ..., 0 (length 2n). */
  readonly sigmas: Float64Array;
  readonly initNoiseSigma: number;
  readonly order = 2;
  private readonly prediction: PredictionType;
  /** Predictor state carried to the corrector call. */
  private previousDerivative: Float32Array | undefined;
  private dt: number | undefined;
  private predictorSample: Float32Array | undefined;

  constructor(config: SchedulerConfig, steps: number) {
    const spacing = spacingFor(config, "linspace");
    const schedule = eulerSchedule(config, steps, spacing, configuredSchedule(config));
    this.timesteps = repeatAfterFirst(schedule.timesteps, false);
    // sigmas[1:-1] repeated, the final 0 kept once
    this.sigmas = repeatAfterFirst(schedule.sigmas, true);
    this.initNoiseSigma = eulerInitNoiseSigma(this.sigmas, spacing);
    this.prediction = config.predictionType;
  }

  scaleModelInput(sample: Float32Array, index: number): Float32Array {
    return scaleBySigma(sample, this.sigmas[index]);
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array, _rng: RandomSource): Float32Array {
    const n = sample.length;
    const out = new Float32Array(n);
    if (this.dt === undefined) {
      // predictor: an Euler step from σ_i to σ_{i+1}
      const sigma = this.sigmas[index];
      const sigmaNext = this.sigmas[index + 1];
      const x0 = predictOriginal(this.prediction, modelOutput, sample, sigma);
      const d = derivative(sample, x0, sigma);
      const dt = f32(sigmaNext - sigma);
      this.previousDerivative = d;
      this.dt = dt;
      this.predictorSample = sample;
      for (let i = 0; i < n; i++) out[i] = sample[i] + f32(d[i] * dt);
      return out;
    }
    // corrector: average the slopes at both ends and redo the step from the predictor's start
    const sigmaNext = this.sigmas[index];
    const x0 = predictOriginal(this.prediction, modelOutput, sample, sigmaNext);
    const d = derivative(sample, x0, sigmaNext);
    const previous = this.previousDerivative ?? d;
    const start = this.predictorSample ?? sample;
    const dt = this.dt;
    for (let i = 0; i < n; i++) {
      const averaged = f32(f32(previous[i] + d[i]) / 2);
      out[i] = start[i] + f32(averaged * dt);
    }
    this.previousDerivative = undefined;
    this.dt = undefined;
    this.predictorSample = undefined;
    return out;
  }

  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    return addSigmaNoise(original, noise, this.sigmas[index]);
  }
}
