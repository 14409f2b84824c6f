/**
 * A1111's masked content "fill" (masking.fill, inpainting_fill 0): the masked area is painted with
 * the colours around it, by compositing ever sharper blurs of the unmasked part over each other —
 * Pillow Gaussian blurs of radius 256, 64, 16 (twice), 4 (four times), 2 (twice) and 0, of the
 * image premultiplied by the inverted mask. Unmasked pixels (mask 0) come out exactly as they went in.
 */
import { alphaCompositeInto } from "./alpha-composite.js";
import { pilGaussianBlur } from "./pil-gaussian-blur.js";
import { dropAlpha, premultipliedThrough, unpremultiply } from "./premultiplied-alpha.js";
import type { GrayImage, RgbImage } from "./types.js";

/** [blur radius, times composited], in A1111's order. */
export const FILL_LAYERS: readonly (readonly [number, number])[] = [
  [256, 1],
  [64, 1],
  [16, 2],
  [4, 4],
  [2, 2],
  [0, 1],
];

/** The image with its masked area (mask > 0, white = repaint) filled from its surroundings. */
export function fillMaskedArea(image: RgbImage, mask: GrayImage): RgbImage {
  const { width, height } = image;
  const kept: GrayImage = { width, height, data: mask.data.map((v) => 255 - v) };
  const masked = premultipliedThrough(image, kept);
  const result = new Uint8Array(width * height * 4);
  for (const [radius, repeats] of FILL_LAYERS) {
    const blurred = unpremultiply(pilGaussianBlur(masked, width, height, 4, radius));
    for (let r = 0; r < repeats; r++) alphaCompositeInto(result, blurred);
  }
  return dropAlpha(result, width, height);
}
