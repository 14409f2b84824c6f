/** How far an image made with a speed option is from the reference image (same seed, default options). */
import type { RgbImage } from "../image/types.js";

export interface ImageDifference {
  /** 10·log10(255² / MSE) over all channels; Infinity when identical. */
  readonly psnrDb: number;
  /** Largest difference of one channel, in 8-bit levels. */
  readonly maxAbs: number;
  readonly meanAbs: number;
}

export function compareImages(image: RgbImage, reference: RgbImage): ImageDifference {
  if (image.width !== reference.width || image.height !== reference.height)
    throw new Error(
      `cannot compare a ${image.width}x${image.height} image with a ${reference.width}x${reference.height} reference`,
    );
  const a = image.data;
  const b = reference.data;
  let squares = 0;
  let sum = 0;
  let maxAbs = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    squares += d * d;
    sum += d;
    if (d > maxAbs) maxAbs = d;
  }
  const mse = squares / a.length;
  return {
    psnrDb: mse === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / mse),
    maxAbs,
    meanAbs: sum / a.length,
  };
}
