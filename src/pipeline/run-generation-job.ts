/**
 * Runs a GenerationJob: opens its pipeline (or uses one the caller keeps open for it), encodes the
 * prompt once, runs the iterations (batchCount) one by one, and returns JSON: each image as PNG
 * bytes (base64) carrying its A1111 infotext, the records, warnings and timings. Everything the CLI,
 * the server, the library and the bench used to do around generate() on their own is here once:
 * per-iteration seeds, LoRA hashes, Clip skip on an ONNX folder, an inpainting model without a mask,
 * the model hash and the record.
 */
import { Sha256Cache } from "../cache/sha256-cache.js";
import type { TextualInversionEmbedding } from "../embeddings/embedding-file.js";
import { readEmbeddingFolder } from "../embeddings/embedding-folder.js";
import { type OpenedPipeline, openPipeline } from "../engine/open-pipeline.js";
import type { GenerationRecord, LoraHash } from "../image/generation-record.js";
import { formatInfotext } from "../image/infotext.js";
import { loraShortHash, modelShortHash } from "../image/model-hash.js";
import { encodePng } from "../image/png.js";
import { type RgbImage, rgbPixels } from "../image/types.js";
import type { UnmatchedLoraKey } from "../lora/lora-module.js";
import { openUpscaler } from "../upscale/open-upscaler.js";
import type { PreparedInpainting } from "./a1111-inpainting.js";
import { GenerationCancelled } from "./denoise.js";
import {
  decodeLatents,
  type GeneratedImage,
  type GenerationProgress,
  iterationSeeds,
  type PipelineModels,
  prepareGeneration,
  type Stage,
} from "./generate.js";
import {
  type GenerationJob,
  modelNameOf,
  prepareJobRequest,
  validateGenerationJob,
} from "./generation-job.js";
import { buildGenerationRecord, type RecordLora } from "./generation-record.js";
import { prepareHiresPass } from "./hires-pass.js";
import { engineOptionsForJob, type LocalEngine } from "./job-engine.js";
import type { Shape4 } from "./networks.js";
import type { GenerationRequest } from "./request.js";
import { StageTimings } from "./stage-timings.js";

/** How many unmatched LoRA keys a warning names. */
const UNMATCHED_SHOWN = 3;

export interface JobProgress extends GenerationProgress {
  /** Denoising steps per second so far (0 before the first step). */
  readonly stepsPerSecond: number;
}

export interface JobRunOptions {
  /** Stops the job: the running step ends, then nothing more runs. */
  readonly signal?: AbortSignal;
  /** A signal for iteration k; aborting it ends that iteration only (A1111's skip). Default: `signal`. */
  readonly iterationSignal?: (iteration: number) => AbortSignal;
  /**
   * Whether an iteration that was stopped still decodes the latents it has, as A1111 does on
   * interrupt and skip. Asked when it happens; default no (GenerationCancelled is thrown).
   */
  readonly keepStopped?: () => boolean;
  readonly onProgress?: (progress: JobProgress) => void;
  /**
   * Each image as soon as it is made (its iteration decoded), before the next iteration starts;
   * awaited, so a caller can write the file first. The result lists the same images again, unless
   * `keepImages` is false.
   */
  readonly onImage?: (image: JobOutputImage) => void | Promise<void>;
  /**
   * false: the result's `images` stays empty, so a caller that writes each image in `onImage` holds
   * none of them (a --batch-count of thousands runs in constant memory). Default true.
   */
  readonly keepImages?: boolean;
  /** Once the pipeline is open, before the first step: what the caller may want to show at once. */
  readonly onOpened?: (opened: {
    readonly pipeline: OpenedPipeline;
    readonly warnings: readonly string[];
  }) => void;
  /** A pipeline already open for the job's model, LoRAs and engine settings (a pool's); kept open. */
  readonly pipeline?: OpenedPipeline;
  /** The job's embeddings folder as already read (a server keeps it); otherwise it is read here. */
  readonly embeddings?: readonly TextualInversionEmbedding[];
  /** Process-local resources (runtime, graph cache) for the pipeline the runner opens. */
  readonly local?: LocalEngine;
  /**
   * false: a single file without a hash in the job is not hashed (its `Model hash` is left out), so
   * a timed run pays for no file read beside it. Default true.
   */
  readonly hashModel?: boolean;
  /** Hires fix: each first-pass image, before it is enlarged (A1111's save_images_before_highres_fix). */
  readonly onFirstPass?: (image: RgbImage, seed: number, iteration: number) => void;
}

/** Where an image stopped early (interrupt or skip): the denoising steps it ran, of how many. */
export interface StoppedAt {
  readonly step: number;
  readonly of: number;
}

export interface JobOutputImage {
  readonly seed: number;
  /** Set when the image was stopped before its last step (its infotext still names every step asked for, as A1111's does). */
  readonly stoppedAt?: StoppedAt;
  /** The PNG file, base64, with the infotext as its `parameters` text chunk. */
  readonly png: string;
  readonly infotext: string;
  readonly record: GenerationRecord;
}

export interface JobTimings {
  /** Opening the pipeline (0 with a pipeline given); graphs load lazily, so mostly in the stages. */
  readonly loadMs: number;
  readonly generateMs: number;
  /** By stage, all iterations together. */
  readonly stagesMs: Partial<Record<Stage, number>>;
  readonly denoiseSteps: number;
  readonly stepsPerSecond: number;
}

/** What a job made, as JSON (it travels back the way the job came). */
export interface GenerationJobResult {
  readonly images: readonly JobOutputImage[];
  readonly warnings: readonly string[];
  readonly model: { readonly name: string; readonly hash?: string };
  /** The Clip skip that ran (1 where the model could not do the one asked for). */
  readonly clipSkip: number;
  readonly loraHashes: readonly LoraHash[];
  /** The UNet took the 9-channel inpainting input. */
  readonly inpaintingConditioning: boolean;
  /** The job's signal stopped it before every iteration ran to its end. */
  readonly interrupted: boolean;
  readonly timings: JobTimings;
}

export async function runGenerationJob(
  job: GenerationJob,
  options: JobRunOptions = {},
): Promise<GenerationJobResult> {
  validateGenerationJob(job);
  const request = prepareJobRequest(job.request);
  const opening = performance.now();
  const pipeline =
    options.pipeline ?? (await openPipeline(job.model.path, engineOptionsForJob(job, options.local)));
  try {
    return await runOpened(job, request, pipeline, performance.now() - opening, options);
  } finally {
    if (!options.pipeline) await pipeline.close();
  }
}

function unmatchedWarnings(keys: readonly UnmatchedLoraKey[]): string[] {
  const byFile = new Map<string, string[]>();
  for (const k of keys) byFile.set(k.file, [...(byFile.get(k.file) ?? []), k.key]);
  return [...byFile].map(([file, names]) => {
    const shown = names.slice(0, UNMATCHED_SHOWN).join(", ");
    const more = names.length > UNMATCHED_SHOWN ? `, … (${names.length - UNMATCHED_SHOWN} more)` : "";
    return `${names.length} key(s) of LoRA ${file} match nothing in this model and were ignored: ${shown}${more}`;
  });
}

/** A1111's conditioning for an inpainting model given no mask: repaint everything, from nothing. */
function repaintAll(request: GenerationRequest): GenerationRequest {
  const { width, height } = request;
  return {
    ...request,
    mask: { width, height, data: new Uint8Array(width * height).fill(255) },
    initImage: request.initImage ?? { width, height, data: new Uint8Array(width * height * 3) },
    strength: request.strength ?? 1,
  };
}

/** The single file's AutoV2 hash, computed while the images are made (once per file version). */
function modelHash(
  job: GenerationJob,
  pipeline: OpenedPipeline,
  hashModel = true,
): Promise<string | undefined> {
  if (job.model.hash !== undefined) return Promise.resolve(job.model.hash);
  if (pipeline.model.format !== "single-file" || !hashModel) return Promise.resolve(undefined);
  return new Sha256Cache().sha256(pipeline.model.path).then(modelShortHash, () => undefined);
}

async function runOpened(
  job: GenerationJob,
  prepared: PreparedInpainting,
  pipeline: OpenedPipeline,
  loadMs: number,
  options: JobRunOptions,
): Promise<GenerationJobResult> {
  const { request } = prepared;
  const warnings: string[] = [...prepared.warnings];
  let clipSkip = request.clipSkip ?? 1;
  if (clipSkip > 1 && pipeline.model.format === "onnx") {
    // an exported text encoder has only its last layer as output
    warnings.push(`Clip skip ${clipSkip} is not available with an ONNX pipeline folder; used 1`);
    clipSkip = 1;
  }
  warnings.push(...unmatchedWarnings(pipeline.unmatchedLoraKeys));
  let embeddings = options.embeddings;
  if (!embeddings && job.embeddingsDir !== undefined) {
    const folder = readEmbeddingFolder(job.embeddingsDir);
    for (const f of folder.failures) warnings.push(`embedding ${f.path} not loaded: ${f.error}`);
    embeddings = folder.embeddings;
  }
  options.onOpened?.({ pipeline, warnings });
  const hash = modelHash(job, pipeline, options.hashModel);
  const inpainting = pipeline.models.unet.inChannels === 9;
  const toRun = { ...(inpainting && !request.mask ? repaintAll(request) : request), clipSkip };

  const started = performance.now();
  const timings = new StageTimings();
  const models: PipelineModels = {
    ...pipeline.models,
    stageDone: async (stage) => {
      timings.stageDone(stage);
      await pipeline.models.stageDone?.(stage);
    },
  };
  // the latents of the running iteration, decoded if it is stopped
  const last: { latents?: Float32Array; shape?: Shape4; stoppedAt?: StoppedAt } = {};
  const onProgress = (p: GenerationProgress) => {
    timings.record(p);
    if (p.latents && p.latentShape) {
      Object.assign(last, { latents: p.latents, shape: p.latentShape });
      last.stoppedAt = { step: p.step, of: p.totalSteps };
    }
    options.onProgress?.({ ...p, stepsPerSecond: timings.stepsPerSecond() });
  };
  const generation = await prepareGeneration(models, toRun, { onProgress, embeddings });
  const modelName = job.model.name ?? modelNameOf(job.model.path);
  const loras: RecordLora[] = job.loras.map((l) => ({
    ...l,
    addnetHash: pipeline.loras.find((f) => f.file.path === l.path)?.file.addnetHash ?? "",
  }));
  const images: JobOutputImage[] = [];
  const finish = async (made: readonly (GeneratedImage & { stoppedAt?: StoppedAt })[]) => {
    const shortHash = await hash;
    for (const { image: generated, seed, stoppedAt } of made) {
      const image = prepared.finish(generated);
      const record = buildGenerationRecord({ ...request, prompt: job.request.prompt, clipSkip }, seed, {
        inpainting: prepared.infotext,
        modelName,
        modelHash: shortHash,
        loras,
        vae: job.model.vae,
        conditioning: generation.conditioning,
        speed: job.engine.speed,
        ...(job.hires ? { hires: job.hires } : {}),
      });
      const infotext = formatInfotext(record);
      const png = Buffer.from(encodePng(rgbPixels(image), { parameters: infotext })).toString("base64");
      const output: JobOutputImage = { seed, png, infotext, record, ...(stoppedAt ? { stoppedAt } : {}) };
      if (options.keepImages !== false) images.push(output);
      await options.onImage?.(output);
    }
  };
  // the PNGs and what the caller does with them are not generation time
  let finishingMs = 0;
  const hires = job.hires
    ? await prepareHiresPass(models, generation.request, job.hires, {
        embeddings,
        onProgress,
        openUpscaler: (upscale) =>
          openUpscaler(upscale.path ?? upscale.name, {
            runtime: options.local?.runtime,
            threads: job.engine.runtime?.threads,
            executionProviders: job.engine.runtime?.executionProviders,
            ...(job.engine.runtime?.cache === false
              ? { cache: false }
              : options.local?.graphCache
                ? { cache: options.local.graphCache }
                : {}),
            name: upscale.name,
          }),
      })
    : undefined;
  for (let k = 0; k < generation.request.batchCount && !options.signal?.aborted; k++) {
    last.latents = undefined;
    last.stoppedAt = undefined;
    const signal = options.iterationSignal?.(k) ?? options.signal;
    const made: (GeneratedImage & { stoppedAt?: StoppedAt })[] = [];
    try {
      if (hires) {
        const first = await generation.denoiseIteration(k, { signal, onProgress });
        const onFirstImage =
          options.onFirstPass && ((image: RgbImage, seed: number) => options.onFirstPass?.(image, seed, k));
        made.push(...(await hires.run(first, k, { signal, onProgress, onFirstImage })));
      } else {
        made.push(...(await generation.iteration(k, { signal, onProgress })));
      }
    } catch (err) {
      if (!(err instanceof GenerationCancelled) || !options.keepStopped?.()) throw err;
      // stopped, not cancelled: A1111 still decodes the latents it has
      if (last.latents && last.shape) {
        const decoded = await decodeLatents(pipeline.models.vae, last.latents, last.shape);
        const seeds = iterationSeeds(generation.request, k);
        const stoppedAt = last.stoppedAt;
        decoded.forEach((image, j) => {
          made.push({ image, seed: seeds[j], ...(stoppedAt ? { stoppedAt } : {}) });
        });
      }
    }
    const finishing = performance.now();
    await finish(made);
    finishingMs += performance.now() - finishing;
  }
  await hires?.close();
  const generateMs = performance.now() - started - finishingMs;
  const shortHash = await hash;
  const summary = timings.summary();
  return {
    images,
    warnings,
    model: { name: modelName, ...(shortHash ? { hash: shortHash } : {}) },
    clipSkip,
    loraHashes: loras.map((l) => ({ name: l.name ?? "", hash: loraShortHash(l.addnetHash) })),
    inpaintingConditioning: inpainting,
    interrupted: options.signal?.aborted ?? false,
    timings: {
      loadMs,
      generateMs,
      stagesMs: summary.stages,
      denoiseSteps: summary.denoiseSteps,
      stepsPerSecond: summary.stepsPerSecond,
    },
  };
}
