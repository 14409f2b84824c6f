/**
 * diffusers' DiagonalGaussianDistribution on plain float32 arrays: the VAE encoder's moments →
 * mean / clamped logvar / std, and a posterior sample scaled into the UNet's latent space, with the
 * same float32 operation order as torch (so a seeded generator reproduces diffusers' latents).
 */

import { LOGVAR_MAX, LOGVAR_MIN } from "../graph/vae.js";
import type { RandomSource } from "../rng/random-source.js";

export interface LatentDistribution {
  readonly mean: Float32Array;
  readonly logvar: Float32Array;
  readonly std: Float32Array;
  /** [batch, latent_channels, height, width] of each of the three. */
  readonly dims: readonly number[];
}

/** Splits moments [b, 2L, h, w] into mean and logvar (clamped to [−30, 20]), std = exp(logvar / 2). */
export function latentDistributionFromMoments(
  moments: Float32Array,
  dims: readonly number[],
): LatentDistribution {
  const [batch, twice, height, width] = dims;
  if (dims.length !== 4 || twice % 2 !== 0)
    throw new Error(`moments must be [b, 2L, h, w], got [${dims.join(", ")}]`);
  const half = (twice / 2) * height * width;
  const n = batch * half;
  const mean = new Float32Array(n);
  const logvar = new Float32Array(n);
  const std = new Float32Array(n);
  for (let i = 0; i < batch; i++) {
    mean.set(moments.subarray(2 * i * half, (2 * i + 1) * half), i * half);
    logvar.set(moments.subarray((2 * i + 1) * half, (2 * i + 2) * half), i * half);
  }
  for (let i = 0; i < n; i++) {
    logvar[i] = Math.min(Math.max(logvar[i], LOGVAR_MIN), LOGVAR_MAX);
    std[i] = Math.exp(Math.fround(0.5 * logvar[i]));
  }
  return { mean, logvar, std, dims: [batch, twice / 2, height, width] };
}

/**
 * (mean + std · randn(shape)) · scalingFactor, one randn call on `random` for the whole tensor, as
 * diffusers' `latent_dist.sample(generator) * vae.config.scaling_factor` (each step rounded to float32).
 */
export function sampleScaledLatents(
  distribution: Pick<LatentDistribution, "mean" | "std" | "dims">,
  random: RandomSource,
  scalingFactor: number,
): Float32Array {
  const { mean, std, dims } = distribution;
  const noise = random.randn(dims);
  const scale = Math.fround(scalingFactor);
  const out = new Float32Array(mean.length);
  for (let i = 0; i < out.length; i++) {
    const sample = Math.fround(mean[i] + Math.fround(std[i] * noise[i]));
    out[i] = sample * scale;
  }
  return out;
}
