/**
 * A1111's mask blur (processing.py, StableDiffusionProcessingImg2Img.init): cv2.GaussianBlur of the
 * 8-bit mask, once along x with a (k, 1) kernel of sigma mask_blur_x, then once along y with a
 * (1, k) kernel of sigma mask_blur_y, each pass rounded back to 8 bits, where
 * k = 2·int(2.5·sigma + 0.5) + 1. OpenCV blurs 8-bit images in fixed point (its "bit-exact" path):
 * the kernel in 1/256 steps (gaussianKernelFixed), sums in integers, (sum + 128) >> 8; the border is
 * OpenCV's default, BORDER_REFLECT_101 (…dcb|abcd…).
 */
import { checkPixelCount, type GrayImage } from "./types.js";

/** A1111's kernel size for a blur of `sigma` pixels. */
export function maskBlurKernelSize(sigma: number): number {
  return 2 * Math.trunc(2.5 * sigma + 0.5) + 1;
}

/** Round half to even (OpenCV's cvRound of a softdouble). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * OpenCV's 8-bit Gaussian kernel (getGaussianKernelBitExact, then getGaussianKernelFixedPoint_ED):
 * exp(−x²/2σ²) normalised to sum 1, turned into integers of 1/256 with the rounding error carried
 * from the outer taps inwards, the centre tap taking what makes the sum exactly 256.
 */
export function gaussianKernelFixed(size: number, sigma: number): Int32Array {
  const half = (size - 1) / 2;
  const scale = -0.125 / (sigma * sigma);
  const values: number[] = [];
  let sum = 0;
  // x runs over doubled offsets 1 − size, 3 − size, … as OpenCV writes it
  for (let i = 0, x = 1 - size; i < half; i++, x += 2) {
    values.push(Math.exp(x * x * scale));
    sum += values[i];
  }
  sum = sum * 2 + 1;
  const out = new Int32Array(size);
  let err = 0;
  let total = 0;
  for (let i = 0; i < half; i++) {
    const adjusted = (values[i] / sum) * 256 + err;
    const v = roundHalfEven(adjusted);
    err = adjusted - v;
    out[i] = v;
    out[size - 1 - i] = v;
    total += 2 * v;
  }
  out[half] = 256 - total;
  return out;
}

/** BORDER_REFLECT_101: the index mirrored about the first and last sample, as often as needed. */
export function reflect101(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let j = i % period;
  if (j < 0) j += period;
  return j < n ? j : period - j;
}

/** One separable pass of the Gaussian along x (`horizontal`) or y, rounded to 8 bits. */
function blurPass(mask: GrayImage, sigma: number, horizontal: boolean): GrayImage {
  const { width, height, data } = mask;
  const kernel = gaussianKernelFixed(maskBlurKernelSize(sigma), sigma);
  const r = (kernel.length - 1) / 2;
  const out = new Uint8Array(data.length);
  const [lines, length] = horizontal ? [height, width] : [width, height];
  const at = (line: number, i: number) => (horizontal ? line * width + i : i * width + line);
  const taps = new Int32Array(kernel.length);
  for (let line = 0; line < lines; line++) {
    for (let i = 0; i < length; i++) {
      for (let t = 0; t < taps.length; t++) taps[t] = at(line, reflect101(i + t - r, length));
      let sum = 128;
      for (let t = 0; t < taps.length; t++) sum += data[taps[t]] * kernel[t];
      out[at(line, i)] = Math.min(255, sum >> 8);
    }
  }
  return { width, height, data: out };
}

/** The mask blurred as A1111 blurs it: x first (mask_blur_x), then y (mask_blur_y); 0 skips a pass. */
export function blurMask(mask: GrayImage, blurX: number, blurY: number): GrayImage {
  checkPixelCount(mask.width, mask.height, 1, mask.data.length);
  let out = mask;
  if (blurX > 0) out = blurPass(out, blurX, true);
  if (blurY > 0) out = blurPass(out, blurY, false);
  return out;
}
