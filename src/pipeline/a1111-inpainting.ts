/**
 * AUTOMATIC1111's inpainting around the denoising loop (StableDiffusionProcessingImg2Img.init and
 * apply_overlay), and outpainting built on it. Before: the mask inverted, blurred, optionally
 * cropped to the masked area ("Only masked", inpaint_full_res) and scaled to the generation size;
 * the masked area of the init image filled (masked content). After: the generated image scaled back
 * into the crop and the original pasted over everything the blurred mask does not cover.
 * The loop in between stays diffusers' (generate.ts): the mask it gets is this processed one.
 * Pure: plain JSON settings in, pixels out.
 */

import { type CropBox, expandCropRegion, maskCropRegion } from "../image/crop-region.js";
import { blurMask } from "../image/mask-blur.js";
import { pasteOverlay } from "../image/mask-overlay.js";
import { fillMaskedArea } from "../image/masked-fill.js";
import { type OutpaintExtension, outpaintCanvas } from "../image/outpaint-canvas.js";
import { resizeImageMode } from "../image/resize-modes.js";
import type { GrayImage, RgbImage } from "../image/types.js";
import { InvalidRequestError } from "./invalid-request.js";
import { type GenerationRequest, type LatentFill, validateRequest } from "./request.js";

/** A1111's "Masked content", in the order of its `inpainting_fill` index (0..3). */
export const MASKED_CONTENTS = ["fill", "original", "latent-noise", "latent-nothing"] as const;
export type MaskedContent = (typeof MASKED_CONTENTS)[number];

/** The infotext's words for them (A1111 writes none for "original"). */
const MASKED_CONTENT_INFOTEXT: Record<MaskedContent, string | undefined> = {
  fill: "fill",
  original: undefined,
  "latent-noise": "latent noise",
  "latent-nothing": "latent nothing",
};

/** A1111's inpainting settings (img2img fields), as a job carries them. */
export interface InpaintSettings {
  /** mask_blur_x / mask_blur_y: Gaussian sigma in pixels, 0 = none. */
  readonly maskBlurX: number;
  readonly maskBlurY: number;
  /** inpainting_fill. */
  readonly maskedContent: MaskedContent;
  /** inpaint_full_res: "Only masked" instead of "Whole picture". */
  readonly fullRes: boolean;
  /** inpaint_full_res_padding: pixels around the masked area's box. */
  readonly fullResPadding: number;
  /** inpainting_mask_invert: repaint what the mask leaves black. */
  readonly invertMask: boolean;
}

/** A1111's API defaults (StableDiffusionProcessingImg2Img): blur 4, fill, only masked, padding 0. */
export const A1111_API_INPAINT: InpaintSettings = {
  maskBlurX: 4,
  maskBlurY: 4,
  maskedContent: "fill",
  fullRes: true,
  fullResPadding: 0,
  invertMask: false,
};

/** A1111's img2img tab defaults: blur 4, original, whole picture, padding 32. */
export const A1111_UI_INPAINT: InpaintSettings = {
  maskBlurX: 4,
  maskBlurY: 4,
  maskedContent: "original",
  fullRes: false,
  fullResPadding: 32,
  invertMask: false,
};

/** Outpainting's defaults, as A1111's "Poor man's outpainting" script: blur 4, fill, whole picture. */
export const OUTPAINT_INPAINT: InpaintSettings = { ...A1111_UI_INPAINT, maskedContent: "fill" };

export type Outpaint = Partial<OutpaintExtension>;

export interface PreparedInpainting {
  /** The request generate() runs: images at width × height, the processed mask, the latent fill. */
  readonly request: GenerationRequest;
  /** The final image from a generated one (paste-back); the identity when nothing is masked. */
  readonly finish: (generated: RgbImage) => RgbImage;
  /** A1111's infotext entries for these settings. */
  readonly infotext: Readonly<Record<string, string | number>>;
  /** Said to the user (A1111's comments). */
  readonly warnings: readonly string[];
}

/** The largest mask blur (A1111's slider ends at 64; the kernel grows with it). */
export const MAX_MASK_BLUR = 64;

function fail(message: string): never {
  throw new InvalidRequestError(message);
}

function isCount(v: unknown, max: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;
}

/** Throws InvalidRequestError unless `v` is a complete InpaintSettings. */
export function checkInpaintSettings(v: unknown): InpaintSettings {
  if (v === null || typeof v !== "object" || Array.isArray(v)) fail("inpaint settings must be an object");
  const s = v as Record<string, unknown>;
  for (const key of ["maskBlurX", "maskBlurY"]) {
    if (!isCount(s[key], MAX_MASK_BLUR))
      fail(`inpaint ${key} (mask blur) must be an integer from 0 to ${MAX_MASK_BLUR}, got ${s[key]}`);
  }
  if (!MASKED_CONTENTS.includes(s.maskedContent as MaskedContent)) {
    fail(
      `masked content must be one of ${MASKED_CONTENTS.join(", ")}, got ${JSON.stringify(s.maskedContent)}`,
    );
  }
  if (typeof s.fullRes !== "boolean") fail("inpaint fullRes must be true or false");
  if (!isCount(s.fullResPadding, 4096))
    fail(`inpaint padding must be an integer from 0 to 4096, got ${s.fullResPadding}`);
  if (typeof s.invertMask !== "boolean") fail("inpaint invertMask must be true or false");
  return v as InpaintSettings;
}

/** Throws InvalidRequestError unless `v` names pixels to add on some sides (and nothing else). */
export function checkOutpaint(v: unknown): OutpaintExtension {
  if (v === null || typeof v !== "object" || Array.isArray(v))
    fail("outpaint must be an object {left, right, up, down}");
  const out = { left: 0, right: 0, up: 0, down: 0 };
  for (const [key, value] of Object.entries(v as Record<string, unknown>)) {
    if (!(key in out)) fail(`outpaint direction ${JSON.stringify(key)} is not one of left, right, up, down`);
    if (!isCount(value, 4096)) fail(`outpaint ${key} must be an integer from 0 to 4096 pixels, got ${value}`);
    out[key as keyof typeof out] = value;
  }
  if (out.left + out.right + out.up + out.down === 0)
    fail("outpaint needs at least one side with pixels > 0");
  return out;
}

const identity = (image: RgbImage) => image;

/** Pixel-wise max of two masks of one size (an outpaint mask and a painted one). */
function unionMask(a: GrayImage, b: GrayImage): GrayImage {
  return { width: a.width, height: a.height, data: a.data.map((v, i) => Math.max(v, b.data[i])) };
}

/** The mask placed on the outpaint canvas (black over the new area). */
function padMask(mask: GrayImage, ext: OutpaintExtension, width: number, height: number): GrayImage {
  const data = new Uint8Array(width * height);
  for (let y = 0; y < mask.height; y++) {
    data.set(mask.data.subarray(y * mask.width, (y + 1) * mask.width), (y + ext.up) * width + ext.left);
  }
  return { width, height, data };
}

/**
 * The request generate() runs for A1111's inpainting (and outpainting) settings. `request` holds the
 * init image and mask at their own size (they must match each other; with neither "Only masked" nor
 * outpainting they are scaled to width × height as A1111's "Just resize").
 */
export function prepareInpainting(
  request: GenerationRequest,
  settings: InpaintSettings,
  outpaint?: OutpaintExtension,
): PreparedInpainting {
  const { width, height } = request;
  let image = request.initImage;
  if (!image) fail("inpainting and outpainting need an init image");
  let mask = request.mask;
  if (outpaint) {
    const canvas = outpaintCanvas(image, outpaint, settings.maskBlurX, settings.maskBlurY);
    if (mask) {
      if (mask.width !== image.width || mask.height !== image.height) {
        fail(`mask is ${mask.width}x${mask.height} but the init image is ${image.width}x${image.height}`);
      }
      mask = unionMask(canvas.mask, padMask(mask, canvas.extension, canvas.image.width, canvas.image.height));
    } else mask = canvas.mask;
    image = canvas.image;
  }
  if (!mask) fail("inpainting settings (mask blur, masked content, only masked) need a mask");
  if (mask.width !== image.width || mask.height !== image.height) {
    mask = resizeImageMode(0, mask, 1, image.width, image.height);
  }
  const infotext: Record<string, string | number> = {};
  const warnings: string[] = [];
  if (settings.invertMask) {
    mask = { ...mask, data: mask.data.map((v) => 255 - v) };
    infotext["Mask mode"] = "Inpaint not masked";
  }
  mask = blurMask(mask, settings.maskBlurX, settings.maskBlurY);
  if (settings.maskBlurX > 0 || settings.maskBlurY > 0) {
    // A1111's mask_blur is None (left out) when x and y differ
    if (settings.maskBlurX === settings.maskBlurY) infotext["Mask blur"] = settings.maskBlurX;
  }
  const original = image;
  let genImage: RgbImage;
  let genMask: GrayImage;
  let overlayMask: GrayImage;
  let box: CropBox | undefined;
  if (settings.fullRes) {
    const found = maskCropRegion(mask, settings.fullResPadding);
    if (!found) {
      // A1111: 'Unable to perform "Inpaint Only mask" because mask is blank, switch to img2img mode.'
      warnings.push('the mask is blank, so "Only masked" inpainting ran as plain img2img');
      const { mask: _, ...rest } = request;
      return {
        request: { ...rest, initImage: resizeImageMode(0, original, 3, width, height) },
        finish: identity,
        infotext,
        warnings,
      };
    }
    box = expandCropRegion(found, width, height, mask.width, mask.height);
    overlayMask = mask;
    genMask = resizeImageMode(2, crop(mask, 1, box), 1, width, height);
    genImage = resizeImageMode(2, crop(original, 3, box), 3, width, height);
    infotext["Inpaint area"] = "Only masked";
    infotext["Masked area padding"] = settings.fullResPadding;
  } else {
    genMask = resizeImageMode(0, mask, 1, width, height);
    genImage = resizeImageMode(0, original, 3, width, height);
    overlayMask = { ...genMask, data: genMask.data.map((v) => Math.min(255, v * 2)) };
  }
  const overlayOriginal = box ? original : genImage;
  if (settings.maskedContent !== "original") genImage = fillMaskedArea(genImage, genMask);
  const label = MASKED_CONTENT_INFOTEXT[settings.maskedContent];
  if (label) infotext["Masked content"] = label;
  const latentFill: LatentFill | undefined =
    settings.maskedContent === "latent-noise"
      ? "noise"
      : settings.maskedContent === "latent-nothing"
        ? "nothing"
        : undefined;
  return {
    request: { ...request, initImage: genImage, mask: genMask, ...(latentFill ? { latentFill } : {}) },
    finish: (generated) => pasteOverlay(generated, overlayOriginal, overlayMask, box),
    infotext,
    warnings,
  };
}

/** The box's pixels (PIL Image.crop inside the image). */
function crop<T extends { width: number; height: number; data: Uint8Array }>(
  image: T,
  channels: number,
  box: CropBox,
) {
  const [x1, y1, x2, y2] = box;
  const w = x2 - x1;
  const data = new Uint8Array(w * (y2 - y1) * channels);
  for (let y = y1; y < y2; y++) {
    const src = (y * image.width + x1) * channels;
    data.set(image.data.subarray(src, src + w * channels), (y - y1) * w * channels);
  }
  return { width: w, height: y2 - y1, data };
}

/**
 * A decoded request (images as pixels, LoRA tags out of the prompt) as generate() takes it, with
 * A1111's inpainting (`inpaint`, as a job carries it, checked here) or outpainting around it when
 * asked for, checked: what the job runner (generation-job.ts) and the in-tab engine both run.
 */
export function prepareRequestInpainting(
  decoded: GenerationRequest,
  inpaint: unknown,
  outpaint: unknown,
): PreparedInpainting {
  if (inpaint === undefined && outpaint === undefined) {
    validateRequest(decoded);
    return { request: decoded, finish: (image) => image, infotext: {}, warnings: [] };
  }
  // sizes, sampler and the rest first, so the images are only worked on for a sound request
  validateRequest({ ...decoded, initImage: undefined, mask: undefined, latentFill: undefined });
  const settings = inpaint === undefined ? OUTPAINT_INPAINT : checkInpaintSettings(inpaint);
  const prepared = prepareInpainting(
    decoded,
    settings,
    outpaint === undefined ? undefined : checkOutpaint(outpaint),
  );
  validateRequest(prepared.request);
  return prepared;
}
