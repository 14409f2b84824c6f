/**
 * LCM's guidance-scale embedding. An LCM-distilled UNet with `time_cond_proj_dim` learned the
 * effect of classifier-free guidance: instead of a second (unconditional) UNet pass it takes the
 * guidance scale as a sinusoidal vector, `timestep_cond`. This is diffusers'
 * LatentConsistencyModelPipeline.get_guidance_scale_embedding, step by step in float32 as torch
 * computes it, so the UNet sees the same numbers.
 */

const f = Math.fround;

/**
 * The embedding of `w` (diffusers passes guidance_scale − 1): with W = 1000·w, half = ⌊dim/2⌋ and
 * freq_k = exp(−k·ln(10000)/(half − 1)), it is [sin(W·freq), cos(W·freq)], zero-padded to `dim`.
 */
export function guidanceScaleEmbedding(w: number, dim: number): Float32Array {
  if (!Number.isInteger(dim) || dim < 4) {
    // half − 1 = 0 would divide by zero (diffusers returns NaNs there)
    throw new Error(`guidance embedding width must be a whole number >= 4, got ${dim}`);
  }
  const scaled = f(f(w) * 1000);
  const half = Math.floor(dim / 2);
  const step = f(f(Math.log(10000)) / (half - 1));
  const out = new Float32Array(dim);
  for (let k = 0; k < half; k++) {
    const arg = f(scaled * f(Math.exp(f(k * -step))));
    out[k] = Math.sin(arg);
    out[half + k] = Math.cos(arg);
  }
  return out;
}

/** LCM pipelines embed guidance_scale − 1 (the Imagen CFG scale, 1 = off) for each of `batch` items. */
export function lcmGuidanceCondition(guidance: number, dim: number, batch: number): Float32Array {
  const one = guidanceScaleEmbedding(guidance - 1, dim);
  const out = new Float32Array(batch * dim);
  for (let i = 0; i < batch; i++) out.set(one, i * dim);
  return out;
}
