/**
 * A1111's img2img inpainting fields → the job's inpaint settings, with A1111's API defaults
 * (StableDiffusionProcessingImg2Img): mask_blur_x / mask_blur_y 4 (an integer `mask_blur` sets
 * both, as its property setter does), inpainting_fill 0 (fill), inpaint_full_res true ("Only
 * masked"), inpaint_full_res_padding 0, inpainting_mask_invert 0.
 */
import {
  A1111_API_INPAINT,
  checkInpaintSettings,
  type InpaintSettings,
  MASKED_CONTENTS,
  MAX_MASK_BLUR,
} from "../pipeline/a1111-inpainting.js";
import { invalidRequest } from "./http-error.js";

type Body = Readonly<Record<string, unknown>>;

function present(body: Body, key: string): boolean {
  return body[key] !== undefined && body[key] !== null;
}

function integerField(body: Body, key: string, fallback: number, min: number, max: number): number {
  if (!present(body, key)) return fallback;
  const v = body[key];
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw invalidRequest(`${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function flagField(body: Body, key: string, fallback: boolean): boolean {
  if (!present(body, key)) return fallback;
  const v = body[key];
  if (v === true || v === 1) return true;
  if (v === false || v === 0) return false;
  throw invalidRequest(`${key} must be true or false (or 1 / 0), got ${JSON.stringify(v)}`);
}

/** The inpaint settings an img2img body with a mask asks for. */
export function inpaintSettingsFromBody(body: Body): InpaintSettings {
  const d = A1111_API_INPAINT;
  let blurX = integerField(body, "mask_blur_x", d.maskBlurX, 0, MAX_MASK_BLUR);
  let blurY = integerField(body, "mask_blur_y", d.maskBlurY, 0, MAX_MASK_BLUR);
  if (present(body, "mask_blur")) blurX = blurY = integerField(body, "mask_blur", 4, 0, MAX_MASK_BLUR);
  const fill = integerField(body, "inpainting_fill", 0, 0, 3);
  return checkInpaintSettings({
    maskBlurX: blurX,
    maskBlurY: blurY,
    maskedContent: MASKED_CONTENTS[fill],
    fullRes: flagField(body, "inpaint_full_res", d.fullRes),
    fullResPadding: integerField(body, "inpaint_full_res_padding", d.fullResPadding, 0, 4096),
    invertMask: flagField(body, "inpainting_mask_invert", d.invertMask),
  });
}
