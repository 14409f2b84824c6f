/**
 * Outpainting's canvas, in the manner of A1111's "Poor man's outpainting" script: the image pasted
 * into a larger black canvas, and a mask that is white over the new area and over `overlap` pixels
 * of the image along each extended side (so the blurred mask still covers the whole new area and the
 * seam is repainted). Each side of the canvas is rounded up to a multiple of 8 (the VAE's factor):
 * the extra pixels are shared between the two sides of an axis in proportion to what was asked
 * (left = left·total // (left + right), right the rest), or go to the right / bottom when neither
 * side of that axis was extended.
 */
import { checkPixelCount, type GrayImage, type RgbImage } from "./types.js";

export interface OutpaintExtension {
  readonly left: number;
  readonly right: number;
  readonly up: number;
  readonly down: number;
}

export interface OutpaintCanvas {
  readonly image: RgbImage;
  readonly mask: GrayImage;
  /** The extension after rounding the canvas to multiples of 8. */
  readonly extension: OutpaintExtension;
}

/** One axis: the two extensions after rounding side + before + after up to a multiple of 8. */
function roundAxis(side: number, before: number, after: number): [number, number] {
  const total = Math.ceil((side + before + after) / 8) * 8 - side;
  if (before + after === 0) return [0, total];
  const b = before > 0 ? Math.floor((before * total) / (before + after)) : 0;
  return [b, total - b];
}

/** The extension each side gets on an image of width × height (see the rounding rule above). */
export function roundedExtension(width: number, height: number, ext: OutpaintExtension): OutpaintExtension {
  const [left, right] = roundAxis(width, ext.left, ext.right);
  const [up, down] = roundAxis(height, ext.up, ext.down);
  return { left, right, up, down };
}

/**
 * The canvas and its mask. `overlapX` / `overlapY`: pixels of the image, inside each extended side
 * (left/right, up/down), that the mask also covers (A1111's script uses twice its mask blur).
 */
export function outpaintCanvas(
  image: RgbImage,
  extension: OutpaintExtension,
  overlapX = 0,
  overlapY = 0,
): OutpaintCanvas {
  checkPixelCount(image.width, image.height, 3, image.data.length);
  const ext = roundedExtension(image.width, image.height, extension);
  const width = image.width + ext.left + ext.right;
  const height = image.height + ext.up + ext.down;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < image.height; y++) {
    const src = y * image.width * 3;
    data.set(image.data.subarray(src, src + image.width * 3), ((y + ext.up) * width + ext.left) * 3);
  }
  // black (kept) over the image, less the overlap on each side that grew
  const x1 = ext.left + (ext.left > 0 ? overlapX : 0);
  const x2 = width - ext.right - (ext.right > 0 ? overlapX : 0);
  const y1 = ext.up + (ext.up > 0 ? overlapY : 0);
  const y2 = height - ext.down - (ext.down > 0 ? overlapY : 0);
  const mask = new Uint8Array(width * height).fill(255);
  for (let y = Math.max(y1, 0); y < Math.min(y2, height); y++) {
    mask.fill(0, y * width + Math.max(x1, 0), y * width + Math.min(x2, width));
  }
  return { image: { width, height, data }, mask: { width, height, data: mask }, extension: ext };
}
