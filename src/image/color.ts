/**
 * Channel conversions with PIL's integer arithmetic, so an image or mask read here gives the
 * same bytes diffusers / A1111 get from PIL.
 */
import { checkPixelCount, type GrayImage, type Pixels, type RgbImage } from "./types.js";

export type Rgb = readonly [number, number, number];

/**
 * A1111's default `img2img_background_color` (#ffffff): transparent pixels of an init image become
 * white. (diffusers' load_image uses convert("RGB"), which keeps the hidden colour under alpha 0.)
 */
export const WHITE: Rgb = [255, 255, 255];

/** PIL's DIV255 with rounding: round(v / 255) for 0 <= v <= 255 * 255. */
function div255(v: number): number {
  const t = v + 128;
  return ((t >> 8) + t) >> 8;
}

/**
 * Pixels → RGB. Alpha is flattened over `background` the way A1111's images.flatten does
 * (`Image.new(bgcolor).paste(img, mask=img)`: out = round((src·a + bg·(255 − a)) / 255)).
 * A1111 flattens only RGBA; here gray+alpha is flattened the same way.
 */
export function toRgb(pixels: Pixels, background: Rgb = WHITE): RgbImage {
  const { width, height, channels, data } = pixels;
  checkPixelCount(width, height, channels, data.length);
  if (channels === 3) return { width, height, data };
  const n = width * height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const gray = channels <= 2;
    const src = i * channels;
    const alpha = channels === 2 ? data[src + 1] : channels === 4 ? data[src + 3] : 255;
    for (let c = 0; c < 3; c++) {
      const v = data[src + (gray ? 0 : c)];
      out[i * 3 + c] = alpha === 255 ? v : div255(v * alpha + background[c] * (255 - alpha));
    }
  }
  return { width, height, data: out };
}

/**
 * PIL's convert("L"): L = (R·19595 + G·38470 + B·7471 + 0x8000) >> 16 (Convert.c rgb2l). This is
 * the rounded fixed-point form of the documented R·299/1000 + G·587/1000 + B·114/1000; the two
 * differ by one level on some colours, and the fixed-point one is what PIL computes. Alpha is
 * ignored, as PIL ignores it.
 */
export function toGray(pixels: Pixels): GrayImage {
  const { width, height, channels, data } = pixels;
  checkPixelCount(width, height, channels, data.length);
  if (channels === 1) return { width, height, data };
  const n = width * height;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const s = i * channels;
    out[i] =
      channels === 2 ? data[s] : (data[s] * 19595 + data[s + 1] * 38470 + data[s + 2] * 7471 + 0x8000) >>> 16;
  }
  return { width, height, data: out };
}

/** The alpha channel, or undefined when the pixels have none. */
export function alphaChannel(pixels: Pixels): GrayImage | undefined {
  const { width, height, channels, data } = pixels;
  if (channels !== 2 && channels !== 4) return undefined;
  const n = width * height;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = data[i * channels + channels - 1];
  return { width, height, data: out };
}

/**
 * A mask as A1111 reads one (processing.create_binary_mask): an image with a not fully opaque
 * alpha channel is a mask painted with transparency, so its alpha is the mask; otherwise the
 * luminance is. (A1111 also thresholds alpha at > 128; binariseMask's ≥ 128 differs only at 128.)
 */
export function maskToGray(pixels: Pixels): GrayImage {
  const alpha = alphaChannel(pixels);
  if (alpha?.data.some((a) => a !== 255)) return alpha;
  return toGray(pixels);
}
