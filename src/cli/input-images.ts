/**
 * `--init-image` and `--mask` read from PNG files and brought to the generation size: the size
 * asked for, or else the init image's own size rounded down to a multiple of 8 (as diffusers does).
 * An image of another size is resampled with PIL's Lanczos, as diffusers' image processor does.
 * With A1111 inpainting options the init image stays as it is (the job scales or crops it) and the
 * default size is, for outpainting, the canvas's.
 */
import { readFileSync } from "node:fs";
import { maskToGray, toRgb } from "../image/color.js";
import { type OutpaintExtension, roundedExtension } from "../image/outpaint-canvas.js";
import { decodePng, hasPngSignature } from "../image/png.js";
import { defaultGenerationSize, resizeGray, resizeRgb } from "../image/resize.js";
import type { GrayImage, Pixels, RgbImage } from "../image/types.js";
import { InvalidRequestError } from "../pipeline/request.js";

export interface InputImageOptions {
  initImage?: string;
  mask?: string;
  width?: number;
  height?: number;
  /**
   * A1111 inpainting (job.request.inpaint): the init image keeps its size (the job crops or scales
   * it), the mask is brought to that size.
   */
  a1111?: boolean;
  /** Outpainting: the default size is the canvas's (rounded to multiples of 8). */
  outpaint?: OutpaintExtension;
}

export interface InputImages {
  width: number;
  height: number;
  initImage?: RgbImage;
  mask?: GrayImage;
}

function readPng(path: string, role: string): Pixels {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new InvalidRequestError(`${role} not found: ${path}`);
    if (code === "EISDIR") throw new InvalidRequestError(`${role} ${path} is a folder, not a PNG file`);
    throw err;
  }
  if (!hasPngSignature(bytes)) throw new InvalidRequestError(`${role} ${path} is not a PNG file`);
  try {
    return decodePng(bytes);
  } catch (err) {
    throw new InvalidRequestError(`${role} ${path}: ${(err as Error).message}`);
  }
}

/** Sides that validateRequest accepts; other sizes are left for it to refuse with its message. */
function isValidSide(side: number): boolean {
  return Number.isInteger(side) && side >= 8 && side % 8 === 0;
}

export function loadInputImages(options: InputImageOptions, fallback: { width: number; height: number }) {
  let init = options.initImage ? toRgb(readPng(options.initImage, "init image")) : undefined;
  let mask = options.mask ? maskToGray(readPng(options.mask, "mask")) : undefined;
  let natural = init ? defaultGenerationSize(init.width, init.height) : fallback;
  if (init && options.outpaint) {
    const ext = roundedExtension(init.width, init.height, options.outpaint);
    natural = { width: init.width + ext.left + ext.right, height: init.height + ext.up + ext.down };
  }
  const width = options.width ?? natural.width;
  const height = options.height ?? natural.height;
  if (init && options.a1111) {
    if (mask && (mask.width !== init.width || mask.height !== init.height)) {
      mask = resizeGray(mask, init.width, init.height);
    }
    return { width, height, initImage: init, ...(mask ? { mask } : {}) };
  }
  const resizable = isValidSide(width) && isValidSide(height);
  if (init && resizable && (init.width !== width || init.height !== height)) {
    init = resizeRgb(init, width, height);
  }
  if (mask && resizable && (mask.width !== width || mask.height !== height)) {
    mask = resizeGray(mask, width, height);
  }
  const result: InputImages = { width, height };
  if (init) result.initImage = init;
  if (mask) result.mask = mask;
  return result;
}
