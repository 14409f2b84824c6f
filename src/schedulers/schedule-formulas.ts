/**
 * The noise schedules of k-diffusion (k_diffusion/sampling.py, external.py DiscreteSchedule) and
 * AUTOMATIC1111 (modules/sd_schedulers.py) as pure functions of the step count and the σ range
 * or the training σ table. Each returns the descending σ list a sampler walks, its final value
 * included (0, except KL Optimal, which ends at σ_min). Computed in float64; the samplers round
 * to float32 as torch does.
 */
import { betaQuantile } from "./beta-quantile.js";
import { karrasSigmas, logSigmaTable, numpyLinspace, sigmaToTimestep } from "./noise-schedule.js";

function appendZero(sigmas: ArrayLike<number>): Float64Array {
  const out = new Float64Array(sigmas.length + 1);
  out.set(sigmas);
  return out;
}

/** k-diffusion get_sigmas_karras: (σ_max^(1/ρ) + r·(σ_min^(1/ρ) − σ_max^(1/ρ)))^ρ, r = 0 … 1. */
export function karrasSchedule(steps: number, sigmaMin: number, sigmaMax: number, rho = 7): Float64Array {
  return appendZero(karrasSigmas(sigmaMin, sigmaMax, steps, rho));
}

/** k-diffusion get_sigmas_exponential: evenly spaced in log σ from σ_max to σ_min. */
export function exponentialSchedule(steps: number, sigmaMin: number, sigmaMax: number): Float64Array {
  return appendZero(numpyLinspace(Math.log(sigmaMax), Math.log(sigmaMin), steps).map(Math.exp));
}

/** k-diffusion get_sigmas_polyexponential: log σ = r^ρ·(log σ_max − log σ_min) + log σ_min, r = 1 … 0. */
export function polyexponentialSchedule(
  steps: number,
  sigmaMin: number,
  sigmaMax: number,
  rho = 1,
): Float64Array {
  const logMin = Math.log(sigmaMin);
  const span = Math.log(sigmaMax) - logMin;
  return appendZero(numpyLinspace(1, 0, steps).map((r) => Math.exp(r ** rho * span + logMin)));
}

/**
 * A1111 kl_optimal (Sabour et al. 2024, "Align Your Steps" appendix): σ_i = tan((i/n)·atan σ_min +
 * (1 − i/n)·atan σ_max) for i = 0 … n: n + 1 values ending at σ_min, with no 0 appended.
 */
export function klOptimalSchedule(steps: number, sigmaMin: number, sigmaMax: number): Float64Array {
  const alphaMin = Math.atan(sigmaMin);
  const alphaMax = Math.atan(sigmaMax);
  return Float64Array.from({ length: steps + 1 }, (_, i) =>
    Math.tan((i / steps) * alphaMin + (1 - i / steps) * alphaMax),
  );
}

/** NVIDIA's Align Your Steps σ for SD1.5 at 10 steps (A1111 get_align_your_steps_sigmas). */
export const ALIGN_YOUR_STEPS_SD15 = [
  14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029,
] as const;

/**
 * A1111 get_align_your_steps_sigmas: the 11 published σ as they are for 11 steps, otherwise
 * resampled to `steps` values by linear interpolation in log σ over [0, 1] (its loglinear_interp,
 * np.interp on reversed knots); 0 appended. The σ are absolute: the σ range plays no part.
 */
export function alignYourStepsSchedule(
  steps: number,
  knots: readonly number[] = ALIGN_YOUR_STEPS_SD15,
): Float64Array {
  if (steps === knots.length) return appendZero(knots);
  const ascendingLogs = [...knots].reverse().map(Math.log);
  const last = ascendingLogs.length - 1;
  const ascending = numpyLinspace(0, 1, steps).map((x) => {
    // np.interp(x, linspace(0, 1, len), logs)
    const position = x * last;
    const j = Math.min(Math.floor(position), last - 1);
    const w = position - j;
    return Math.exp(ascendingLogs[j] + w * (ascendingLogs[j + 1] - ascendingLogs[j]));
  });
  return appendZero(ascending.reverse());
}

/**
 * A1111 beta_scheduler (Lee et al. 2024, "Beta Sampling is All You Need"): σ_min + q·(σ_max − σ_min)
 * with q the Beta(α, β) quantile of 1 − linspace(0, 1, n); A1111's default α = β = 0.6.
 */
export function betaSchedule(
  steps: number,
  sigmaMin: number,
  sigmaMax: number,
  alpha = 0.6,
  beta = 0.6,
): Float64Array {
  const quantiles = numpyLinspace(0, 1, steps).map((x) => betaQuantile(1 - x, alpha, beta));
  return appendZero(quantiles.map((q) => sigmaMin + q * (sigmaMax - sigmaMin)));
}

/**
 * k-diffusion DiscreteSchedule.t_to_sigma: σ at a fractional training timestep, interpolated
 * linearly in log σ between the neighbouring table entries (diffusers interpolates σ itself).
 */
export function timestepToSigma(t: number, logSigmas: ArrayLike<number>): number {
  const low = Math.floor(t);
  const high = Math.ceil(t);
  const w = t - low;
  return Math.exp((1 - w) * logSigmas[low] + w * logSigmas[high]);
}

function naturalLogs(trainingSigmas: Float32Array): Float64Array {
  return Float64Array.from(trainingSigmas, Math.log);
}

/** A1111 "Uniform" = k-diffusion DiscreteSchedule.get_sigmas(n): timesteps evenly from T−1 to 0. */
export function uniformSchedule(steps: number, trainingSigmas: Float32Array): Float64Array {
  const logs = naturalLogs(trainingSigmas);
  const tMax = trainingSigmas.length - 1;
  return appendZero(numpyLinspace(tMax, 0, steps).map((t) => timestepToSigma(t, logs)));
}

/**
 * A1111 normal_scheduler: timesteps evenly between those of σ_max and σ_min (sigma_to_t), mapped
 * back with t_to_sigma. `sgm` (A1111 sgm_uniform, "SGM Uniform"): n + 1 points with the last
 * dropped, so the run never lands on σ_min before the final 0.
 */
export function normalSchedule(
  steps: number,
  sigmaMin: number,
  sigmaMax: number,
  trainingSigmas: Float32Array,
  sgm = false,
): Float64Array {
  const tableLogs = logSigmaTable(trainingSigmas);
  const start = sigmaToTimestep(sigmaMax, tableLogs);
  const end = sigmaToTimestep(sigmaMin, tableLogs);
  const logs = naturalLogs(trainingSigmas);
  const timesteps = sgm
    ? numpyLinspace(start, end, steps + 1).subarray(0, steps)
    : numpyLinspace(start, end, steps);
  return appendZero(Array.from(timesteps, (t) => timestepToSigma(t, logs)));
}

/** A1111 simple_scheduler: every (T/n)-th table σ counted down from the top, σ[T − 1 − ⌊x·T/n⌋]. */
export function simpleSchedule(steps: number, trainingSigmas: Float32Array): Float64Array {
  const count = trainingSigmas.length;
  const stride = count / steps;
  return appendZero(
    Array.from({ length: steps }, (_, x) => trainingSigmas[count - 1 - Math.trunc(x * stride)]),
  );
}

/**
 * A1111 ddim_scheduler: table σ at t = 1, 1 + s, 1 + 2s, … below T with s = max(⌊T/n⌋, 1), reversed.
 * As in A1111 the count is ⌈(T − 1)/s⌉, which can differ from n (7 steps give 8 σ before the 0).
 */
export function ddimSchedule(steps: number, trainingSigmas: Float32Array): Float64Array {
  const count = trainingSigmas.length;
  const stride = Math.max(Math.floor(count / steps), 1);
  const sigmas: number[] = [];
  for (let t = 1; t < count; t += stride) sigmas.push(trainingSigmas[t]);
  return appendZero(sigmas.reverse());
}
