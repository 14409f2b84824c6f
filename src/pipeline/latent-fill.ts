/**
 * A1111's latent masked content (processing.py, inpainting_fill 2 and 3), on the init image's
 * latents before they are noised.
 */
import { createRandomSource } from "../rng/index.js";
import type { Shape4 } from "./networks.js";
import type { LatentFill, ValidRequest } from "./request.js";

/**
 * A1111's latent masked content (processing.py, inpainting_fill 2 and 3): under the mask the init
 * latents become each image's seed noise, drawn from a fresh generator of that seed as A1111's
 * create_random_tensors does ("latent noise"), or zeros ("latent nothing"). The mask is the loop's
 * own (binarised, nearest to latent size); A1111 rounds a bicubic-resized one instead.
 */
export function fillLatents(
  latents: Float32Array,
  latentMask: Float32Array,
  fill: LatentFill,
  rng: ValidRequest["rng"],
  seeds: readonly number[],
  shape: Shape4,
): Float32Array {
  const [batch, channels, h, w] = shape;
  const plane = h * w;
  const out = latents.slice();
  for (let b = 0; b < batch; b++) {
    const noise = fill === "noise" ? createRandomSource(rng, seeds[b]).randn([1, channels, h, w]) : undefined;
    for (let c = 0; c < channels; c++) {
      const base = (b * channels + c) * plane;
      for (let p = 0; p < plane; p++) {
        if (latentMask[p] >= 0.5) out[base + p] = noise ? noise[c * plane + p] : 0;
      }
    }
  }
  return out;
}
