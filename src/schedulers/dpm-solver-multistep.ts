/**
 * DPM-Solver++ multistep ("DPM++ 2M", "DPM++ 2M Karras", "DPM++ 2M SDE [Karras]"), as diffusers
 * 0.27.2's DPMSolverMultistepScheduler with solver_order 2, midpoint, lower_order_final and
 * final_sigmas_type "zero". The solver works on the data prediction x0 in log-SNR (λ) time.
 *
 * Numerics follow torch: every scalar coefficient is a 0-d float32 tensor there, and every
 * element-wise product or sum is its own float32 tensor op, so each is rounded with fround in
 * the order Python evaluates it.
 */
import type { RandomSource } from "../rng/random-source.js";
import {
  multistepSpacedTimesteps,
  sigmasToRoundedTimesteps,
  sigmaTableFloat32,
  trainingAlphasCumprod,
} from "./noise-schedule.js";
import { spacingFor } from "./scheduler-config.js";
import { configuredSchedule } from "./sigma-schedules.js";
import type { PredictionType, Scheduler, SchedulerConfig } from "./types.js";
import { vpAddNoise, vpAlphaSigma, vpDataPrediction, vpLambda } from "./vp-from-sigma.js";

const f32 = Math.fround;

const ALGORITHMS = ["dpmsolver++", "sde-dpmsolver++"] as const;
export type DpmAlgorithm = (typeof ALGORITHMS)[number];
const FINAL_SIGMAS = ["zero", "sigma_min"] as const;
type FinalSigmas = (typeof FINAL_SIGMAS)[number];

/** A string option from config.extra (diffusers' snake_case key), checked against what we implement. */
function extraChoice<T extends string>(
  config: SchedulerConfig,
  key: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const value = config.extra[key] ?? fallback;
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
  throw new Error(
    `DPMSolverMultistepScheduler: ${key} must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`,
  );
}

function extraFlag(config: SchedulerConfig, key: string, fallback: boolean): boolean {
  const value = config.extra[key];
  return typeof value === "boolean" ? value : fallback;
}

/** VP-form α_t = 1/√(σ²+1), σ_t = σ·α_t, in float32 like diffusers' _sigma_to_alpha_sigma_t. */
/** λ = log α − log σ (log-SNR/2); +∞ at σ = 0. */
export class DpmSolverMultistepScheduler implements Scheduler {
  readonly timesteps: Float64Array;
  /** float32 values; length timesteps + 1 (the final sigma). */
  readonly sigmas: Float64Array;
  readonly initNoiseSigma = 1;
  readonly order = 1;
  private readonly prediction: PredictionType;
  private readonly algorithm: DpmAlgorithm;
  private readonly finalSigmas: FinalSigmas;
  private readonly lowerOrderFinal: boolean;
  private readonly eulerAtFinal: boolean;
  /** The previous converted model output (x0 prediction) for the second-order update. */
  private previousX0: Float32Array | undefined;
  private lowerOrderNums = 0;

  /**
   * Options from config.extra, with diffusers' defaults: algorithm_type ("dpmsolver++" or
   * "sde-dpmsolver++"), final_sigmas_type ("zero" or "sigma_min"), lower_order_final (true),
   * euler_at_final (false); solver_order must be 2 (the "2M" of the name).
   */
  constructor(config: SchedulerConfig, steps: number) {
    this.algorithm = extraChoice(config, "algorithm_type", ALGORITHMS, "dpmsolver++");
    this.finalSigmas = extraChoice(config, "final_sigmas_type", FINAL_SIGMAS, "zero");
    this.lowerOrderFinal = extraFlag(config, "lower_order_final", true);
    this.eulerAtFinal = extraFlag(config, "euler_at_final", false);
    // like diffusers, a UniPC solver_type in the file (bh1, bh2, logrho) means midpoint
    const solverType = config.extra.solver_type ?? "midpoint";
    if (!["midpoint", "bh1", "bh2", "logrho"].includes(solverType as string)) {
      throw new Error(
        `DPMSolverMultistepScheduler: only solver_type midpoint is implemented, got ${JSON.stringify(solverType)}`,
      );
    }
    const solverOrder = config.extra.solver_order ?? 2;
    if (solverOrder !== 2) {
      throw new Error(
        `DPMSolverMultistepScheduler: only solver_order 2 is implemented, got ${JSON.stringify(solverOrder)}`,
      );
    }
    this.prediction = config.predictionType;
    const table = sigmaTableFloat32(trainingAlphasCumprod(config));
    const schedule = configuredSchedule(config);
    let sigmas: Float64Array;
    let scheduleEnd = 0;
    if (schedule) {
      // σ_min/σ_max of the full training table: DPM++ Karras ignores the timestep spacing, and the
      // model sees rounded timesteps while the solver keeps the unrounded σ of the schedule.
      const chosen = schedule({
        steps,
        sigmaMin: table[0],
        sigmaMax: table[table.length - 1],
        trainingSigmas: table,
      });
      sigmas = chosen.subarray(0, chosen.length - 1);
      scheduleEnd = chosen[chosen.length - 1];
      this.timesteps = sigmasToRoundedTimesteps(sigmas, table);
    } else {
      this.timesteps = multistepSpacedTimesteps(config, steps, spacingFor(config, "linspace"));
      sigmas = Float64Array.from(this.timesteps, (t) => table[t]);
    }
    // a schedule that ends above 0 (KL Optimal) keeps its end; otherwise final_sigmas_type decides
    const last = scheduleEnd !== 0 ? scheduleEnd : this.finalSigmas === "zero" ? 0 : table[0];
    this.sigmas = new Float64Array(sigmas.length + 1);
    for (let i = 0; i < sigmas.length; i++) this.sigmas[i] = f32(sigmas[i]);
    this.sigmas[sigmas.length] = f32(last);
  }

  scaleModelInput(sample: Float32Array, _index: number): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array, rng: RandomSource): Float32Array {
    const n = this.timesteps.length;
    // diffusers: first order on the last step for stability (always when it ends at σ = 0)
    const lastStepFirstOrder =
      index === n - 1 &&
      (this.eulerAtFinal || (this.lowerOrderFinal && n < 15) || this.finalSigmas === "zero");
    const x0 = vpDataPrediction(modelOutput, sample, this.sigmas[index], this.prediction);
    const previous = this.previousX0;
    this.previousX0 = x0;
    // diffusers draws the SDE noise before choosing the update, at every step including the last
    const noise = this.algorithm === "sde-dpmsolver++" ? rng.randn([sample.length]) : undefined;
    const result =
      this.lowerOrderNums < 1 || lastStepFirstOrder || previous === undefined
        ? this.firstOrderUpdate(x0, index, sample, noise)
        : this.secondOrderUpdate(x0, previous, index, sample, noise);
    if (this.lowerOrderNums < 2) this.lowerOrderNums++;
    return result;
  }

  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    return vpAddNoise(original, noise, this.sigmas[index]);
  }

  /** DPM-Solver++(1) = DDIM in λ time; the SDE variant adds fresh noise. */
  private firstOrderUpdate(
    x0: Float32Array,
    index: number,
    sample: Float32Array,
    noise: Float32Array | undefined,
  ): Float32Array {
    const [alphaT, sigmaT] = vpAlphaSigma(this.sigmas[index + 1]);
    const [alphaS, sigmaS] = vpAlphaSigma(this.sigmas[index]);
    const h = f32(vpLambda(alphaT, sigmaT) - vpLambda(alphaS, sigmaS));
    const out = new Float32Array(sample.length);
    if (noise === undefined) {
      const cSample = f32(sigmaT / sigmaS);
      const cX0 = f32(alphaT * f32(f32(Math.exp(-h)) - 1));
      for (let i = 0; i < out.length; i++) out[i] = f32(cSample * sample[i]) - f32(cX0 * x0[i]);
    } else {
      const expMinus2h = f32(Math.exp(f32(-2 * h)));
      const cSample = f32(f32(sigmaT / sigmaS) * f32(Math.exp(-h)));
      const cX0 = f32(alphaT * f32(1 - expMinus2h));
      const cNoise = f32(sigmaT * f32(Math.sqrt(f32(1 - expMinus2h))));
      for (let i = 0; i < out.length; i++) {
        out[i] = f32(f32(cSample * sample[i]) + f32(cX0 * x0[i])) + f32(cNoise * noise[i]);
      }
    }
    return out;
  }

  /** Multistep DPM-Solver++(2M), midpoint form: D1 extrapolates x0 from the previous step. */
  private secondOrderUpdate(
    m0: Float32Array,
    m1: Float32Array,
    index: number,
    sample: Float32Array,
    noise: Float32Array | undefined,
  ): Float32Array {
    const [alphaT, sigmaT] = vpAlphaSigma(this.sigmas[index + 1]);
    const [alphaS0, sigmaS0] = vpAlphaSigma(this.sigmas[index]);
    const [alphaS1, sigmaS1] = vpAlphaSigma(this.sigmas[index - 1]);
    const lambdaT = vpLambda(alphaT, sigmaT);
    const lambdaS0 = vpLambda(alphaS0, sigmaS0);
    const lambdaS1 = vpLambda(alphaS1, sigmaS1);
    const h = f32(lambdaT - lambdaS0);
    const r0 = f32(f32(lambdaS0 - lambdaS1) / h);
    const invR0 = f32(1 / r0);
    const out = new Float32Array(sample.length);
    if (noise === undefined) {
      const cSample = f32(sigmaT / sigmaS0);
      const cD0 = f32(alphaT * f32(f32(Math.exp(-h)) - 1));
      const cD1 = f32(0.5 * cD0);
      for (let i = 0; i < out.length; i++) {
        const d1 = f32(invR0 * f32(m0[i] - m1[i]));
        out[i] = f32(f32(cSample * sample[i]) - f32(cD0 * m0[i])) - f32(cD1 * d1);
      }
    } else {
      const expMinus2h = f32(Math.exp(f32(-2 * h)));
      const cSample = f32(f32(sigmaT / sigmaS0) * f32(Math.exp(-h)));
      const cD0 = f32(alphaT * f32(1 - expMinus2h));
      const cD1 = f32(0.5 * cD0);
      const cNoise = f32(sigmaT * f32(Math.sqrt(f32(1 - expMinus2h))));
      for (let i = 0; i < out.length; i++) {
        const d1 = f32(invR0 * f32(m0[i] - m1[i]));
        out[i] =
          f32(f32(f32(cSample * sample[i]) + f32(cD0 * m0[i])) + f32(cD1 * d1)) + f32(cNoise * noise[i]);
      }
    }
    return out;
  }
}
