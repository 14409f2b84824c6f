/**
 * A1111's hires fix (txt2img `enable_hr`) as a part of a GenerationJob: the first pass is an
 * ordinary txt2img; its result is enlarged (an image upscaler on the decoded image, or a "Latent"
 * mode on the latents, as A1111's StableDiffusionProcessingTxt2Img.sample_hr_pass), and the second
 * pass is an ordinary img2img of that at the larger size, with each image's own seed. This file
 * holds the JSON settings, their checks, the sizes (calculate_target_resolution) and the infotext
 * entries; run-generation-job.ts runs the passes (hires-pass.ts).
 */
import { resolveSampler } from "../schedulers/registry.js";
import { InvalidRequestError } from "./invalid-request.js";
import { LATENT_UPSCALE_MODES, type LatentUpscaleMode, latentUpscaleMode } from "./latent-upscale.js";
import { type GenerationRequest, MAX_SIDE, MAX_STEPS } from "./request.js";

/** A1111's hr_* fields, as JSON. */
export interface JobHires {
  /**
   * A1111's hr_upscaler: a Latent mode ("Latent", "Latent (nearest)", …), "Lanczos", "Nearest",
   * "None", or the name of the ESRGAN-family file in `upscalerPath`. Unset: "Latent" (A1111's
   * latent_upscale_default_mode), and the infotext names none.
   */
  upscaler?: string;
  /** The weights file (.pth, .safetensors) of the model `upscaler` names. */
  upscalerPath?: string;
  /** hr_scale (default 2); ignored when resizeX or resizeY is set. */
  scale?: number;
  /** hr_resize_x / hr_resize_y: the final size (0 or unset: from the other side, or from `scale`). */
  resizeX?: number;
  resizeY?: number;
  /** hr_second_pass_steps (0 or unset: the first pass's steps). */
  steps?: number;
  /** The second pass's img2img strength (A1111's txt2img denoising_strength, default 0.75). */
  denoisingStrength?: number;
  /** hr_sampler_name / hr_scheduler (unset: the first pass's). */
  sampler?: string;
  schedule?: string;
  /** hr_prompt / hr_negative_prompt (unset or "": the first pass's), LoRA tags as typed. */
  prompt?: string;
  negativePrompt?: string;
}

export const DEFAULT_HIRES_SCALE = 2;
export const DEFAULT_HIRES_STRENGTH = 0.75;
/** Latent pixels (A1111's opt_f). */
const LATENT_FACTOR = 8;

/** The sizes of a hires run (A1111's hr_upscale_to_x/y and truncate_x/y). */
export interface HiresSize {
  /** What the first image (or its latents, /8) is enlarged to. */
  readonly upscaleTo: { readonly width: number; readonly height: number };
  /** Latent columns and rows cut off, split as A1111 does (the smaller half first). */
  readonly truncate: { readonly x: number; readonly y: number };
  /** The second pass's and the final image's size: the kept latents × 8. */
  readonly width: number;
  readonly height: number;
}

function fail(message: string): never {
  throw new InvalidRequestError(message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** How the first pass is enlarged: a latent mode, or an image upscaler by name (and file). */
export type HiresUpscale =
  | { readonly kind: "latent"; readonly name: string; readonly mode: LatentUpscaleMode }
  | { readonly kind: "image"; readonly name: string; readonly path?: string };

export function hiresUpscale(hires: JobHires): HiresUpscale {
  const name = hires.upscaler ?? "Latent";
  const latent = latentUpscaleMode(name);
  if (latent) return { kind: "latent", name: latent, mode: LATENT_UPSCALE_MODES[latent] };
  return { kind: "image", name, ...(hires.upscalerPath ? { path: hires.upscalerPath } : {}) };
}

/** calculate_target_resolution, the sides then kept to whole latents. */
export function hiresSize(width: number, height: number, hires: JobHires): HiresSize {
  const resizeX = hires.resizeX ?? 0;
  const resizeY = hires.resizeY ?? 0;
  let upscaleTo: { width: number; height: number };
  let truncate = { x: 0, y: 0 };
  if (resizeX === 0 && resizeY === 0) {
    const scale = hires.scale ?? DEFAULT_HIRES_SCALE;
    upscaleTo = { width: Math.trunc(width * scale), height: Math.trunc(height * scale) };
  } else if (resizeY === 0) {
    upscaleTo = { width: resizeX, height: Math.floor((resizeX * height) / width) };
  } else if (resizeX === 0) {
    upscaleTo = { width: Math.floor((resizeY * width) / height), height: resizeY };
  } else {
    // cover the asked size keeping the aspect ratio, then cut the overhang off
    upscaleTo =
      width / height < resizeX / resizeY
        ? { width: resizeX, height: Math.floor((resizeX * height) / width) }
        : { width: Math.floor((resizeY * width) / height), height: resizeY };
    truncate = {
      x: Math.floor((upscaleTo.width - resizeX) / LATENT_FACTOR),
      y: Math.floor((upscaleTo.height - resizeY) / LATENT_FACTOR),
    };
  }
  const latentWidth = Math.floor(upscaleTo.width / LATENT_FACTOR) - truncate.x;
  const latentHeight = Math.floor(upscaleTo.height / LATENT_FACTOR) - truncate.y;
  if (latentWidth < 1 || latentHeight < 1) {
    fail(
      `hires fix: ${width}x${height} enlarged to ${upscaleTo.width}x${upscaleTo.height} is under 8 pixels on a side`,
    );
  }
  return {
    upscaleTo,
    truncate,
    width: latentWidth * LATENT_FACTOR,
    height: latentHeight * LATENT_FACTOR,
  };
}

/** The shape check of a job's `hires` (the second pass's request is checked by validateRequest). */
export function checkJobHires(value: unknown): JobHires {
  if (!isObject(value)) fail("job hires must be an object");
  for (const key of ["upscaler", "upscalerPath", "sampler", "schedule", "prompt", "negativePrompt"]) {
    if (value[key] !== undefined && typeof value[key] !== "string") fail(`hires ${key} must be a string`);
  }
  const scale = value.scale;
  if (
    scale !== undefined &&
    !(typeof scale === "number" && Number.isFinite(scale) && scale > 0 && scale <= 8)
  ) {
    fail(`hires scale must be a number above 0 and at most 8, got ${JSON.stringify(scale)}`);
  }
  for (const key of ["resizeX", "resizeY"]) {
    const v = value[key];
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_SIDE)) {
      fail(`hires ${key} must be an integer from 0 to ${MAX_SIDE}, got ${JSON.stringify(v)}`);
    }
  }
  const steps = value.steps;
  if (
    steps !== undefined &&
    !(Number.isInteger(steps) && (steps as number) >= 0 && (steps as number) <= MAX_STEPS)
  ) {
    fail(`hires steps must be an integer from 0 to ${MAX_STEPS}, got ${JSON.stringify(steps)}`);
  }
  const strength = value.denoisingStrength;
  if (
    strength !== undefined &&
    !(typeof strength === "number" && Number.isFinite(strength) && strength > 0 && strength <= 1)
  ) {
    fail(`hires denoising strength must be in (0, 1], got ${JSON.stringify(strength)}`);
  }
  const upscale = hiresUpscale(value as JobHires);
  if (
    upscale.kind === "image" &&
    !upscale.path &&
    !["none", "lanczos", "nearest"].includes(upscale.name.toLowerCase())
  ) {
    fail(
      `hires upscaler "${upscale.name}" is none of ${Object.keys(LATENT_UPSCALE_MODES).join(", ")}, None, Lanczos, Nearest, and no weights file was given for it`,
    );
  }
  return value as JobHires;
}

/** A1111's "Use same scheduler": the first pass's schedule type, where the second pass's sampler takes it. */
function sameSchedule(sampler: string, schedule: string | undefined): string | undefined {
  try {
    resolveSampler(sampler, { scheduleType: schedule });
    return schedule;
  } catch {
    return undefined;
  }
}

/**
 * The second pass as an ordinary img2img request: the first pass's settings at the hires size, the
 * hires sampler, steps, prompts and strength, one image (one seed) at a time; `initImage` is the
 * enlarged first image (for a latent mode, any image of that size: the latents replace it).
 */
export function secondPassRequest(
  first: GenerationRequest,
  hires: JobHires,
  initImage: NonNullable<GenerationRequest["initImage"]>,
): GenerationRequest {
  const { mask: _mask, ...rest } = first;
  return {
    ...rest,
    prompt: hires.prompt || first.prompt,
    negativePrompt: hires.negativePrompt || first.negativePrompt,
    sampler: hires.sampler || first.sampler,
    schedule: hires.schedule || sameSchedule(hires.sampler || first.sampler, first.schedule),
    steps: hires.steps || first.steps,
    width: initImage.width,
    height: initImage.height,
    batchSize: 1,
    batchCount: 1,
    initImage,
    strength: hires.denoisingStrength ?? DEFAULT_HIRES_STRENGTH,
  };
}

/**
 * The infotext entries A1111 adds for the hires fix, in its order (processing.py: Hires sampler,
 * Hires prompt, Hires negative prompt, then Hires upscale or Hires resize, Hires steps, Hires
 * upscaler; the sampler adds Hires schedule type later); `Denoising strength` has its own place.
 */
export function hiresInfotextEntries(
  first: GenerationRequest,
  hires: JobHires,
): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  if (hires.sampler && hires.sampler !== first.sampler) out["Hires sampler"] = hires.sampler;
  if (hires.prompt && hires.prompt !== first.prompt) out["Hires prompt"] = hires.prompt;
  if (hires.negativePrompt && hires.negativePrompt !== (first.negativePrompt ?? ""))
    out["Hires negative prompt"] = hires.negativePrompt;
  if ((hires.resizeX ?? 0) === 0 && (hires.resizeY ?? 0) === 0) {
    out["Hires upscale"] = hires.scale ?? DEFAULT_HIRES_SCALE;
  } else {
    out["Hires resize"] = `${hires.resizeX ?? 0}x${hires.resizeY ?? 0}`;
  }
  if (hires.steps) out["Hires steps"] = hires.steps;
  if (hires.upscaler !== undefined) out["Hires upscaler"] = hires.upscaler;
  // A1111's sampler writes this one when the second pass sets up its schedule, after the rest
  if (hires.schedule && hires.schedule !== (first.schedule ?? "Automatic"))
    out["Hires schedule type"] = hires.schedule;
  return out;
}
