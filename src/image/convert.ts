/**
 * Images ↔ model tensors, with diffusers 0.27.2's float32 arithmetic (VaeImageProcessor and
 * StableDiffusionInpaintPipeline.prepare_mask_latents), so the tensors are bit-identical:
 *   image in:  uint8 HWC → x/255 → 2x − 1, NCHW [1,3,H,W]
 *   mask in:   gray /255, ≥ 0.5 → 1 (white = repaint), [1,1,H,W]; to latent size with torch's
 *              interpolate(mode="nearest"); masked image = image · (mask < 0.5)
 *   image out: clamp(x/2 + 0.5, 0, 1) NCHW → NHWC; PNG byte = numpy round(·255), half to even
 */
import { checkPixelCount, type GrayImage, type RgbImage } from "./types.js";

const f32 = Math.fround;

/** The VAE's spatial downscale for SD 1.x. */
export const VAE_SCALE_FACTOR = 8;

/** numpy.round / torch.round: ties go to the even neighbour (0.5 → 0, 1.5 → 2, 2.5 → 2). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round sends ties up; step back when that landed on an odd number
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** uint8 HWC RGB → float32 NCHW [1,3,H,W] in [-1, 1]: f32(f32(v/255)·2 − 1), as diffusers does. */
export function imageToTensor(image: RgbImage): Float32Array {
  const { width, height, data } = image;
  checkPixelCount(width, height, 3, data.length);
  const plane = width * height;
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = f32(f32(v / 255) * 2 - 1);
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    out[i] = lut[data[i * 3]];
    out[plane + i] = lut[data[i * 3 + 1]];
    out[2 * plane + i] = lut[data[i * 3 + 2]];
  }
  return out;
}

function checkShape(values: ArrayLike<number>, shape: readonly number[], channels: number, label: string) {
  const [n, c, h, w] = shape;
  if (shape.length !== 4 || c !== channels || values.length !== n * c * h * w) {
    throw new RangeError(
      `${label}: expected ${values.length} values in [N,${channels},H,W], got shape [${shape.join(",")}]`,
    );
  }
  return { n, h, w };
}

/**
 * VAE decoder output (NCHW [N,3,H,W], model units) → NHWC [N,H,W,3] in [0, 1]:
 * clamp(x/2 + 0.5, 0, 1) in float32 (diffusers' denormalize, then permute to NHWC).
 */
export function decodedToUnit(decoded: ArrayLike<number>, shape: readonly number[]): Float32Array {
  const { n, h, w } = checkShape(decoded, shape, 3, "decoded image");
  const plane = h * w;
  const out = new Float32Array(n * plane * 3);
  for (let b = 0; b < n; b++) {
    for (let c = 0; c < 3; c++) {
      const src = (b * 3 + c) * plane;
      for (let i = 0; i < plane; i++) {
        const v = f32(f32(decoded[src + i] / 2) + 0.5);
        out[(b * plane + i) * 3 + c] = v < 0 ? 0 : Math.min(v, 1); // NaN stays NaN → byte 0
      }
    }
  }
  return out;
}

/** [0,1] floats → bytes like numpy: (x·255 in float32).round() (half to even) → uint8. */
export function unitToBytes(unit: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(unit.length);
  for (let i = 0; i < unit.length; i++) out[i] = roundHalfEven(f32(unit[i] * 255));
  return out;
}

/** VAE decoder output NCHW [N,3,H,W] → N RGB images (decodedToUnit then unitToBytes). */
export function decodedToImages(decoded: ArrayLike<number>, shape: readonly number[]): RgbImage[] {
  const { n, h, w } = checkShape(decoded, shape, 3, "decoded image");
  const bytes = unitToBytes(decodedToUnit(decoded, shape));
  const size = h * w * 3;
  return Array.from({ length: n }, (_, b) => ({
    width: w,
    height: h,
    data: bytes.slice(b * size, (b + 1) * size),
  }));
}

/**
 * Grayscale mask → float32 [1,1,H,W] of 0/1: v/255 ≥ 0.5 → 1 (i.e. v ≥ 128), white repaints.
 * This is diffusers' mask_condition at full resolution.
 */
export function binariseMask(mask: GrayImage): Float32Array {
  const { width, height, data } = mask;
  checkPixelCount(width, height, 1, data.length);
  const out = new Float32Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = f32(data[i] / 255) >= 0.5 ? 1 : 0;
  return out;
}

/**
 * Source index for torch's interpolate(mode="nearest") on CPU: floor(i · (in/out)) with the
 * scale and product in float32 (aten nearest_idx), clamped to in − 1; exact halving when out = 2·in.
 */
export function nearestSourceIndex(i: number, inSize: number, outSize: number): number {
  if (outSize === inSize) return i;
  if (outSize === 2 * inSize) return i >> 1;
  const scale = f32(inSize / outSize);
  return Math.min(Math.floor(f32(i * scale)), inSize - 1);
}

/** Nearest-neighbour resize of a [C,H,W] float plane stack (torch interpolate, default mode). */
export function resizeNearest(
  values: Float32Array,
  channels: number,
  height: number,
  width: number,
  outHeight: number,
  outWidth: number,
): Float32Array {
  if (values.length !== channels * height * width) {
    throw new RangeError(`resizeNearest: ${values.length} values is not ${channels}x${height}x${width}`);
  }
  const rows = Int32Array.from({ length: outHeight }, (_, y) => nearestSourceIndex(y, height, outHeight));
  const cols = Int32Array.from({ length: outWidth }, (_, x) => nearestSourceIndex(x, width, outWidth));
  const out = new Float32Array(channels * outHeight * outWidth);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < outHeight; y++) {
      const src = (c * height + rows[y]) * width;
      const dst = (c * outHeight + y) * outWidth;
      for (let x = 0; x < outWidth; x++) out[dst + x] = values[src + cols[x]];
    }
  }
  return out;
}

/**
 * Binarised full-size mask [1,1,H,W] → the UNet's mask input [1,1,H/8,W/8]
 * (diffusers: interpolate(mask, size=(height // 8, width // 8))).
 */
export function maskToLatentSize(mask: Float32Array, height: number, width: number): Float32Array {
  const lh = Math.floor(height / VAE_SCALE_FACTOR);
  const lw = Math.floor(width / VAE_SCALE_FACTOR);
  return resizeNearest(mask, 1, height, width, lh, lw);
}

/**
 * image · (mask < 0.5): the inpainting pipeline's masked image, NCHW [1,3,H,W]; repainted pixels
 * become 0 (mid-gray in [-1,1] units), the rest keep the image.
 */
export function maskedImage(image: Float32Array, mask: Float32Array): Float32Array {
  const plane = mask.length;
  if (image.length !== 3 * plane) {
    throw new RangeError(`maskedImage: image has ${image.length} values, mask ${plane} (expected 3x)`);
  }
  const out = new Float32Array(image.length);
  for (let c = 0; c < 3; c++) {
    // multiply rather than select, so negative pixels give -0 exactly as torch does
    for (let i = 0; i < plane; i++) out[c * plane + i] = image[c * plane + i] * (mask[i] < 0.5 ? 1 : 0);
  }
  return out;
}
