/**
 * A1111's model-free upscalers: "Lanczos" and "Nearest" resize by the requested factor with PIL's
 * filters (Lanczos through image/resize.ts, a port of PIL's Resample.c), "None" returns the image
 * as it is (A1111 then only resizes it to the requested size with Lanczos, see upscale-by.ts).
 */
import { resizeRgb } from "../image/resize.js";
import { checkPixelCount, type RgbImage } from "../image/types.js";
import type { UpscalePassOptions, Upscaler } from "./upscaler.js";

export const CLASSIC_UPSCALER_NAMES = ["None", "Lanczos", "Nearest"] as const;
export type ClassicUpscalerName = (typeof CLASSIC_UPSCALER_NAMES)[number];

/**
 * PIL's Image.resize(size, NEAREST): an affine transform sampling pixel centres, the source
 * coordinate accumulated in double steps of in/out and truncated (Geometry.c affine_transform), so
 * even the rounding at exact pixel boundaries is PIL's.
 */
function sourceIndices(inSize: number, outSize: number): Int32Array {
  const step = inSize / outSize;
  const out = new Int32Array(outSize);
  let at = step * 0.5;
  for (let i = 0; i < outSize; i++, at += step) out[i] = Math.min(Math.trunc(at), inSize - 1);
  return out;
}

export function resizeNearestRgb(image: RgbImage, width: number, height: number): RgbImage {
  checkPixelCount(image.width, image.height, 3, image.data.length);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`resize target must be positive integers, got ${width}x${height}`);
  }
  const cols = sourceIndices(image.width, width);
  const rows = sourceIndices(image.height, height);
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = rows[y] * image.width;
    for (let x = 0; x < width; x++) {
      const src = (row + cols[x]) * 3;
      const dst = (y * width + x) * 3;
      out[dst] = image.data[src];
      out[dst + 1] = image.data[src + 1];
      out[dst + 2] = image.data[src + 2];
    }
  }
  return { width, height, data: out };
}

/** A1111's do_upscale size for a resampler: int(side · scale), at least 1 pixel. */
function scaledSide(side: number, scale: number): number {
  return Math.max(1, Math.trunc(side * scale));
}

class ClassicUpscaler implements Upscaler {
  readonly isModel = false;
  /** A1111 lists its resamplers with scale 4. */
  readonly scale = 4;

  constructor(readonly name: ClassicUpscalerName) {}

  async pass(image: RgbImage, options: UpscalePassOptions): Promise<RgbImage> {
    options.signal?.throwIfAborted();
    if (this.name === "None") return image;
    const width = scaledSide(image.width, options.scale);
    const height = scaledSide(image.height, options.scale);
    const out =
      this.name === "Lanczos"
        ? resizeRgb(image, width, height, "lanczos")
        : resizeNearestRgb(image, width, height);
    options.onTile?.(1, 1);
    return out;
  }

  async close(): Promise<void> {}
}

/** The resampler of that name (case-insensitive), or undefined. */
export function classicUpscaler(name: string): Upscaler | undefined {
  const found = CLASSIC_UPSCALER_NAMES.find((n) => n.toLowerCase() === name.toLowerCase());
  return found ? new ClassicUpscaler(found) : undefined;
}
