/**
 * Live previews without a VAE call: the SD1.x latent channels mapped linearly to RGB, A1111's
 * "Approx cheap" (sd_vae_approx.cheap_approximation, also ComfyUI's SD15 latent_rgb_factors):
 * rgb = latent · M, then (rgb + 1) / 2 clamped to [0, 1]. One image at latent resolution (1/8 side).
 */
import type { RgbImage } from "../image/types.js";

/** Rows: latent channels 0..3; columns: R, G, B. */
export const SD15_LATENT_RGB_FACTORS: readonly (readonly [number, number, number])[] = [
  [0.298, 0.207, 0.208],
  [0.187, 0.286, 0.173],
  [-0.158, 0.189, 0.264],
  [-0.184, -0.271, -0.473],
];

/**
 * The preview of batch item `index` of NCHW latents [N, 4, h, w]: an RGB image of w × h.
 */
export function latentPreview(
  latents: Float32Array,
  shape: readonly [number, number, number, number],
  index = 0,
): RgbImage {
  const [n, c, h, w] = shape;
  if (c !== 4) throw new RangeError(`latent preview needs 4 latent channels, got ${c}`);
  if (latents.length !== n * c * h * w) {
    throw new RangeError(`latent preview: ${latents.length} values do not fill [${shape.join(",")}]`);
  }
  if (!Number.isInteger(index) || index < 0 || index >= n) {
    throw new RangeError(`latent preview: batch item ${index} of ${n}`);
  }
  const plane = h * w;
  const base = index * c * plane;
  const data = new Uint8Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    for (let rgb = 0; rgb < 3; rgb++) {
      let v = 0;
      for (let ch = 0; ch < 4; ch++) v += latents[base + ch * plane + i] * SD15_LATENT_RGB_FACTORS[ch][rgb];
      const unit = (v + 1) / 2;
      data[i * 3 + rgb] = Math.round(255 * Math.min(Math.max(unit, 0), 1));
    }
  }
  return { width: w, height: h, data };
}
