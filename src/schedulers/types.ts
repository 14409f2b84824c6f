/**
 * Changes since the scaffold (all additive, for the part-2 samplers):
 *  - SchedulerConfig.unsetKeys: snake_case keys the scheduler_config.json lacked, so a family can
 *    apply its own diffusers default (see scheduler-config.ts `familyDefault`).
 *  - SchedulerFactory: what a registry entry builds a Scheduler with (registry.ts).
 *  - `index` in scaleModelInput/step/addNoise is always the absolute position in `timesteps`, also
 *    for img2img (which starts the loop at img2img.ts' startIndex = diffusers' begin_index).
 *
 * The seam between the denoising loop and a sampler. A Scheduler is created fresh for one run
 * (`steps` fixed), so multistep history lives in that short-lived object and nowhere else.
 * Loop, diffusers-style:
 *   x = noise * initNoiseSigma
 *   for i in 0..timesteps.length-1:
 *     eps = unet(scaleModelInput(x, i), timesteps[i])
 *     x = step(eps, i, x, rng)
 */
import type { RandomSource } from "../rng/random-source.js";

export type PredictionType = "epsilon" | "v_prediction";
export type TimestepSpacing = "leading" | "trailing" | "linspace";

/** The training constants and options, named as in diffusers' scheduler_config.json. */
export interface SchedulerConfig {
  numTrainTimesteps: number; // 1000
  betaStart: number; // 0.00085
  betaEnd: number; // 0.012
  betaSchedule: "scaled_linear" | "linear";
  predictionType: PredictionType;
  /** undefined: the sampler family's own diffusers default. */
  timestepSpacing?: TimestepSpacing;
  stepsOffset: number; // 1
  setAlphaToOne: boolean; // false for SD1.5
  clipSample: boolean;
  useKarrasSigmas: boolean;
  /**
   * The σ schedule chosen apart from the sampler (A1111 "Schedule type", sigma-schedules.ts);
   * undefined: the family's own (Karras when useKarrasSigmas). Families without σ ignore it.
   */
  sigmaSchedule?: SigmaSchedule;
  /** DDIM/TCD eta, DPM++ algorithm, LCM origin steps, ...: family-specific extras. */
  extra: Record<string, unknown>;
  /**
   * snake_case keys the source scheduler_config.json lacked (e.g. "timestep_spacing",
   * "set_alpha_to_one"): diffusers' `Class.from_config` gives those the new class's default, so a
   * family reads them through scheduler-config.ts `familyDefault`. undefined: all were set.
   */
  unsetKeys?: readonly string[];
}

/** What a σ schedule is built from. */
export interface SigmaScheduleContext {
  /** The steps asked for (A1111's DDIM schedule may give a different count). */
  readonly steps: number;
  /** The σ range the sampler family spans with its own schedule (A1111: the training table's ends). */
  readonly sigmaMin: number;
  readonly sigmaMax: number;
  /** The training σ table, ascending in t, float32 (k-diffusion's inner_model.sigmas). */
  readonly trainingSigmas: Float32Array;
}

/** A descending σ list with its final value (0, or σ_min for KL Optimal): length = steps run + 1. */
export type SigmaSchedule = (context: SigmaScheduleContext) => Float64Array;

/** Builds one family's Scheduler for a run of `steps` (config already holds the sampler's overrides). */
export type SchedulerFactory = (config: SchedulerConfig, steps: number) => Scheduler;

export interface Scheduler {
  /** Timestep fed to the UNet at each model evaluation (fractional for the Euler family). */
  readonly timesteps: Float64Array;
  /** Sigma schedule for sigma-based samplers (length timesteps+1 where diffusers has that), else undefined. */
  readonly sigmas?: Float64Array;
  readonly initNoiseSigma: number;
  /** Model evaluations per "step" (2 for Heun): img2img truncation skips t_start * order entries. */
  readonly order: number;
  scaleModelInput(sample: Float32Array, index: number): Float32Array;
  step(modelOutput: Float32Array, index: number, sample: Float32Array, rng: RandomSource): Float32Array;
  /** Noises a clean sample to the level of timesteps[index] (img2img / inpainting start). */
  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array;
}
