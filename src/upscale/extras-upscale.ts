/**
 * A1111's extras "Upscale" step (scripts/postprocessing_upscale.py): upscale by a factor, or to a
 * width × height (factor max(w/W, h/H), then optionally a centred crop to exactly that size), with
 * an optional second upscaler blended in (PIL Image.blend); returns the image and the infotext
 * items A1111 records ("Postprocess upscale by", "Postprocess upscaler", …).
 */
import type { RgbImage } from "../image/types.js";
import type { PostprocessInfo } from "./postprocess-info.js";
import { type UpscaleProgress, upscaleBy } from "./upscale-by.js";
import type { Upscaler } from "./upscaler.js";

export type ExtrasResize =
  | { readonly mode: "by"; readonly scale: number }
  | { readonly mode: "to"; readonly width: number; readonly height: number; readonly crop: boolean };

export interface ExtrasUpscaleSpec {
  readonly resize: ExtrasResize;
  readonly upscaler: Upscaler;
  /** A second upscaler blended over the first with this weight in (0, 1]. */
  readonly second?: { readonly upscaler: Upscaler; readonly visibility: number };
}

export interface ExtrasUpscaleOptions {
  /** `upscaler` 0 or 1 (the second), then the pass and tile progress within it. */
  readonly onProgress?: (upscaler: number, progress: UpscaleProgress) => void;
  readonly signal?: AbortSignal;
}

/** PIL Image.blend on 8-bit data: trunc(a + α·(b − a)) in float32, as Blend.c computes it. */
export function blendImages(a: RgbImage, b: RgbImage, alpha: number): RgbImage {
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`blend weight must be in [0, 1], got ${alpha}`);
  if (a.width !== b.width || a.height !== b.height) {
    throw new RangeError(`cannot blend ${a.width}x${a.height} with ${b.width}x${b.height}`);
  }
  const f = Math.fround(alpha);
  const data = new Uint8Array(a.data.length);
  for (let i = 0; i < data.length; i++) {
    // with α in [0, 1] the value lies between a and b: no clamping needed
    data[i] = Math.trunc(Math.fround(a.data[i] + Math.fround(f * (b.data[i] - a.data[i]))));
  }
  return { width: a.width, height: a.height, data };
}

/**
 * A1111's crop: a black width × height canvas with the image pasted at
 * (width // 2 − w // 2, height // 2 − h // 2) — a centred crop, or black borders where it is smaller.
 */
export function pasteCentered(image: RgbImage, width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  const ox = Math.floor(width / 2) - Math.floor(image.width / 2);
  const oy = Math.floor(height / 2) - Math.floor(image.height / 2);
  const x0 = Math.max(0, ox);
  const x1 = Math.min(width, ox + image.width);
  for (let y = Math.max(0, oy); y < Math.min(height, oy + image.height); y++) {
    if (x1 <= x0) break;
    const src = ((y - oy) * image.width + (x0 - ox)) * 3;
    data.set(image.data.subarray(src, src + (x1 - x0) * 3), (y * width + x0) * 3);
  }
  return { width, height, data };
}

export async function extrasUpscale(
  image: RgbImage,
  spec: ExtrasUpscaleSpec,
  options: ExtrasUpscaleOptions = {},
): Promise<{ image: RgbImage; info: PostprocessInfo }> {
  const info: [string, string | number][] = [];
  const { resize } = spec;
  let scale: number;
  if (resize.mode === "to") {
    scale = Math.max(resize.width / image.width, resize.height / image.height);
    info.push(["Postprocess upscale to", `${resize.width}x${resize.height}`]);
  } else {
    scale = resize.scale;
    info.push(["Postprocess upscale by", scale]);
  }
  const run = async (upscaler: Upscaler, index: number) => {
    let out = await upscaleBy(upscaler, image, scale, {
      signal: options.signal,
      onProgress: (p) => options.onProgress?.(index, p),
    });
    if (resize.mode === "to" && resize.crop) {
      out = pasteCentered(out, resize.width, resize.height);
      if (index === 0) info.push(["Postprocess crop to", `${out.width}x${out.height}`]);
    }
    return out;
  };
  let out = await run(spec.upscaler, 0);
  info.push(["Postprocess upscaler", spec.upscaler.name]);
  if (spec.second && spec.second.visibility > 0) {
    out = blendImages(out, await run(spec.second.upscaler, 1), spec.second.visibility);
    info.push(["Postprocess upscaler 2", spec.second.upscaler.name]);
  }
  return { image: out, info };
}
