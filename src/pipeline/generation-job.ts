/**
 * One generation as plain JSON: the model, its LoRAs, every request field and the engine settings,
 * with the init image and mask as base64 bytes. The CLI, the server, the library and the bench all
 * describe their work this way and hand it to runGenerationJob (run-generation-job.ts), so the same
 * job gives the same PNG bytes in any process it is sent to (a worker thread, another machine).
 * It holds no functions, class instances or typed arrays; `version` says which shape it has.
 */
import { randomInt } from "node:crypto";
import { basename, extname } from "node:path";
import type { GrayImage, RgbImage } from "../image/types.js";
import { LoraTagError, parsePromptTags } from "../lora/lora-tags.js";
import {
  type ArchitectureOverrides,
  parseArchitectureOverrides,
} from "../weights/architecture/architecture-overrides.js";
import {
  type InpaintSettings,
  type Outpaint,
  type PreparedInpainting,
  prepareRequestInpainting,
} from "./a1111-inpainting.js";
import { checkJobHires, hiresSize, type JobHires, secondPassRequest } from "./hires-fix.js";
import { type JobEngine, validateJobEngine } from "./job-engine.js";
import { decodeImage, type EncodedImage } from "./job-image.js";
import { type GenerationRequest, InvalidRequestError, MAX_SIDE, validateRequest } from "./request.js";

/** The shape of GenerationJob this code reads and writes. */
export const GENERATION_JOB_VERSION = 1;

export interface JobModel {
  /** Checkpoint file or pipeline folder, opened as it is. */
  path: string;
  /** The infotext's `Model`; default: the file's stem or the folder's name. */
  name?: string;
  /** AutoV2 short hash (10 hex) when the sender knows it; otherwise a single file is hashed where it runs. */
  hash?: string;
  /** The diffusers file variant to read ("fp16"). */
  variant?: string;
  /** A standalone VAE replacing the model's own (the infotext's `VAE`). */
  vae?: string;
  /** Architecture details a single file cannot tell (`--config`). */
  overrides?: ArchitectureOverrides;
}

export interface JobLora {
  path: string;
  weight: number;
  /** What infotexts call it: the name in its prompt tag, else the file's stem. */
  name: string;
  /** Its `<lora:name:weight>` tag is in the prompt already; otherwise the infotext adds one. */
  inPrompt: boolean;
}

/**
 * Every GenerationRequest field, the images base64-encoded; the prompt as typed, LoRA tags included.
 * `inpaint` and `outpaint` ask for A1111's inpainting around the loop (a1111-inpainting.ts); then
 * the init image and mask may be of any size (the same one), and width × height is the size the
 * loop runs at.
 */
export type JobRequest = Omit<GenerationRequest, "initImage" | "mask"> & {
  initImage?: EncodedImage;
  mask?: EncodedImage;
  /** A1111's mask blur, masked content, "Only masked" and mask inversion. */
  inpaint?: InpaintSettings;
  /** Pixels to add on each side (outpainting); inpaint defaults to OUTPAINT_INPAINT. */
  outpaint?: Outpaint;
};

export interface GenerationJob {
  version: typeof GENERATION_JOB_VERSION;
  model: JobModel;
  loras: JobLora[];
  /** Textual-inversion embeddings folder: a prompt word naming one of its files uses it. */
  embeddingsDir?: string;
  request: JobRequest;
  /** A1111's hires fix on a txt2img request: a second, img2img pass at a larger size (hires-fix.ts). */
  hires?: JobHires;
  engine: JobEngine;
}

/** A1111's random seed: random.randrange(4294967294). */
export function randomSeed(): number {
  return randomInt(0, 4294967294);
}

/** A seed as users give it: -1 or none draws a random one. */
export function seedOrRandom(seed: number | undefined): number {
  return seed === undefined || seed === -1 ? randomSeed() : seed;
}

/** The infotext's `Model` for a path: a checkpoint's stem, a folder's name. */
export function modelNameOf(path: string): string {
  const ext = extname(path);
  const base = basename(path);
  return [".safetensors", ".ckpt"].includes(ext.toLowerCase()) ? base.slice(0, -ext.length) : base;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function fail(message: string): never {
  throw new InvalidRequestError(message);
}

function checkModel(v: unknown): JobModel {
  if (!isObject(v)) fail("job model must be an object with a path");
  if (typeof v.path !== "string" || v.path === "") fail("job model path must be a non-empty string");
  for (const key of ["name", "hash", "variant", "vae"] as const) {
    if (v[key] !== undefined && typeof v[key] !== "string") fail(`job model ${key} must be a string`);
  }
  if (v.overrides !== undefined) parseArchitectureOverrides(v.overrides, "job model overrides");
  return v as unknown as JobModel;
}

function checkLoras(v: unknown): JobLora[] {
  if (!Array.isArray(v)) fail("job loras must be a list");
  return v.map((l, i) => {
    if (!isObject(l) || typeof l.path !== "string" || l.path === "") fail(`job loras[${i}] needs a path`);
    if (typeof l.weight !== "number" || !Number.isFinite(l.weight))
      fail(`job loras[${i}] weight must be a number`);
    if (typeof l.name !== "string") fail(`job loras[${i}] name must be a string`);
    if (typeof l.inPrompt !== "boolean") fail(`job loras[${i}] inPrompt must be true or false`);
    return l as unknown as JobLora;
  });
}

/**
 * The one check of a job, wherever it comes from (a JSON body, a queue, a file): its shape, its
 * engine settings and its request (validateRequest's rules, the images decoded). Bad jobs throw
 * InvalidRequestError with a one-line reason.
 */
export function validateGenerationJob(value: unknown): GenerationJob {
  if (!isObject(value)) fail("a generation job must be a JSON object");
  if (value.version !== GENERATION_JOB_VERSION) {
    fail(
      `generation job version ${JSON.stringify(value.version)} is not supported (this sdlite reads version ${GENERATION_JOB_VERSION})`,
    );
  }
  checkModel(value.model);
  checkLoras(value.loras);
  if (value.embeddingsDir !== undefined && typeof value.embeddingsDir !== "string") {
    fail("job embeddingsDir must be a folder name");
  }
  validateJobEngine(value.engine);
  if (!isObject(value.request)) fail("job request must be an object");
  const request = decodeJobRequest(value.request as unknown as JobRequest);
  if (value.hires !== undefined) {
    const hires = checkJobHires(value.hires);
    if (request.initImage)
      fail("hires fix is for txt2img: a job with an init image cannot have hires settings");
    const size = hiresSize(request.width, request.height, hires);
    if (size.width > MAX_SIDE || size.height > MAX_SIDE) {
      fail(`hires fix size ${size.width}x${size.height}: each side must be at most ${MAX_SIDE} pixels`);
    }
    // the second pass by the rules of any img2img request (its image is only measured here)
    const second = secondPassRequest(request, hires, {
      width: size.width,
      height: size.height,
      data: new Uint8Array(0),
    });
    try {
      validateRequest(second);
    } catch (err) {
      if (err instanceof InvalidRequestError) fail(`hires fix second pass: ${err.message}`);
      throw err;
    }
  }
  return value as unknown as GenerationJob;
}

/**
 * The request as generate() takes it: images decoded, the prompt with its extra-network tags removed
 * (what the text encoder sees). Validated; the prompt's tags must parse.
 */
export function decodeJobRequest(request: JobRequest): GenerationRequest {
  return prepareJobRequest(request).request;
}

/**
 * The request as generate() takes it (decodeJobRequest), with what must happen to each generated
 * image afterwards (A1111's paste-back when the job inpaints the A1111 way) and its infotext entries.
 */
export function prepareJobRequest(request: JobRequest): PreparedInpainting {
  const { initImage, mask, inpaint, outpaint, ...fields } = request;
  if (typeof fields.prompt !== "string") fail("prompt must be a string");
  let prompt: string;
  try {
    prompt = parsePromptTags(fields.prompt).prompt;
  } catch (err) {
    if (err instanceof LoraTagError) fail(`prompt: ${err.message}`);
    throw err;
  }
  const decoded: GenerationRequest = {
    ...fields,
    prompt,
    ...(initImage !== undefined ? { initImage: decodeImage(initImage, 3, "init image") as RgbImage } : {}),
    ...(mask !== undefined ? { mask: decodeImage(mask, 1, "mask") as GrayImage } : {}),
  };
  return prepareRequestInpainting(decoded, inpaint, outpaint);
}
