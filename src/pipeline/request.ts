/** What a caller asks for, and the checks that turn absurd input into a clear error up front. */
import type { GrayImage, RgbImage } from "../image/types.js";
import { resolveSampler } from "../schedulers/registry.js";
import { AUTOMATIC_SCHEDULE } from "../schedulers/sigma-schedules.js";
import type { TimestepSpacing } from "../schedulers/types.js";
import { InvalidRequestError } from "./invalid-request.js";
import { scheduleSteps } from "./prompt-conditioning.js";
import { checkPromptLimits } from "./prompt-limits.js";

export interface GenerationRequest {
  prompt: string;
  negativePrompt?: string;
  /** AUTOMATIC1111 label ("Euler a", "DPM++ 2M Karras", …), diffusers class name or alias. */
  sampler: string;
  /**
   * A1111 "Schedule type" (Automatic, Karras, Exponential, SGM Uniform, Beta, …: see
   * schedulers/sigma-schedules.ts), chosen apart from the sampler; default Automatic, which keeps
   * a schedule folded into the sampler name ("DPM++ 2M Karras").
   */
  schedule?: string;
  steps: number;
  /** Classifier-free guidance scale; ≤ 1 turns guidance off (UNet at batch 1). */
  guidance: number;
  seed: number;
  width: number;
  height: number;
  batchSize?: number;
  batchCount?: number;
  /** "cpu": torch CPU generator (diffusers' default); "nv": Philox, as CUDA / A1111's "NV". */
  rng?: "cpu" | "nv";
  /** AUTOMATIC1111 "Clip skip": 1 = last layer. */
  clipSkip?: number;
  /** img2img / inpainting source, already at width × height. */
  initImage?: RgbImage;
  /** img2img strength in (0, 1]. */
  strength?: number;
  /** Inpainting mask at width × height, white = repaint. */
  mask?: GrayImage;
  /**
   * A1111's latent masked content: the init image's latents under the mask replaced by the seed's
   * noise ("latent noise", inpainting_fill 2) or by zeros ("latent nothing", 3) before noising.
   */
  latentFill?: LatentFill;
  /**
   * A1111's "Pad prompt/negative prompt" (`pad_cond_uncond`, default off): a prompt and negative
   * prompt of different lengths (75-token windows) are padded with empty-prompt windows and run in
   * one UNet batch, instead of two UNet calls at their own lengths.
   */
  padCondUncond?: boolean;
  /** DDIM's eta, TCD's gamma (diffusers' `eta`); default: the sampler's own (DDIM 0, TCD 0.3). */
  eta?: number;
  /** diffusers' timestep_spacing, replacing the model's scheduler config; default: the model's. */
  timestepSpacing?: TimestepSpacing;
}

export type LatentFill = "noise" | "nothing";

export type ValidRequest = Required<
  Omit<GenerationRequest, "initImage" | "mask" | "latentFill" | "eta" | "timestepSpacing">
> &
  Pick<GenerationRequest, "initImage" | "mask" | "latentFill" | "eta" | "timestepSpacing">;

export const TIMESTEP_SPACINGS: readonly TimestepSpacing[] = ["leading", "trailing", "linspace"];

/** Sides above this are refused: memory grows with the square of the side. */
export const MAX_SIDE = 4096;
export const MAX_STEPS = 1000;
export const MAX_BATCH = 64;

export { InvalidRequestError };

function check(ok: boolean, message: string): void {
  if (!ok) throw new InvalidRequestError(message);
}

function isInt(v: unknown, min: number, max: number): boolean {
  return typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;
}

/** The steps prompt schedules are laid over; the plain steps when the sampler is unknown (refused later). */
function promptSteps(sampler: string, steps: number): number {
  try {
    return scheduleSteps(sampler, steps);
  } catch {
    return steps;
  }
}

export function validateRequest(r: GenerationRequest): ValidRequest {
  check(typeof r.prompt === "string", "prompt must be a string");
  check(
    r.negativePrompt === undefined || typeof r.negativePrompt === "string",
    "negative prompt must be a string",
  );
  for (const [name, side] of [
    ["width", r.width],
    ["height", r.height],
  ] as const) {
    check(isInt(side, 8, MAX_SIDE), `${name} must be an integer between 8 and ${MAX_SIDE}, got ${side}`);
    check(
      side % 8 === 0,
      `${name} must be a multiple of 8, got ${side} (try ${Math.max(8, Math.round(side / 8) * 8)})`,
    );
  }
  const schedule = r.schedule ?? AUTOMATIC_SCHEDULE.label;
  try {
    resolveSampler(r.sampler, { scheduleType: schedule });
  } catch (err) {
    throw new InvalidRequestError((err as Error).message);
  }
  check(isInt(r.steps, 1, MAX_STEPS), `steps must be an integer from 1 to ${MAX_STEPS}, got ${r.steps}`);
  check(
    Number.isFinite(r.guidance) && r.guidance >= 0,
    `guidance (CFG scale) must be a number >= 0, got ${r.guidance}`,
  );
  check(Number.isSafeInteger(r.seed) && r.seed >= 0, `seed must be a non-negative integer, got ${r.seed}`);
  const batchSize = r.batchSize ?? 1;
  const batchCount = r.batchCount ?? 1;
  check(
    isInt(batchSize, 1, MAX_BATCH),
    `batch size must be an integer from 1 to ${MAX_BATCH}, got ${batchSize}`,
  );
  check(isInt(batchCount, 1, 10_000), `batch count must be an integer from 1 to 10000, got ${batchCount}`);
  const rng = r.rng ?? "cpu";
  check(rng === "cpu" || rng === "nv", `rng must be "cpu" or "nv", got ${JSON.stringify(rng)}`);
  const clipSkip = r.clipSkip ?? 1;
  check(isInt(clipSkip, 1, 12), `clip skip must be an integer from 1 to 12, got ${clipSkip}`);
  const strength = r.strength ?? (r.initImage ? 0.75 : 1);
  check(
    Number.isFinite(strength) && strength > 0 && strength <= 1,
    `strength must be in (0, 1], got ${strength}`,
  );
  if (r.initImage && isInt(r.steps, 1, MAX_STEPS) && strength > 0 && strength <= 1) {
    check(
      Math.trunc(r.steps * strength) >= 1,
      `img2img strength ${strength} with ${r.steps} steps leaves no denoising step (int(steps × strength) = 0); raise the strength or the steps`,
    );
  }
  const padCondUncond = r.padCondUncond ?? false;
  check(typeof padCondUncond === "boolean", `padCondUncond must be true or false, got ${padCondUncond}`);
  check(
    r.eta === undefined || (Number.isFinite(r.eta) && r.eta >= 0 && r.eta <= 1),
    `eta must be a number from 0 to 1, got ${r.eta}`,
  );
  check(
    r.timestepSpacing === undefined || TIMESTEP_SPACINGS.includes(r.timestepSpacing),
    `timestep spacing must be one of ${TIMESTEP_SPACINGS.join(", ")}, got ${JSON.stringify(r.timestepSpacing)}`,
  );
  checkPromptLimits(r.prompt, r.negativePrompt ?? "", promptSteps(r.sampler, r.steps));
  if (r.mask) check(r.initImage !== undefined, "a mask needs an init image to inpaint");
  if (r.latentFill !== undefined) {
    check(
      r.latentFill === "noise" || r.latentFill === "nothing",
      `latentFill must be "noise" or "nothing", got ${JSON.stringify(r.latentFill)}`,
    );
    check(r.mask !== undefined, "a latent fill needs a mask");
  }
  for (const [name, img] of [
    ["init image", r.initImage],
    ["mask", r.mask],
  ] as const) {
    if (img) {
      check(
        img.width === r.width && img.height === r.height,
        `${name} is ${img.width}x${img.height} but the requested size is ${r.width}x${r.height}`,
      );
    }
  }
  return {
    prompt: r.prompt,
    negativePrompt: r.negativePrompt ?? "",
    sampler: r.sampler,
    schedule,
    steps: r.steps,
    guidance: r.guidance,
    seed: r.seed,
    width: r.width,
    height: r.height,
    batchSize,
    batchCount,
    rng,
    clipSkip,
    strength,
    padCondUncond,
    ...(r.eta !== undefined ? { eta: r.eta } : {}),
    ...(r.timestepSpacing !== undefined ? { timestepSpacing: r.timestepSpacing } : {}),
    initImage: r.initImage,
    mask: r.mask,
    ...(r.latentFill !== undefined ? { latentFill: r.latentFill } : {}),
  };
}
