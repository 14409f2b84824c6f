/**
 * The training noise schedule and the inference timestep/sigma schedules of diffusers 0.27.2,
 * reproduced with torch's and numpy's exact arithmetic (fixtures README 4.6): timesteps are
 * compared bit for bit, so every rounding step below is deliberate.
 *
 *  - betas: torch.linspace in float32 (as torch's AVX2 kernel computes it, fused multiply-add),
 *    squared for "scaled_linear"; alphas_cumprod: torch.cumprod, which accumulates in double on
 *    CPU and rounds each element to float32.
 *  - sigma table: sqrt((1 - ᾱ) / ᾱ) in float32, indexed by training timestep (ascending).
 *  - spacings: DDPM-type (DDIM, PNDM) integers, Euler-type fractional float32, DPM/UniPC n+1.
 *  - Karras sigmas and the σ -> t inversion in log σ (numpy 1.24 float32 semantics).
 */
import { fmaF32 } from "../rng/float32-fma.js";
import {
  interpUnitKnots,
  numpyArange,
  numpyLinspace,
  numpyLogFloat32,
  roundHalfEven,
} from "./numpy-compat.js";
import type { SchedulerConfig, SigmaSchedule, TimestepSpacing } from "./types.js";

export { interpUnitKnots, numpyArange, numpyLinspace, numpyLogFloat32, roundHalfEven };

const f32 = Math.fround;

/** The 8 float32 lanes of torch's AVX2 Vectorized<float>. */
const TORCH_VECTOR_LANES = 8;

/**
 * torch.linspace(start, end, steps, dtype=float32) on CPU: the first half counts up from start,
 * the second half down from end; vectorised chunks of 8 compute a base with one FMA and add k*step.
 */
export function torchLinspaceFloat32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  if (steps === 1) {
    out[0] = f32(start);
    return out;
  }
  const s = f32(start);
  const e = f32(end);
  const step = f32(f32(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  const base = (idx: number): number =>
    idx < halfway ? fmaF32(step, f32(idx), s) : fmaF32(-step, f32(steps - idx - 1), e);
  // cpu_serial_kernel_vec: pairs of vectors while two fit, then the scalar loop for the rest
  let i = 0;
  for (; i <= steps - 2 * TORCH_VECTOR_LANES; i += 2 * TORCH_VECTOR_LANES) {
    for (const chunk of [i, i + TORCH_VECTOR_LANES]) {
      const b = base(chunk);
      for (let k = 0; k < TORCH_VECTOR_LANES; k++) out[chunk + k] = fmaF32(k, step, b);
    }
  }
  for (; i < steps; i++) out[i] = base(i);
  return out;
}

/** The training betas, float32, as diffusers builds them for "linear" and "scaled_linear". */
export function trainingBetas(config: SchedulerConfig): Float32Array {
  const trained = config.extra.trained_betas;
  if (Array.isArray(trained)) return Float32Array.from(trained as number[]);
  const n = config.numTrainTimesteps;
  if (config.betaSchedule === "linear") return torchLinspaceFloat32(config.betaStart, config.betaEnd, n);
  if (config.betaSchedule === "scaled_linear") {
    const roots = torchLinspaceFloat32(Math.sqrt(config.betaStart), Math.sqrt(config.betaEnd), n);
    return roots.map((r) => f32(r * r));
  }
  throw new Error(`unsupported beta_schedule "${config.betaSchedule}" (expected linear or scaled_linear)`);
}

/** ᾱ_t = cumprod(1 - β) as torch computes it on CPU: float32 alphas, double accumulator. */
export function trainingAlphasCumprod(config: SchedulerConfig): Float32Array {
  const betas = trainingBetas(config);
  const out = new Float32Array(betas.length);
  let product = 1;
  for (let i = 0; i < betas.length; i++) {
    product *= f32(1 - betas[i]);
    out[i] = product;
  }
  return out;
}

/** σ_t = sqrt((1 - ᾱ_t) / ᾱ_t) in float32, indexed by training timestep (ascending in t). */
export function sigmaTableFloat32(alphasCumprod: Float32Array): Float32Array {
  return alphasCumprod.map((a) => f32(Math.sqrt(f32(f32(1 - a) / a))));
}

/** np.log of the float32 sigma table (what diffusers' _sigma_to_t searches). */
export function logSigmaTable(sigmaTable: Float32Array): Float32Array {
  return sigmaTable.map(numpyLogFloat32);
}

function checkSteps(steps: number): void {
  if (!Number.isInteger(steps) || steps < 1) {
    throw new Error(`number of inference steps must be a positive integer, got ${steps}`);
  }
}

/**
 * DDIM/PNDM-style integer timesteps, descending:
 * leading k*(N//n) + offset, trailing round(arange(N, 0, -N/n)) - 1, linspace round(linspace(0, N-1, n)).
 */
export function discreteTimesteps(
  config: SchedulerConfig,
  steps: number,
  spacing: TimestepSpacing,
): Float64Array {
  checkSteps(steps);
  const n = config.numTrainTimesteps;
  if (spacing === "linspace")
    return numpyLinspace(0, n - 1, steps)
      .map(roundHalfEven)
      .reverse();
  if (spacing === "leading") {
    const ratio = Math.floor(n / steps);
    return Float64Array.from({ length: steps }, (_, k) => (steps - 1 - k) * ratio + config.stepsOffset);
  }
  return numpyArange(n, 0, -n / steps).map((t) => roundHalfEven(t) - 1);
}

/**
 * Euler-family timesteps (Euler, Euler a, Heun, LMS), descending, float32 values: linspace keeps
 * fractional values such as 856.2857; leading and trailing are integers as in discreteTimesteps.
 */
export function fractionalTimesteps(
  config: SchedulerConfig,
  steps: number,
  spacing: TimestepSpacing,
): Float64Array {
  if (spacing === "linspace") {
    checkSteps(steps);
    return numpyLinspace(0, config.numTrainTimesteps - 1, steps)
      .map(f32)
      .reverse();
  }
  return discreteTimesteps(config, steps, spacing);
}

/**
 * DPM-Solver++ / UniPC timesteps: n+1 points with the last dropped (4 linspace steps -> 999, 749,
 * 500, 250; 1 leading step -> 501). `spacing` defaults to the config's, then "linspace".
 */
export function multistepSpacedTimesteps(
  config: SchedulerConfig,
  steps: number,
  spacing: TimestepSpacing = config.timestepSpacing ?? "linspace",
  lastTimestep: number = config.numTrainTimesteps,
): Float64Array {
  checkSteps(steps);
  if (spacing === "linspace") {
    return numpyLinspace(0, lastTimestep - 1, steps + 1)
      .map(roundHalfEven)
      .reverse()
      .subarray(0, steps)
      .slice();
  }
  if (spacing === "leading") {
    const ratio = Math.floor(lastTimestep / (steps + 1));
    return Float64Array.from({ length: steps }, (_, k) => (steps - k) * ratio + config.stepsOffset);
  }
  return numpyArange(lastTimestep, 0, -config.numTrainTimesteps / steps).map((t) => roundHalfEven(t) - 1);
}

/** Sigmas at (possibly fractional) timesteps: np.interp over the training table, float64. */
export function sigmasAtTimesteps(timesteps: ArrayLike<number>, sigmaTable: Float32Array): Float64Array {
  return interpUnitKnots(timesteps, sigmaTable);
}

/** Karras et al. (2022) ρ=7 schedule from sigmaMax down to sigmaMin, float64 (numpy). */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, steps: number, rho = 7): Float64Array {
  const ramp = numpyLinspace(0, 1, steps);
  const minInvRho = sigmaMin ** (1 / rho);
  const maxInvRho = sigmaMax ** (1 / rho);
  return ramp.map((r) => (maxInvRho + r * (minInvRho - maxInvRho)) ** rho);
}

/**
 * diffusers' _sigma_to_t: the fractional training timestep whose σ is `sigma`, interpolating
 * linearly in log σ between neighbouring training steps. Under numpy 1.24's value-based casting
 * the float64 log σ meets the float32 log table as float32, so the distances and the weight are
 * float32; only the final blend of the two indices is float64.
 */
export function sigmaToTimestep(sigma: number, logSigmas: Float32Array): number {
  const logSigma = f32(Math.log(Math.max(sigma, 1e-10)));
  const lowIdx = Math.min(firstIndexOfMaxCumsum(logSigma, logSigmas), logSigmas.length - 2);
  const low = logSigmas[lowIdx];
  const high = logSigmas[lowIdx + 1];
  let w = f32(f32(low - logSigma) / f32(low - high));
  w = Math.min(Math.max(w, 0), 1);
  return f32(1 - w) * lowIdx + w * (lowIdx + 1);
}

/** numpy's cumsum(dists >= 0).argmax(): the first index at which the running count peaks. */
function firstIndexOfMaxCumsum(logSigma: number, logSigmas: Float32Array): number {
  let running = 0;
  let best = -1;
  let bestIdx = 0;
  for (let i = 0; i < logSigmas.length; i++) {
    if (f32(logSigma - logSigmas[i]) >= 0) running++;
    if (running > best) {
      best = running;
      bestIdx = i;
    }
  }
  return bestIdx;
}

/** Euler-family Karras timesteps: fractional float32 values of sigmaToTimestep. */
export function sigmasToTimesteps(sigmas: ArrayLike<number>, sigmaTable: Float32Array): Float64Array {
  const logSigmas = logSigmaTable(sigmaTable);
  return Float64Array.from(sigmas, (s) => f32(sigmaToTimestep(s, logSigmas)));
}

/** DPM++ Karras timesteps: sigmaToTimestep rounded half-to-even to integers. */
export function sigmasToRoundedTimesteps(sigmas: ArrayLike<number>, sigmaTable: Float32Array): Float64Array {
  const logSigmas = logSigmaTable(sigmaTable);
  return Float64Array.from(sigmas, (s) => roundHalfEven(sigmaToTimestep(s, logSigmas)));
}

/**
 * Euler-family sigma schedule: σ interpolated at the timesteps, or a chosen σ schedule (Karras,
 * Exponential, ...) over that schedule's own σ_max … σ_min (so Euler Karras depends on the
 * spacing, as diffusers' use_karras_sigmas does), with fractional timesteps found from the σ.
 * Returns float32 sigmas with the final value (0 unless the schedule ends elsewhere), and the
 * timesteps the model sees.
 */
export function eulerSchedule(
  config: SchedulerConfig,
  steps: number,
  spacing: TimestepSpacing,
  schedule: SigmaSchedule | undefined,
): { timesteps: Float64Array; sigmas: Float64Array } {
  const table = sigmaTableFloat32(trainingAlphasCumprod(config));
  const timesteps = fractionalTimesteps(config, steps, spacing);
  const sigmas = sigmasAtTimesteps(timesteps, table);
  if (schedule) {
    const chosen = schedule({
      steps,
      sigmaMin: sigmas[sigmas.length - 1],
      sigmaMax: sigmas[0],
      trainingSigmas: table,
    });
    return {
      timesteps: sigmasToTimesteps(chosen.subarray(0, chosen.length - 1), table),
      sigmas: chosen.map(f32),
    };
  }
  const withFinal = new Float64Array(sigmas.length + 1);
  for (let i = 0; i < sigmas.length; i++) withFinal[i] = f32(sigmas[i]);
  return { timesteps, sigmas: withFinal };
}

/**
 * Euler-family init_noise_sigma: σ_max for "linspace"/"trailing", sqrt(σ_max² + 1) for "leading"
 * (diffusers' rule, float32).
 */
export function eulerInitNoiseSigma(sigmas: ArrayLike<number>, spacing: TimestepSpacing): number {
  let max = 0;
  for (let i = 0; i < sigmas.length; i++) max = Math.max(max, sigmas[i]);
  if (spacing === "linspace" || spacing === "trailing") return max;
  return f32(Math.sqrt(f32(f32(max * max) + 1)));
}

/** sqrt(σ² + 1), the divisor of diffusers' Euler-family scale_model_input, float32. */
export function eulerInputScale(sigma: number): number {
  return f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
}

/** DDPM forward process: √ᾱ_t·x0 + √(1−ᾱ_t)·noise, float32 (diffusers' add_noise). */
export function ddpmAddNoise(
  alphasCumprod: Float32Array,
  original: Float32Array,
  noise: Float32Array,
  timestep: number,
): Float32Array {
  const alpha = alphasCumprod[timestep];
  const sqrtAlpha = f32(Math.sqrt(alpha));
  const sqrtOneMinusAlpha = f32(Math.sqrt(f32(1 - alpha)));
  const out = new Float32Array(original.length);
  for (let i = 0; i < out.length; i++) {
    out[i] = f32(sqrtAlpha * original[i]) + f32(sqrtOneMinusAlpha * noise[i]);
  }
  return out;
}
