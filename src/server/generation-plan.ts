/**
 * An A1111 txt2img/img2img body turned into a checked plan *before* it is queued, so a bad request
 * is answered at once with a 4xx that says what is wrong, and a queued job only fails for reasons
 * no check could foresee. What depends on the moment the job runs (the loaded model, the Clip skip
 * option) is resolved by the job itself.
 */
import { maskToGray, toRgb } from "../image/color.js";
import { resizeGray, resizeRgb } from "../image/resize.js";
import type { GrayImage, RgbImage } from "../image/types.js";
import type { LoraCatalog } from "../lora/lora-catalog.js";
import type { InpaintSettings } from "../pipeline/a1111-inpainting.js";
import {
  decodeJobRequest,
  GENERATION_JOB_VERSION,
  type JobLora,
  type JobRequest,
  randomSeed,
  validateGenerationJob,
} from "../pipeline/generation-job.js";
import { checkJobHires, hiresSize, type JobHires } from "../pipeline/hires-fix.js";
import { encodeImage } from "../pipeline/job-image.js";
import { resolveJobLoras } from "../pipeline/job-loras.js";
import { latentUpscaleMode } from "../pipeline/latent-upscale.js";
import { InvalidRequestError, MAX_SIDE } from "../pipeline/request.js";
import { type ResolvedSampler, resolveSampler } from "../schedulers/registry.js";
import type { UpscalerCatalog } from "../upscale/upscaler-catalog.js";
import { ignoredFields } from "./a1111-fields.js";
import { decodeBase64Image } from "./base64-image.js";
import { HttpError, invalidRequest } from "./http-error.js";
import { inpaintSettingsFromBody } from "./inpaint-fields.js";
import type { CheckpointEntry, ModelCatalog } from "./model-catalog.js";

export type GenerationKind = "txt2img" | "img2img";

export interface GenerationLimits {
  /** Most pixels per image (width × height). */
  maxPixels: number;
  maxSteps: number;
  /** Most images per request (batch_size × n_iter). */
  maxImages: number;
}

export const DEFAULT_LIMITS: GenerationLimits = { maxPixels: 2048 * 2048, maxSteps: 150, maxImages: 16 };

export interface GenerationPlan {
  readonly kind: GenerationKind;
  /**
   * The job's request: the prompt as sent (LoRA tags in it, as A1111 keeps them in the infotext),
   * the seed drawn, the images at the generation size; Clip skip is the job's to settle when it runs.
   */
  readonly request: JobRequest;
  /** The prompt's LoRA tags found in the LoRA folder. */
  readonly loras: readonly JobLora[];
  /** txt2img with enable_hr: A1111's hires fix. */
  readonly hires?: JobHires;
  readonly sampler: ResolvedSampler;
  /** From override_settings; otherwise the option at run time. */
  readonly clipSkip?: number;
  /** pad_cond_uncond from override_settings; otherwise the option at run time. */
  readonly padCondUncond?: boolean;
  /** From override_settings; otherwise the loaded model at run time. */
  readonly model?: CheckpointEntry;
  readonly sendImages: boolean;
  readonly styles: readonly string[];
  readonly ignoredFields: readonly string[];
  readonly warnings: readonly string[];
  /** The request echoed back (A1111 `parameters`), images left out. */
  readonly parameters: Readonly<Record<string, unknown>>;
}

export interface PlanContext {
  readonly models: ModelCatalog;
  readonly loras: LoraCatalog;
  readonly limits: GenerationLimits;
  /** The server-wide randn_source option, when override_settings does not set one. */
  readonly randnSource: string;
  /** Where hr_upscaler names are looked up (ESRGAN-family files); resamplers and Latent modes need none. */
  readonly upscalers?: UpscalerCatalog;
}

type Body = Readonly<Record<string, unknown>>;

/** A1111's randn_source: "GPU" and "NV" draw as CUDA's Philox does, "CPU" as torch on the CPU. */
export function rngFromRandnSource(value: unknown): "cpu" | "nv" {
  const v = String(value ?? "CPU").toUpperCase();
  if (v === "CPU") return "cpu";
  if (v === "GPU" || v === "NV") return "nv";
  throw invalidRequest(`randn_source must be "CPU", "GPU" or "NV", got ${JSON.stringify(value)}`);
}

function intField(body: Body, key: string, fallback: number): number {
  const v = body[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v)) throw invalidRequest(`${key} must be an integer`);
  return v;
}

function numberField(body: Body, key: string, fallback: number): number {
  const v = body[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "number" || !Number.isFinite(v)) throw invalidRequest(`${key} must be a number`);
  return v;
}

function stringField(body: Body, key: string, fallback: string): string {
  const v = body[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "string") throw invalidRequest(`${key} must be a string`);
  return v;
}

/** A1111 makes sides multiples of 8 by rounding down; anything outside the limits is refused. */
function checkedSize(body: Body, limits: GenerationLimits): { width: number; height: number } {
  const raw = { width: intField(body, "width", 512), height: intField(body, "height", 512) };
  for (const [name, side] of Object.entries(raw)) {
    if (side < 8) throw invalidRequest(`${name} must be at least 8 pixels, got ${side}`);
  }
  const width = raw.width - (raw.width % 8);
  const height = raw.height - (raw.height % 8);
  if (width > MAX_SIDE || height > MAX_SIDE) {
    throw invalidRequest(`${width}x${height}: each side must be at most ${MAX_SIDE} pixels`);
  }
  if (width * height > limits.maxPixels) {
    const side = Math.floor(Math.sqrt(limits.maxPixels));
    throw invalidRequest(
      `${width}x${height} is too large: this server allows at most ${limits.maxPixels} pixels per image (${side}x${side})`,
    );
  }
  return { width, height };
}

/**
 * The sampler and, if it fits, the A1111 schedule. Where A1111 goes on regardless (an unknown
 * schedule falls back to Automatic, a timestep sampler such as DDIM ignores it, a schedule folded
 * into the sampler name wins), so does this, and says so in the warnings.
 */
function resolveSamplerFields(body: Body, ignored: string[], warnings: string[]): ResolvedSampler {
  const name = stringField(body, "sampler_name", "") || stringField(body, "sampler_index", "") || "Euler";
  let base: ResolvedSampler;
  try {
    base = resolveSampler(name);
  } catch (err) {
    // A1111 answers an unknown sampler with 404 "Sampler not found"
    throw new HttpError(404, `Sampler not found: ${(err as Error).message}`);
  }
  const schedule = stringField(body, "scheduler", "");
  if (schedule === "") return base;
  try {
    return resolveSampler(name, { scheduleType: schedule });
  } catch (err) {
    ignored.push("scheduler");
    warnings.push(`scheduler ignored: ${(err as Error).message}; used ${base.scheduleType}`);
    return base;
  }
}

function resolveSeed(body: Body): number {
  const seed = intField(body, "seed", -1);
  if (seed < 0) return randomSeed();
  if (!Number.isSafeInteger(seed)) throw invalidRequest(`seed must be an integer below 2^53, got ${seed}`);
  return seed;
}

interface Overrides {
  model?: CheckpointEntry;
  clipSkip?: number;
  padCondUncond?: boolean;
  randnSource?: unknown;
}

function readOverrides(body: Body, models: ModelCatalog, ignored: string[]): Overrides {
  const settings = body.override_settings;
  if (settings === undefined || settings === null) return {};
  if (typeof settings !== "object" || Array.isArray(settings)) {
    throw invalidRequest("override_settings must be an object");
  }
  const out: Overrides = {};
  for (const [key, value] of Object.entries(settings as Record<string, unknown>)) {
    if (key === "sd_model_checkpoint") {
      if (value === null || value === "") continue;
      const model = models.find(String(value));
      if (!model)
        throw new HttpError(404, `model ${JSON.stringify(value)} not found (see /sdapi/v1/sd-models)`);
      out.model = model;
    } else if (key === "CLIP_stop_at_last_layers") {
      out.clipSkip = checkedClipSkip(value);
    } else if (key === "randn_source") {
      out.randnSource = value;
    } else if (key === "pad_cond_uncond") {
      out.padCondUncond = checkedPadCondUncond(value);
    } else ignored.push(`override_settings.${key}`);
  }
  return out;
}

export function checkedClipSkip(value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 12) {
    throw invalidRequest(
      `CLIP_stop_at_last_layers must be an integer from 1 to 12, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

export function checkedPadCondUncond(value: unknown): boolean {
  if (typeof value !== "boolean") {
    throw invalidRequest(`pad_cond_uncond must be true or false, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * The init image (and mask) of an img2img body. Without a mask the image is scaled to width × height
 * (resize_mode 0, "Just resize": PIL's Lanczos, images.resize_image). With one, both keep the init
 * image's size (the mask scaled to it) and A1111's inpainting fields say what the job does with them.
 */
function readInitImages(body: Body, width: number, height: number, ignored: string[]) {
  const list = body.init_images;
  if (!Array.isArray(list) || list.length === 0) {
    throw invalidRequest("img2img needs init_images: a list with one base64 image");
  }
  if (list.length > 1) ignored.push("init_images[1:]");
  const init = decodeBase64Image(list[0], "init_images[0]");
  let image = toRgb(init.pixels); // transparency over white, as A1111's img2img_background_color
  if (body.mask === undefined || body.mask === null || body.mask === "") {
    if (image.width !== width || image.height !== height) image = resizeRgb(image, width, height);
    return { image };
  }
  let mask = maskToGray(decodeBase64Image(body.mask, "mask").pixels);
  if (mask.width !== image.width || mask.height !== image.height) {
    mask = resizeGray(mask, image.width, image.height);
  }
  return { image, mask, inpaint: inpaintSettingsFromBody(body) };
}

/** "Use same sampler" and friends: A1111's UI values for "as the first pass". */
function optionalName(body: Body, key: string, same: string): string | undefined {
  const v = stringField(body, key, "");
  return v === "" || v === same ? undefined : v;
}

/** hr_upscaler as the job names it: a Latent mode, a resampler, or a file of the upscalers folder. */
function hiresUpscalerField(
  body: Body,
  upscalers: UpscalerCatalog | undefined,
): Pick<JobHires, "upscaler" | "upscalerPath"> {
  const name = stringField(body, "hr_upscaler", "");
  if (name === "") return {};
  const latent = latentUpscaleMode(name);
  if (latent) return { upscaler: latent };
  const entry = upscalers?.find(name);
  if (!entry)
    throw invalidRequest(
      `hr_upscaler: could not find upscaler named ${JSON.stringify(name)} (see /sdapi/v1/upscalers)`,
    );
  if (entry.problem) throw invalidRequest(`hr_upscaler ${entry.name}: ${entry.problem}`);
  return { upscaler: entry.name, ...(entry.path ? { upscalerPath: entry.path } : {}) };
}

/** A1111's enable_hr fields as the job's hires settings; checked against the server's limits. */
function readHires(body: Body, width: number, height: number, context: PlanContext): JobHires {
  const { limits } = context;
  const steps = intField(body, "hr_second_pass_steps", 0);
  if (steps < 0 || steps > limits.maxSteps) {
    throw invalidRequest(`hr_second_pass_steps must be from 0 to ${limits.maxSteps}, got ${steps}`);
  }
  const strength = numberField(body, "denoising_strength", 0.75);
  if (!(strength > 0 && strength <= 1)) {
    throw invalidRequest(`denoising_strength must be in (0, 1], got ${strength}`);
  }
  const sampler = optionalName(body, "hr_sampler_name", "Use same sampler");
  if (sampler !== undefined) {
    try {
      resolveSampler(sampler);
    } catch (err) {
      throw new HttpError(404, `Sampler not found: ${(err as Error).message}`);
    }
  }
  const schedule = optionalName(body, "hr_scheduler", "Use same scheduler");
  const prompt = stringField(body, "hr_prompt", "");
  const negativePrompt = stringField(body, "hr_negative_prompt", "");
  const hires: JobHires = {
    ...hiresUpscalerField(body, context.upscalers),
    scale: numberField(body, "hr_scale", 2),
    resizeX: intField(body, "hr_resize_x", 0),
    resizeY: intField(body, "hr_resize_y", 0),
    steps,
    denoisingStrength: strength,
    ...(sampler !== undefined ? { sampler } : {}),
    ...(schedule !== undefined ? { schedule } : {}),
    ...(prompt !== "" ? { prompt } : {}),
    ...(negativePrompt !== "" ? { negativePrompt } : {}),
  };
  try {
    checkJobHires(hires);
    const size = hiresSize(width, height, hires);
    if (size.width * size.height > limits.maxPixels || size.width > MAX_SIDE || size.height > MAX_SIDE) {
      throw invalidRequest(
        `hires fix size ${size.width}x${size.height} is too large: this server allows at most ${limits.maxPixels} pixels per image and ${MAX_SIDE} per side`,
      );
    }
  } catch (err) {
    if (err instanceof InvalidRequestError) throw invalidRequest(err.message);
    throw err;
  }
  return hires;
}

export function planGeneration(kind: GenerationKind, body: Body, context: PlanContext): GenerationPlan {
  const { limits } = context;
  const ignored = ignoredFields(body);
  const warnings: string[] = [];
  const prompt = stringField(body, "prompt", "");
  const negativePrompt = stringField(body, "negative_prompt", "");
  const steps = intField(body, "steps", 50);
  if (steps < 1 || steps > limits.maxSteps) {
    throw invalidRequest(`steps must be from 1 to ${limits.maxSteps}, got ${steps}`);
  }
  const cfgScale = numberField(body, "cfg_scale", 7);
  if (cfgScale < 0 || cfgScale > 100)
    throw invalidRequest(`cfg_scale must be from 0 to 100, got ${cfgScale}`);
  const batchSize = intField(body, "batch_size", 1);
  const nIter = intField(body, "n_iter", 1);
  if (batchSize < 1 || nIter < 1) throw invalidRequest("batch_size and n_iter must be at least 1");
  if (batchSize * nIter > limits.maxImages) {
    throw invalidRequest(
      `batch_size × n_iter = ${batchSize * nIter}: this server makes at most ${limits.maxImages} images per request`,
    );
  }
  const { width, height } = checkedSize(body, limits);
  const sampler = resolveSamplerFields(body, ignored, warnings);
  const overrides = readOverrides(body, context.models, ignored);
  const rng = rngFromRandnSource(overrides.randnSource ?? context.randnSource);
  const { loras, warnings: loraWarnings } = resolveJobLoras(prompt, context.loras);
  warnings.push(...loraWarnings);
  const sendImages = body.send_images !== false;
  const styles = Array.isArray(body.styles) ? body.styles.map(String) : [];

  let denoisingStrength: number | undefined;
  let init: { image: RgbImage; mask?: GrayImage; inpaint?: InpaintSettings } | undefined;
  if (kind === "img2img") {
    denoisingStrength = numberField(body, "denoising_strength", 0.75);
    if (!(denoisingStrength > 0 && denoisingStrength <= 1)) {
      throw invalidRequest(`denoising_strength must be in (0, 1], got ${denoisingStrength}`);
    }
    init = readInitImages(body, width, height, ignored);
  }
  const hires =
    kind === "txt2img" && body.enable_hr === true ? readHires(body, width, height, context) : undefined;
  // A1111's eta: DDIM's eta, TCD's gamma here (the σ samplers take none)
  let eta: number | undefined;
  if (body.eta !== undefined && body.eta !== null && ["DDIM", "TCD"].includes(sampler.sampler)) {
    eta = numberField(body, "eta", 0);
    if (!(eta >= 0 && eta <= 1)) throw invalidRequest(`eta must be from 0 to 1, got ${eta}`);
    ignored.splice(0, ignored.length, ...ignored.filter((k) => k !== "eta"));
  }
  const parameters: Record<string, unknown> = { ...body };
  if (kind === "img2img") {
    // A1111 clears the images from the echo
    parameters.init_images = null;
    parameters.mask = null;
  }
  const request: JobRequest = {
    prompt,
    negativePrompt,
    sampler: sampler.sampler,
    schedule: sampler.scheduleType,
    steps,
    guidance: cfgScale,
    seed: resolveSeed(body),
    width,
    height,
    batchSize,
    batchCount: nIter,
    rng,
    ...(eta !== undefined ? { eta } : {}),
    ...(denoisingStrength !== undefined ? { strength: denoisingStrength } : {}),
    ...(init ? { initImage: encodeImage(init.image, 3) } : {}),
    ...(init?.mask ? { mask: encodeImage(init.mask, 1) } : {}),
    ...(init?.inpaint ? { inpaint: init.inpaint } : {}),
  };
  const decoded = decodeJobRequest(request); // refused now, not once queued
  if (hires) {
    try {
      validateGenerationJob({
        version: GENERATION_JOB_VERSION,
        model: { path: "-" },
        loras: [],
        request: { ...request, prompt: decoded.prompt },
        hires,
        engine: {},
      });
    } catch (err) {
      if (err instanceof InvalidRequestError) throw invalidRequest(err.message);
      throw err;
    }
  }
  return {
    kind,
    request,
    loras,
    ...(hires ? { hires } : {}),
    sampler,
    clipSkip: overrides.clipSkip,
    padCondUncond: overrides.padCondUncond,
    model: overrides.model,
    sendImages,
    styles,
    ignoredFields: [...new Set(ignored)].sort(),
    warnings,
    parameters,
  };
}
