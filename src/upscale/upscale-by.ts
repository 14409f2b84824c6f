/**
 * A1111's Upscaler.upscale (modules/upscaler.py): the target is the size × factor rounded DOWN to
 * a multiple of 8 on each side; the upscaler runs up to three times until the image reaches it (a
 * 4x model asked for 8x runs twice), and whatever size that gives is resized to the target with
 * Lanczos (a 4x model asked for 2x runs once, then shrinks by half).
 */
import { resizeRgb } from "../image/resize.js";
import type { RgbImage } from "../image/types.js";
import type { Upscaler } from "./upscaler.js";

export interface UpscaleProgress {
  /** The current pass (0-based) and the tiles done in it. */
  readonly pass: number;
  readonly tile: number;
  readonly tiles: number;
}

export interface UpscaleByOptions {
  readonly onProgress?: (progress: UpscaleProgress) => void;
  readonly signal?: AbortSignal;
}

/** Largest output (pixels): 8192 x 8192, a 200 MB RGB image. A1111 has no limit. */
export const MAX_UPSCALE_OUTPUT_PIXELS = 8192 * 8192;

/** Most passes A1111 makes. */
const MAX_PASSES = 3;

/** The size A1111 upscales a width × height image to for `scale`: each side · scale, down to a multiple of 8. */
export function upscaleTargetSize(
  width: number,
  height: number,
  scale: number,
): { width: number; height: number } {
  if (!Number.isFinite(scale) || scale <= 0)
    throw new RangeError(`upscale factor must be a positive number, got ${scale}`);
  const target = { width: Math.floor((width * scale) / 8) * 8, height: Math.floor((height * scale) / 8) * 8 };
  if (target.width === 0 || target.height === 0) {
    throw new RangeError(
      `${width}x${height} × ${scale} is smaller than 8 pixels on a side (the result is rounded down to a multiple of 8)`,
    );
  }
  return target;
}

/**
 * upscaleTargetSize, refused with a one-line reason when the result would be larger than
 * MAX_UPSCALE_OUTPUT_PIXELS: checked before anything is allocated or run.
 */
export function checkedUpscaleTarget(
  width: number,
  height: number,
  scale: number,
): { width: number; height: number } {
  const target = upscaleTargetSize(width, height, scale);
  if (target.width * target.height > MAX_UPSCALE_OUTPUT_PIXELS) {
    throw new RangeError(
      `upscaling ${width}x${height} by ${scale} gives ${target.width}x${target.height}, more than the 8192x8192 pixels sdlite makes`,
    );
  }
  return target;
}

export async function upscaleBy(
  upscaler: Upscaler,
  image: RgbImage,
  scale: number,
  options: UpscaleByOptions = {},
): Promise<RgbImage> {
  const dest = checkedUpscaleTarget(image.width, image.height, scale);
  let img = image;
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    if (img.width >= dest.width && img.height >= dest.height && (pass > 0 || scale !== 1)) break;
    options.signal?.throwIfAborted();
    const before = img;
    img = await upscaler.pass(img, {
      scale,
      signal: options.signal,
      onTile: (tile, tiles) => options.onProgress?.({ pass, tile, tiles }),
    });
    if (img.width === before.width && img.height === before.height) break;
  }
  if (img.width !== dest.width || img.height !== dest.height)
    img = resizeRgb(img, dest.width, dest.height, "lanczos");
  return img;
}
