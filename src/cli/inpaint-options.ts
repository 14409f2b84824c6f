/**
 * `sdlite generate`'s A1111 inpainting and outpainting options → the job's `inpaint` and `outpaint`:
 * `--outpaint left:128,down:64` (sides left, right, up, down; pixels), `--inpainting-fill`
 * (fill | original | latent-noise | latent-nothing, or A1111's index 0..3), `--mask-blur N`,
 * `--inpaint-full-res` ("Only masked") with `--inpaint-padding N`, `--invert-mask`. Unset ones take
 * A1111's img2img tab defaults (blur 4, original, whole picture, padding 32); outpainting fills by
 * default, as A1111's "Poor man's outpainting".
 */

import type { OutpaintExtension } from "../image/outpaint-canvas.js";
import {
  A1111_UI_INPAINT,
  checkInpaintSettings,
  checkOutpaint,
  type InpaintSettings,
  MASKED_CONTENTS,
  type MaskedContent,
  OUTPAINT_INPAINT,
} from "../pipeline/a1111-inpainting.js";
import { InvalidRequestError } from "../pipeline/request.js";

export interface InpaintCliOptions {
  outpaint?: string;
  inpaintingFill?: string;
  maskBlur?: number;
  inpaintFullRes?: boolean;
  inpaintPadding?: number;
  invertMask?: boolean;
}

/** "left:128,down:64" → the pixels per side (a side named twice adds up). */
export function parseOutpaintArg(text: string): OutpaintExtension {
  const sides: Record<string, number> = {};
  for (const part of text.split(",")) {
    const m = /^\s*(left|right|up|down)\s*:\s*(\d+)\s*$/i.exec(part);
    if (!m) {
      throw new InvalidRequestError(
        `--outpaint ${JSON.stringify(text)}: write sides and pixels like left:128,down:64 (sides left, right, up, down)`,
      );
    }
    const side = m[1].toLowerCase();
    sides[side] = (sides[side] ?? 0) + Number(m[2]);
  }
  return checkOutpaint(sides);
}

/** fill | original | latent-noise | latent-nothing (spaces or dashes), or A1111's 0..3. */
export function parseMaskedContent(text: string): MaskedContent {
  const t = text
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, "-");
  if (/^[0-3]$/.test(t)) return MASKED_CONTENTS[Number(t)];
  if ((MASKED_CONTENTS as readonly string[]).includes(t)) return t as MaskedContent;
  throw new InvalidRequestError(
    `--inpainting-fill ${JSON.stringify(text)}: use fill, original, latent-noise or latent-nothing (A1111's 0..3)`,
  );
}

/** Whether any A1111 inpainting option was given (else a mask inpaints diffusers' way). */
export function asksForA1111Inpainting(o: InpaintCliOptions): boolean {
  return (
    o.outpaint !== undefined ||
    o.inpaintingFill !== undefined ||
    o.maskBlur !== undefined ||
    o.inpaintFullRes === true ||
    o.inpaintPadding !== undefined ||
    o.invertMask === true
  );
}

/** The job's inpaint settings, or undefined when none of the options was given. */
export function inpaintSettings(o: InpaintCliOptions): InpaintSettings | undefined {
  if (!asksForA1111Inpainting(o)) return undefined;
  const base = o.outpaint !== undefined ? OUTPAINT_INPAINT : A1111_UI_INPAINT;
  return checkInpaintSettings({
    ...base,
    ...(o.maskBlur !== undefined ? { maskBlurX: o.maskBlur, maskBlurY: o.maskBlur } : {}),
    ...(o.inpaintingFill !== undefined ? { maskedContent: parseMaskedContent(o.inpaintingFill) } : {}),
    ...(o.inpaintFullRes ? { fullRes: true } : {}),
    ...(o.inpaintPadding !== undefined ? { fullResPadding: o.inpaintPadding } : {}),
    ...(o.invertMask ? { invertMask: true } : {}),
  });
}
