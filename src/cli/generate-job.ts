/**
 * `sdlite generate`'s options → a GenerationJob: everything checked that can be checked before a
 * download, the seed drawn, the init image and mask read, the prompt's `<lora:name:weight>` tags
 * looked up in --lora-dir, TAESD and the model resolved (hub ids fetched), the speed preset applied.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { oneShotLowMemory, withSpeedPreset } from "../engine/speed-preset.js";
import { type DownloadProgress, sdliteModelsDir } from "../hub/index.js";
import { LoraCatalog } from "../lora/lora-catalog.js";
import {
  GENERATION_JOB_VERSION,
  type GenerationJob,
  type JobRequest,
  seedOrRandom,
} from "../pipeline/generation-job.js";
import { speedSettings } from "../pipeline/job-engine.js";
import { encodeImage } from "../pipeline/job-image.js";
import { type LoraFolder, resolveJobLoras } from "../pipeline/job-loras.js";
import { InvalidRequestError, validateRequest } from "../pipeline/request.js";
import { onnxruntimeNode } from "../runtime/onnxruntime-node.js";
import { resolveSampler } from "../schedulers/registry.js";
import { resolveSchedule } from "../schedulers/sigma-schedules.js";
import { readOverridesFile } from "../weights/architecture/ldm-yaml-config.js";
import type { GenerateOptions } from "./commands/generate.js";
import { chooseDevice, type DeviceChoice, describeDevice } from "./device-choice.js";
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

/** Everything that can be refused without a model, so a bad setting never costs a download. */
export function checkOptions(o: GenerateOptions): void {
  const schedule = scheduleOption(o);
  if (schedule !== undefined) resolveSchedule(schedule);
  if (o.sampler !== undefined) resolveSampler(o.sampler, { scheduleType: schedule });
  if (o.strength !== undefined && !o.initImage) {
    throw new InvalidRequestError("--strength needs --init-image (it is the img2img denoising strength)");
  }
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
  const request = {
    prompt,
    negativePrompt: o.negative,
    sampler: o.sampler ?? defaults.sampler,
    schedule: scheduleOption(o),
    steps: o.steps ?? defaults.steps,
    guidance: o.cfg ?? defaults.cfg,
    seed,
    width: images.width,
    height: images.height,
    batchSize: o.batchSize,
    batchCount: o.batchCount,
    rng: o.rng,
    clipSkip: o.clipSkip,
    padCondUncond: o.padCondUncond,
    strength: o.strength,
  };
  validateRequest({ ...request, initImage: images.initImage, mask: images.mask });
  return {
    ...request,
    ...(images.initImage ? { initImage: encodeImage(images.initImage, 3) } : {}),
    ...(images.mask ? { mask: encodeImage(images.mask, 1) } : {}),
  };
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
  const images = loadInputImages(o, { width: GENERIC_DEFAULTS.width, height: GENERIC_DEFAULTS.height });
  // without -m the default model's LCM sampler is known now: a schedule it cannot take costs no download
  jobRequest(prompt, o, o.model ? GENERIC_DEFAULTS : DEFAULT_MODEL_DEFAULTS, images, seed);
  const { loras, warnings } = resolveJobLoras(
    prompt,
    loraFolder(o.loraDir ?? join(sdliteModelsDir(), "Lora")),
    o.lora.map(parseLoraArg),
  );

  if (o.seed === undefined || o.seed === -1) reporter.note(`seed ${seed} (random)`);
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
    request: jobRequest(prompt, o, resolved.defaults, images, seed),
    engine: {
      runtime: { executionProviders: device?.executionProviders ?? executionProviders, threads: o.threads },
      memory: { lowMemory: oneShotLowMemory(preset, o.lowMemory), weightStorage: o.weightStorage },
      ...speedSettings(
        preset,
        { decoder: o.decoder, deepCacheInterval: o.deepCache, unetQuantization: o.quantize },
        taesd?.path,
      ),
    },
  };
  return { job, resolved, taesd, device, resolvedAt: performance.now() - started };
}
