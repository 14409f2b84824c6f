/**
 * UniPC ("UniPC"), as diffusers 0.27.2's UniPCMultistepScheduler with solver_order 2, bh2,
 * predict_x0 and lower_order_final: a predictor (UniP) to the next σ after every model call, and
 * at the next call a corrector (UniC) that re-solves the step just taken with the new output.
 * The schedule ends at σ_min (σ of training step 0), not 0.
 *
 * Numerics follow torch: scalars are 0-d float32 tensors, element-wise ops round to float32.
 */
import type { RandomSource } from "../rng/random-source.js";
import { multistepSpacedTimesteps, sigmaTableFloat32, trainingAlphasCumprod } from "./noise-schedule.js";
import { spacingFor } from "./scheduler-config.js";
import type { PredictionType, Scheduler, SchedulerConfig } from "./types.js";
import { vpAddNoise, vpAlphaSigma, vpDataPrediction, vpLambda } from "./vp-from-sigma.js";

const f32 = Math.fround;
const SOLVER_ORDER = 2;

/** Coefficients shared by UniP and UniC for a step from σ_s0 to σ_t (B(h) = e^{-h} − 1, "bh2"). */
interface StepCoefficients {
  /** σ_t/σ_s0, multiplying the sample. */
  cSample: number;
  /** α_t·(e^{-h} − 1), multiplying the current x0. */
  cX0: number;
  /** α_t·B(h), multiplying the higher-order correction. */
  cCorrection: number;
  h: number;
  /** b_1, b_2 of the order conditions R·ρ = b: φ-terms of hh = −h divided by B(h). */
  b: [number, number];
}

function stepCoefficients(sigmaTo: number, sigmaFrom: number): StepCoefficients {
  const [alphaT, sigmaT] = vpAlphaSigma(sigmaTo);
  const [alphaS0, sigmaS0] = vpAlphaSigma(sigmaFrom);
  const h = f32(vpLambda(alphaT, sigmaT) - vpLambda(alphaS0, sigmaS0));
  const hh = -h; // predict_x0
  const hPhi1 = f32(Math.expm1(hh));
  const bH = hPhi1; // bh2: B(h) = expm1(hh)
  // diffusers' loop: b_i = h_phi_k·i!/B_h, then h_phi_k = h_phi_k/hh − 1/(i+1)!
  let hPhiK = f32(f32(hPhi1 / hh) - 1);
  const b1 = f32(hPhiK / bH);
  hPhiK = f32(f32(hPhiK / hh) - 0.5);
  const b2 = f32(f32(hPhiK * 2) / bH);
  return {
    cSample: f32(sigmaT / sigmaS0),
    cX0: f32(alphaT * hPhi1),
    cCorrection: f32(alphaT * bH),
    h,
    b: [b1, b2],
  };
}

export class UniPCMultistepScheduler implements Scheduler {
  readonly timesteps: Float64Array;
  /** float32 values; length timesteps + 1, ending at σ_min. */
  readonly sigmas: Float64Array;
  readonly initNoiseSigma = 1;
  readonly order = 1;
  private readonly prediction: PredictionType;
  private readonly lowerOrderFinal: boolean;
  /** Step indices whose corrector is skipped (diffusers' disable_corrector). */
  private readonly disabledCorrector: Set<unknown>;
  /** Converted outputs (x0 predictions), oldest first, at most SOLVER_ORDER. */
  private readonly x0History: Float32Array[] = [];
  private lowerOrderNums = 0;
  /** The sample the last predictor started from, and the order it used (for the corrector). */
  private lastSample: Float32Array | undefined;
  private lastOrder = 0;

  /**
   * Options from config.extra with diffusers' defaults: lower_order_final (true) and
   * disable_corrector ([]). Only solver_order 2, bh2 and predict_x0 are implemented; like
   * diffusers, a DPM-Solver solver_type (midpoint, heun, logrho) in the file means bh2.
   */
  constructor(config: SchedulerConfig, steps: number) {
    const { extra } = config;
    const solverType = extra.solver_type ?? "bh2";
    if (!["bh2", "midpoint", "heun", "logrho"].includes(solverType as string)) {
      throw new Error(
        `UniPCMultistepScheduler: only solver_type bh2 is implemented, got ${JSON.stringify(solverType)}`,
      );
    }
    if ((extra.solver_order ?? SOLVER_ORDER) !== SOLVER_ORDER || (extra.predict_x0 ?? true) !== true) {
      throw new Error("UniPCMultistepScheduler: only solver_order 2 with predict_x0 is implemented");
    }
    this.lowerOrderFinal = typeof extra.lower_order_final === "boolean" ? extra.lower_order_final : true;
    this.disabledCorrector = new Set(Array.isArray(extra.disable_corrector) ? extra.disable_corrector : []);
    this.prediction = config.predictionType;
    const table = sigmaTableFloat32(trainingAlphasCumprod(config));
    this.timesteps = multistepSpacedTimesteps(config, steps, spacingFor(config, "linspace"));
    this.sigmas = new Float64Array(steps + 1);
    for (let i = 0; i < steps; i++) this.sigmas[i] = table[this.timesteps[i]];
    this.sigmas[steps] = table[0]; // final σ_min
  }

  scaleModelInput(sample: Float32Array, _index: number): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array, _rng: RandomSource): Float32Array {
    const x0 = vpDataPrediction(modelOutput, sample, this.sigmas[index], this.prediction);
    if (index > 0 && !this.disabledCorrector.has(index - 1) && this.lastSample !== undefined) {
      sample = this.correct(x0, index, this.lastSample, sample, this.lastOrder);
    }
    this.x0History.push(x0);
    if (this.x0History.length > SOLVER_ORDER) this.x0History.shift();

    // lower_order_final: order 1 on the last step; warm-up: no more history than steps taken
    const remaining = this.lowerOrderFinal ? this.timesteps.length - index : SOLVER_ORDER;
    const order = Math.min(SOLVER_ORDER, remaining, this.lowerOrderNums + 1);
    this.lastOrder = order;
    this.lastSample = sample;
    const next = this.predict(index, sample, order);
    if (this.lowerOrderNums < SOLVER_ORDER) this.lowerOrderNums++;
    return next;
  }

  /** diffusers copies DPM-Solver's add_noise: α_t·x0 + σ_t·noise with this step's σ. */
  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    return vpAddNoise(original, noise, this.sigmas[index]);
  }

  /** UniP-bh2 from sigmas[index] to sigmas[index+1]; order 2 uses ρ = 0.5 on D1. */
  private predict(index: number, sample: Float32Array, order: number): Float32Array {
    const k = stepCoefficients(this.sigmas[index + 1], this.sigmas[index]);
    const m0 = this.x0History[this.x0History.length - 1];
    const out = new Float32Array(sample.length);
    if (order === 1) {
      for (let i = 0; i < out.length; i++) out[i] = f32(k.cSample * sample[i]) - f32(k.cX0 * m0[i]);
      return out;
    }
    const m1 = this.x0History[this.x0History.length - 2];
    const rk = this.rk(index - 1, index, k.h);
    for (let i = 0; i < out.length; i++) {
      const d1 = f32(f32(m1[i] - m0[i]) / rk);
      const base = f32(f32(k.cSample * sample[i]) - f32(k.cX0 * m0[i]));
      out[i] = base - f32(k.cCorrection * f32(0.5 * d1));
    }
    return out;
  }

  /**
   * UniC-bh2: redo the step sigmas[index-1] → sigmas[index] from lastSample using the new output
   * x0 (model_t). Order 1 uses ρ = 0.5; order 2 solves the 2×2 order conditions for ρ.
   */
  private correct(
    modelT: Float32Array,
    index: number,
    lastSample: Float32Array,
    thisSample: Float32Array,
    order: number,
  ): Float32Array {
    const k = stepCoefficients(this.sigmas[index], this.sigmas[index - 1]);
    const m0 = this.x0History[this.x0History.length - 1];
    const out = new Float32Array(thisSample.length);
    if (order === 1) {
      for (let i = 0; i < out.length; i++) {
        const base = f32(f32(k.cSample * lastSample[i]) - f32(k.cX0 * m0[i]));
        out[i] = base - f32(k.cCorrection * f32(0.5 * f32(modelT[i] - m0[i])));
      }
      return out;
    }
    const m1 = this.x0History[this.x0History.length - 2];
    const rk = this.rk(index - 2, index - 1, k.h);
    const [rho0, rho1] = solveOrderConditions(rk, k.b);
    for (let i = 0; i < out.length; i++) {
      const d1 = f32(f32(m1[i] - m0[i]) / rk);
      const base = f32(f32(k.cSample * lastSample[i]) - f32(k.cX0 * m0[i]));
      const correction = f32(f32(rho0 * d1) + f32(rho1 * f32(modelT[i] - m0[i])));
      out[i] = base - f32(k.cCorrection * correction);
    }
    return out;
  }

  /** r_k = (λ_si − λ_s0)/h: the older point's log-SNR offset in units of this step. */
  private rk(olderIndex: number, fromIndex: number, h: number): number {
    const [alphaSi, sigmaSi] = vpAlphaSigma(this.sigmas[olderIndex]);
    const [alphaS0, sigmaS0] = vpAlphaSigma(this.sigmas[fromIndex]);
    return f32(f32(vpLambda(alphaSi, sigmaSi) - vpLambda(alphaS0, sigmaS0)) / h);
  }
}

/**
 * ρ from [[1, 1], [r_k, 1]]·ρ = b (torch.linalg.solve in float32); solved in float64 and rounded,
 * which stays within an ulp of LAPACK's pivoted float32 result.
 */
function solveOrderConditions(rk: number, b: [number, number]): [number, number] {
  const det = 1 - rk;
  const rho0 = (b[0] - b[1]) / det;
  const rho1 = (b[1] - rk * b[0]) / det;
  return [f32(rho0), f32(rho1)];
}
