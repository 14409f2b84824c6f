/**
 * What the single-call σ-samplers (Euler, Euler a, LMS) share, as diffusers' Euler-family classes
 * do: the sigma schedule with its timesteps, inputs scaled by 1/√(σ²+1), and x0 + σ·noise for
 * img2img. Each subclass adds its own step.
 */
import type { RandomSource } from "../rng/random-source.js";
import { eulerInitNoiseSigma, eulerSchedule } from "./noise-schedule.js";
import { spacingFor } from "./scheduler-config.js";
import { addSigmaNoise, scaleBySigma } from "./sigma-sampling.js";
import { configuredSchedule } from "./sigma-schedules.js";
import type { PredictionType, Scheduler, SchedulerConfig, SigmaSchedule } from "./types.js";

export abstract class SigmaScheduler implements Scheduler {
  readonly timesteps: Float64Array;
  /** float32 values, the final 0 appended. */
  readonly sigmas: Float64Array;
  readonly initNoiseSigma: number;
  readonly order = 1;
  protected readonly prediction: PredictionType;

  constructor(
    config: SchedulerConfig,
    steps: number,
    sigmaSchedule: SigmaSchedule | undefined = configuredSchedule(config),
  ) {
    const spacing = spacingFor(config, "linspace");
    const schedule = eulerSchedule(config, steps, spacing, sigmaSchedule);
    this.timesteps = schedule.timesteps;
    this.sigmas = schedule.sigmas;
    this.initNoiseSigma = eulerInitNoiseSigma(this.sigmas, spacing);
    this.prediction = config.predictionType;
  }

  scaleModelInput(sample: Float32Array, index: number): Float32Array {
    return scaleBySigma(sample, this.sigmas[index]);
  }

  abstract step(
    modelOutput: Float32Array,
    index: number,
    sample: Float32Array,
    rng: RandomSource,
  ): Float32Array;

  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    return addSigmaNoise(original, noise, this.sigmas[index]);
  }
}
