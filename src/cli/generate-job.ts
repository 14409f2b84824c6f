/**
 * `sdlite generate`'s options → a GenerationJob: everything checked that can be checked before a
 * download, the seed drawn, the init image and mask read, the prompt's `<lora:name:weight>` tags
 * looked up in --lora-dir, TAESD and the model resolved (hub ids fetched), the speed preset applied.
 */
import { existsSync } from "node:fs";
import { basename, extname, join, resolve } from "node:path";
import { oneShotLowMemory, withSpeedPreset } from "../engine/speed-preset.js";
import { type DownloadProgress, sdliteModelsDir } from "../hub/index.js";
import { LoraCatalog } from "../lora/lora-catalog.js";
import {
  decodeJobRequest,
  GENERATION_JOB_VERSION,
  type GenerationJob,
  type JobRequest,
  seedOrRandom,
} from "../pipeline/generation-job.js";
import { checkJobHires, type JobHires } from "../pipeline/hires-fix.js";
import { speedSettings } from "../pipeline/job-engine.js";
import { encodeImage } from "../pipeline/job-image.js";
import { type LoraFolder, resolveJobLoras } from "../pipeline/job-loras.js";
import { LATENT_UPSCALE_MODES, latentUpscaleMode } from "../pipeline/latent-upscale.js";
import { applyRecipe, findRecipe } from "../pipeline/recipes.js";
import { InvalidRequestError, validateRequest } from "../pipeline/request.js";
import { onnxruntimeNode } from "../runtime/onnxruntime-node.js";
import { resolveSampler } from "../schedulers/registry.js";
import { resolveSchedule } from "../schedulers/sigma-schedules.js";
import { classicUpscaler } from "../upscale/classic-upscalers.js";
import { UpscalerCatalog } from "../upscale/upscaler-catalog.js";
import { readOverridesFile } from "../weights/architecture/ldm-yaml-config.js";
import type { GenerateOptions } from "./commands/generate.js";
import { chooseDevice, type DeviceChoice, describeDevice } from "./device-choice.js";
import { asksForA1111Inpainting, inpaintSettings, parseOutpaintArg } from "./inpaint-options.js";
import { type InputImages, loadInputImages } from "./input-images.js";
import { parseLoraArg } from "./parse-lora-arg.js";
import type { ProgressReporter } from "./progress-reporter.js";
import {
  DEFAULT_MODEL_DEFAULTS,
  GENERIC_DEFAULTS,
  type ModelDefaults,
  parseRepoSpec,
  type ResolvedModel,
  resolveModel,
} from "./resolve-model.js";
import { DEFAULT_TAESD_REPO, fastPresetTaesd, type ResolvedTaesd, resolveTaesd } from "./resolve-taesd.js";

/** The job and what only the command line shows of how it came about. */
export interface CliJob {
  readonly job: GenerationJob;
  readonly resolved: ResolvedModel;
  /** Set when TAESD weights were given or fetched. */
  readonly taesd?: ResolvedTaesd;
  /** Set by --device: where the networks run, and on which adapter. */
  readonly device?: DeviceChoice;
  /** Ran the model-independent checks and resolved the model: from the command's start. */
  readonly resolvedAt: number;
}

/** --scheduler, or its alias --schedule-type; both only when they agree. */
function scheduleOption(o: GenerateOptions): string | undefined {
  if (o.scheduler !== undefined && o.scheduleType !== undefined && o.scheduler !== o.scheduleType) {
    throw new InvalidRequestError(
      `--scheduler ${o.scheduler} and --schedule-type ${o.scheduleType} disagree; give one of them`,
    );
  }
  return o.scheduler ?? o.scheduleType;
}

/** Whether any hires-fix option asks for the hires fix. */
export function wantsHires(o: GenerateOptions): boolean {
  return (
    o.hires === true ||
    [
      o.hiresScale,
      o.hiresUpscaler,
      o.hiresSteps,
      o.hiresResize,
      o.hiresSampler,
      o.hiresPrompt,
      o.hiresNegative,
    ].some((v) => v !== undefined)
  );
}

/** --hires-resize WxH: A1111's hr_resize_x and hr_resize_y (0: from the other side). */
export function parseHiresResize(text: string): { resizeX: number; resizeY: number } {
  const m = /^(\d+)x(\d+)$/i.exec(text.trim());
  if (!m || (Number(m[1]) === 0 && Number(m[2]) === 0)) {
    throw new InvalidRequestError(
      `--hires-resize must be WIDTHxHEIGHT (e.g. 1024x1024, 0 for one side), got "${text}"`,
    );
  }
  return { resizeX: Number(m[1]), resizeY: Number(m[2]) };
}

/** The img2img strength: --strength, or A1111's name for it, --denoising-strength (without hires fix). */
function img2imgStrength(o: GenerateOptions): number | undefined {
  return wantsHires(o) ? o.strength : (o.strength ?? o.denoisingStrength);
}

/** The hires-fix upscaler as the job names it: a latent mode or resampler, or an ESRGAN file. */
function hiresUpscaler(spec: string | undefined): Pick<JobHires, "upscaler" | "upscalerPath"> {
  if (spec === undefined) return {};
  if (latentUpscaleMode(spec) || classicUpscaler(spec))
    return { upscaler: latentUpscaleMode(spec) ?? classicUpscaler(spec)!.name };
  if (existsSync(spec)) return { upscaler: basename(spec, extname(spec)), upscalerPath: resolve(spec) };
  const found = new UpscalerCatalog(join(sdliteModelsDir(), "ESRGAN")).find(spec);
  if (found?.path) return { upscaler: found.name, upscalerPath: found.path };
  throw new InvalidRequestError(
    `--hires-upscaler "${spec}" is no file, none of ${Object.keys(LATENT_UPSCALE_MODES).join(", ")}, Lanczos, Nearest, None, and not in $SDLITE_MODELS/ESRGAN`,
  );
}

/** The job's hires settings from the options, or undefined without hires fix. */
export function hiresSettings(o: GenerateOptions): JobHires | undefined {
  if (!wantsHires(o)) return undefined;
  return {
    ...hiresUpscaler(o.hiresUpscaler),
    ...(o.hiresScale !== undefined ? { scale: o.hiresScale } : {}),
    ...(o.hiresResize !== undefined ? parseHiresResize(o.hiresResize) : {}),
    ...(o.hiresSteps !== undefined ? { steps: o.hiresSteps } : {}),
    ...(o.denoisingStrength !== undefined ? { denoisingStrength: o.denoisingStrength } : {}),
    ...(o.hiresSampler !== undefined ? { sampler: o.hiresSampler } : {}),
    ...(o.hiresPrompt !== undefined ? { prompt: o.hiresPrompt } : {}),
    ...(o.hiresNegative !== undefined ? { negativePrompt: o.hiresNegative } : {}),
  };
}

/** Everything that can be refused without a model, so a bad setting never costs a download. */
export function checkOptions(o: GenerateOptions): void {
  const recipe = o.recipe !== undefined ? findRecipe(o.recipe) : undefined;
  const schedule = applyRecipe(recipe, { sampler: o.sampler, schedule: scheduleOption(o) }).schedule;
  if (schedule !== undefined) resolveSchedule(schedule);
  const sampler = o.sampler ?? recipe?.sampler;
  if (sampler !== undefined) resolveSampler(sampler, { scheduleType: schedule });
  if (o.hiresSampler !== undefined) resolveSampler(o.hiresSampler);
  if (o.strength !== undefined && !o.initImage) {
    throw new InvalidRequestError("--strength needs --init-image (it is the img2img denoising strength)");
  }
  if (asksForA1111Inpainting(o)) {
    if (!o.initImage) {
      throw new InvalidRequestError(
        "--outpaint, --inpainting-fill, --mask-blur, --inpaint-full-res, --inpaint-padding and --invert-mask need --init-image",
      );
    }
    if (o.outpaint !== undefined) parseOutpaintArg(o.outpaint);
    else if (!o.mask) {
      throw new InvalidRequestError(
        "--inpainting-fill, --mask-blur, --inpaint-full-res, --inpaint-padding and --invert-mask need --mask (or --outpaint)",
      );
    }
    inpaintSettings(o);
  }
  if (wantsHires(o) && o.initImage) {
    throw new InvalidRequestError("hires fix (--hires*) is for txt2img: it cannot be used with --init-image");
  }
  if (o.denoisingStrength !== undefined && !o.initImage && !wantsHires(o)) {
    throw new InvalidRequestError(
      "--denoising-strength needs the hires fix (--hires, --hires-scale, …) or --init-image",
    );
  }
  if (o.strength !== undefined && o.denoisingStrength !== undefined && o.strength !== o.denoisingStrength) {
    throw new InvalidRequestError("--strength and --denoising-strength disagree; give one of them");
  }
  const hires = hiresSettings(o);
  if (hires) checkJobHires(hires);
  if (o.decoder === "taesd" && !o.taesd && !o.fast) {
    throw new InvalidRequestError(
      `--decoder taesd needs TAESD weights: --taesd PATH or --taesd ${DEFAULT_TAESD_REPO} (a Hugging Face repo id)`,
    );
  }
  if (o.seed !== undefined && o.seed < -1) {
    throw new InvalidRequestError(`seed must be -1 (random) or a non-negative integer, got ${o.seed}`);
  }
  if (o.threads !== undefined && o.threads < 1) {
    throw new InvalidRequestError(`--threads must be at least 1, got ${o.threads}`);
  }
  const files: [string, string | undefined][] = [
    ...o.lora.map((l): [string, string] => ["--lora", parseLoraArg(l).path]),
    ["--vae", o.vae],
    ["--embeddings-dir", o.embeddingsDir],
    // a repo id is looked up on the hub instead
    ["--taesd", o.taesd !== undefined && parseRepoSpec(o.taesd) ? undefined : o.taesd],
  ];
  for (const [option, path] of files) {
    if (path !== undefined && !existsSync(path))
      throw new InvalidRequestError(`${option}: no such file: ${path}`);
  }
}

function checkedProviders(text: string | undefined): string[] | undefined {
  const names = text
    ?.split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
  if (!names?.length) return undefined;
  const available = onnxruntimeNode().availableProviders();
  for (const name of names) {
    if (!available.includes(name)) {
      throw new InvalidRequestError(
        `execution provider "${name}" is not available in this onnxruntime build (available: ${available.join(", ")})`,
      );
    }
  }
  return names;
}

/** The request from the options, with the model's recommended settings for what was not given. */
function jobRequest(
  prompt: string,
  o: GenerateOptions,
  defaults: ModelDefaults,
  images: InputImages,
  seed: number,
): JobRequest {
  const recipe = o.recipe !== undefined ? findRecipe(o.recipe) : undefined;
  const settings = applyRecipe(recipe, {
    sampler: o.sampler,
    schedule: scheduleOption(o),
    timestepSpacing: o.timestepSpacing,
    steps: o.steps,
    cfg: o.cfg,
    eta: o.eta,
  });
  const request = {
    prompt,
    negativePrompt: o.negative,
    sampler: settings.sampler ?? defaults.sampler,
    schedule: settings.schedule,
    steps: settings.steps ?? defaults.steps,
    guidance: settings.cfg ?? defaults.cfg,
    ...(settings.eta !== undefined ? { eta: settings.eta } : {}),
    ...(settings.timestepSpacing !== undefined ? { timestepSpacing: settings.timestepSpacing } : {}),
    seed,
    width: images.width,
    height: images.height,
    batchSize: o.batchSize,
    batchCount: o.batchCount,
    rng: o.rng,
    clipSkip: o.clipSkip,
    padCondUncond: o.padCondUncond,
    strength: img2imgStrength(o),
  };
  const inpaint = inpaintSettings(o);
  if (!inpaint) validateRequest({ ...request, initImage: images.initImage, mask: images.mask });
  const job: JobRequest = {
    ...request,
    ...(images.initImage ? { initImage: encodeImage(images.initImage, 3) } : {}),
    ...(images.mask ? { mask: encodeImage(images.mask, 1) } : {}),
    ...(inpaint ? { inpaint } : {}),
    ...(o.outpaint !== undefined ? { outpaint: parseOutpaintArg(o.outpaint) } : {}),
  };
  if (inpaint) decodeJobRequest(job);
  return job;
}

/** The LoRA folder, read only when the prompt names a LoRA. */
function loraFolder(dir: string): LoraFolder {
  let catalog: LoraCatalog | undefined;
  return {
    dir,
    find: (name) => {
      catalog ??= new LoraCatalog(dir);
      return catalog.find(name);
    },
  };
}

/** TAESD as asked for: --taesd (a path or a repo id), or --fast's default repo (the full VAE if it cannot be had). */
async function chooseTaesd(o: GenerateOptions, reporter: ProgressReporter, signal: AbortSignal) {
  const fromHub = {
    signal,
    onHubLookup: (repo: string, revision: string | undefined) =>
      reporter.phase(
        `TAESD ${repo}${revision ? `@${revision}` : ""} from the Hugging Face hub (cache first)`,
      ),
    onDownloadProgress: (p: DownloadProgress) => reporter.download(p),
  };
  if (o.taesd !== undefined) return resolveTaesd(o.taesd, fromHub);
  if (withSpeedPreset(o.fast ? "fast" : undefined, { decoder: o.decoder }).decoder !== "taesd")
    return undefined;
  return fastPresetTaesd(fromHub, (line) => reporter.note(line));
}

/**
 * `--tome`'s ratio where it applies: ToMe pays off only where full-resolution self-attention
 * dominates, so it is for images above 512 px on a side (or a hires fix pass, which is larger);
 * at 512 and below it is dropped with a note.
 */
function tomeRatioFor(
  o: GenerateOptions,
  size: { width: number; height: number },
  reporter: ProgressReporter,
): number | undefined {
  if (!o.tome) return undefined;
  if (Math.max(size.width, size.height) > 512 || o.hires) return o.tome;
  reporter.note(`note: --tome is for images above 512 px; ${size.width}x${size.height} runs without it`);
  return undefined;
}

/** Checks, then (seed note and LoRA warnings to the reporter) TAESD and the model: the job. */
export async function buildCliJob(
  prompt: string,
  o: GenerateOptions,
  reporter: ProgressReporter,
  signal: AbortSignal,
  started: number,
): Promise<CliJob> {
  checkOptions(o);
  if (o.device !== undefined && o.provider !== undefined) {
    throw new InvalidRequestError("--device and --provider: give one of them");
  }
  const executionProviders = checkedProviders(o.provider);
  const overrides = o.config ? readOverridesFile(o.config) : undefined;
  const seed = seedOrRandom(o.seed);
  const images = loadInputImages(
    {
      initImage: o.initImage,
      mask: o.mask,
      width: o.width,
      height: o.height,
      a1111: asksForA1111Inpainting(o),
      outpaint: o.outpaint !== undefined ? parseOutpaintArg(o.outpaint) : undefined,
    },
    { width: GENERIC_DEFAULTS.width, height: GENERIC_DEFAULTS.height },
  );
  // without -m the default model's LCM sampler is known now: a schedule it cannot take costs no download
  jobRequest(prompt, o, o.model ? GENERIC_DEFAULTS : DEFAULT_MODEL_DEFAULTS, images, seed);
  const { loras, warnings } = resolveJobLoras(
    prompt,
    loraFolder(o.loraDir ?? join(sdliteModelsDir(), "Lora")),
    o.lora.map(parseLoraArg),
  );

  if (o.seed === undefined || o.seed === -1) reporter.note(`seed ${seed} (random)`);
  if (o.recipe !== undefined && loras.length === 0) {
    const recipe = findRecipe(o.recipe);
    reporter.note(`note: recipe ${recipe.name} is made for a LoRA: --lora ${recipe.lora}`);
  }
  for (const w of warnings) reporter.note(`warning: ${w}`);
  // TAESD first: a few MB, and a bad --taesd repo id never costs a model download
  const taesd = await chooseTaesd(o, reporter, signal);
  const resolved = await resolveModel(o.model, {
    variant: o.variant,
    overrides,
    signal,
    onHubLookup: (repo, revision) =>
      reporter.phase(
        `model ${repo}${revision ? `@${revision}` : ""} from the Hugging Face hub (cache first)`,
      ),
    onDownloadProgress: (p) => reporter.download(p),
  });
  const preset = o.fast ? "fast" : undefined;
  // after the model is resolved: a download error never waits for the GPU probe
  const device = o.device ? await chooseDevice(o.device) : undefined;
  if (device) reporter.note(describeDevice(device));
  const request = jobRequest(prompt, o, resolved.defaults, images, seed);
  const job: GenerationJob = {
    version: GENERATION_JOB_VERSION,
    model: {
      path: resolved.path,
      name: resolved.name,
      ...(resolved.variant ? { variant: resolved.variant } : {}),
      ...(o.vae ? { vae: o.vae } : {}),
      ...(overrides ? { overrides } : {}),
    },
    loras,
    embeddingsDir: o.embeddingsDir ?? join(sdliteModelsDir(), "embeddings"),
    request,
    ...(hiresSettings(o) ? { hires: hiresSettings(o) } : {}),
    engine: {
      runtime: { executionProviders: device?.executionProviders ?? executionProviders, threads: o.threads },
      memory: { lowMemory: oneShotLowMemory(preset, o.lowMemory), weightStorage: o.weightStorage },
      ...speedSettings(
        preset,
        {
          decoder: o.decoder,
          deepCacheInterval: o.deepCache,
          unetQuantization: o.quantize,
          vaeQuantization: o.quantizeVae,
          textEncoderQuantization: o.quantizeTextEncoder,
          taesdQuantization: o.quantizeTaesd,
          precision: o.precision,
          attentionQuantization: o.quantizeAttention,
          tomeRatio: tomeRatioFor(o, request, reporter),
          todoFactor: o.todo,
          todoMaxDepth: o.todoMaxDepth ? Number(o.todoMaxDepth) : undefined,
          convAlgorithm: o.convAlgorithm,
        },
        taesd?.path,
      ),
    },
  };
  return { job, resolved, taesd, device, resolvedAt: performance.now() - started };
}
