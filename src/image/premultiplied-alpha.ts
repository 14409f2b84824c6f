/**
 * Pillow's premultiplied "RGBa" pixels as A1111 makes them for inpainting: an opaque RGB image pasted
 * through an alpha mask onto transparent black (`Image.new('RGBa').paste(img.convert('RGBa'),
 * mask=alpha)`, Paste.c: each byte DIV255(v·alpha)), and back to straight "RGBA" (Convert.c
 * rgbA2rgba: v·255 / alpha truncated, alpha 0 and 255 copied as they are). Pixels are RGBA bytes.
 */
import { checkPixelCount, type GrayImage, type RgbImage } from "./types.js";

/** Pillow's DIV255 with rounding: ((t >> 8) + t) >> 8 with t = v + 128. */
export function div255(v: number): number {
  const t = v + 128;
  return ((t >> 8) + t) >> 8;
}

/** The RGB image premultiplied by `alpha` (255 keeps a pixel, 0 makes it transparent black), RGBa. */
export function premultipliedThrough(image: RgbImage, alpha: GrayImage): Uint8Array {
  const { width, height, data } = image;
  checkPixelCount(width, height, 3, data.length);
  checkPixelCount(alpha.width, alpha.height, 1, alpha.data.length);
  if (alpha.width !== width || alpha.height !== height) {
    throw new RangeError(`alpha is ${alpha.width}x${alpha.height}, image ${width}x${height}`);
  }
  const n = width * height;
  const out = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    const a = alpha.data[i];
    for (let c = 0; c < 3; c++) out[i * 4 + c] = div255(data[i * 3 + c] * a);
    out[i * 4 + 3] = div255(255 * a);
  }
  return out;
}

/** RGBa → RGBA as Pillow converts it. */
export function unpremultiply(rgba: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgba.length);
  for (let i = 0; i < rgba.length; i += 4) {
    const a = rgba[i + 3];
    for (let c = 0; c < 3; c++) {
      const v = rgba[i + c];
      out[i + c] = a === 0 || a === 255 ? v : Math.min(255, Math.floor((255 * v) / a));
    }
    out[i + 3] = a;
  }
  return out;
}

/** An opaque RGB image as RGBA bytes. */
export function opaqueRgba(image: RgbImage): Uint8Array {
  const n = image.width * image.height;
  const out = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    out.set(image.data.subarray(i * 3, i * 3 + 3), i * 4);
    out[i * 4 + 3] = 255;
  }
  return out;
}

/** RGBA bytes → RGB, alpha dropped (Pillow's convert("RGB") of RGBA). */
export function dropAlpha(rgba: Uint8Array, width: number, height: number): RgbImage {
  const n = width * height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) out.set(rgba.subarray(i * 4, i * 4 + 3), i * 3);
  return { width, height, data: out };
}
