/**
 * One queued txt2img/img2img job: the plan completed into a GenerationJob when it runs (the model
 * selected then, the Clip skip option then), run on the pool's pipeline for it, with steps and live
 * previews (live-preview.ts: TAESD or the cheap latent approximation) reported as it goes, and
 * turned into A1111's response: base64 PNGs carrying their infotext, the echoed parameters and the
 * `info` JSON string.
 *
 * Interrupt and skip behave as in A1111: the sampling stops and what it has is still decoded
 * (interrupt then ends the job, skip goes on with the next iteration). Cancel returns nothing.
 */

import type { TextualInversionEmbedding } from "../embeddings/embedding-file.js";
import { encodePng } from "../image/png.js";
import type { RgbImage } from "../image/types.js";
import { rgbPixels } from "../image/types.js";
import { GENERATION_JOB_VERSION, type GenerationJob } from "../pipeline/generation-job.js";
import type { JobEngine, PipelineSpec } from "../pipeline/job-engine.js";
import { InvalidRequestError } from "../pipeline/request.js";
import { type GenerationJobResult, runGenerationJob } from "../pipeline/run-generation-job.js";
import { generationInfo } from "./generation-info.js";
import type { GenerationKind, GenerationPlan } from "./generation-plan.js";
import { HttpError, invalidRequest } from "./http-error.js";
import type { JobContext, Task } from "./job-queue.js";
import { LivePreview, type PreviewSettings } from "./live-preview.js";
import type { CheckpointEntry, ModelCatalog } from "./model-catalog.js";
import type { PipelinePool } from "./pipeline-pool.js";

export interface GenerationResult {
  readonly kind: GenerationKind;
  /** Base64 PNGs, each with its `parameters` infotext chunk. */
  readonly images: string[];
  readonly parameters: Readonly<Record<string, unknown>>;
  /** A1111's info: a JSON document as a string. */
  readonly info: string;
}

export interface GenerationEnvironment {
  readonly pool: PipelinePool;
  readonly catalog: ModelCatalog;
  /** The server's engine settings, for every job. */
  readonly engine: JobEngine;
  /** The selected checkpoint when the job runs (after any model switch queued before it). */
  currentModel(): CheckpointEntry | undefined;
  /** The CLIP_stop_at_last_layers option when the job runs. */
  clipSkip(): number;
  /** The pad_cond_uncond option when the job runs. */
  padCondUncond(): boolean;
  /** The embeddings folder, and its contents when the job runs (re-read if it changed). */
  readonly embeddingsDir: string;
  embeddings(): readonly TextualInversionEmbedding[];
  /** The live-preview settings when the job runs. */
  preview(): PreviewSettings;
}

export function base64Png(image: RgbImage, text: Record<string, string> = {}): string {
  return Buffer.from(encodePng(rgbPixels(image), text)).toString("base64");
}

export function generationTask(plan: GenerationPlan, env: GenerationEnvironment): Task<GenerationResult> {
  return { kind: plan.kind, run: (context) => runGeneration(plan, env, context) };
}

/** The pipeline a checkpoint opens with on this server (no LoRAs: a model switch). */
export function modelSpec(entry: CheckpointEntry, engine: JobEngine): PipelineSpec {
  return { model: { path: entry.path, name: entry.modelName }, loras: [], engine };
}

async function runGeneration(
  plan: GenerationPlan,
  env: GenerationEnvironment,
  context: JobContext,
): Promise<GenerationResult> {
  const startedAt = new Date();
  const { progress } = context;
  const entry = plan.model ?? env.currentModel();
  if (!entry) {
    throw new HttpError(
      503,
      "no model is loaded: start the server with -m MODEL or put a checkpoint in the models folder",
    );
  }
  const iterations = plan.request.batchCount ?? 1;
  progress.jobCount = iterations;
  progress.textinfo = `Loading ${entry.name}`;
  const spec: PipelineSpec = { ...modelSpec(entry, env.engine), loras: [...plan.loras] };
  const pipeline = await env.pool.acquire(spec);
  await env.catalog.ensureHash(entry);
  const hash = env.catalog.shortHash(entry);
  const job: GenerationJob = {
    version: GENERATION_JOB_VERSION,
    ...spec,
    model: { ...spec.model, ...(hash ? { hash } : {}) },
    embeddingsDir: env.embeddingsDir,
    request: {
      ...plan.request,
      clipSkip: plan.clipSkip ?? env.clipSkip(),
      padCondUncond: plan.padCondUncond ?? env.padCondUncond(),
    },
  };

  let live: LivePreview | undefined;
  let iteration = -1;
  let result: GenerationJobResult;
  try {
    result = await runGenerationJob(job, {
      pipeline,
      embeddings: env.embeddings(),
      signal: context.signal,
      iterationSignal: () => context.iterationSignal(),
      keepStopped: () => context.signal.reason !== "cancel",
      onOpened: () => {
        live = new LivePreview(env.preview(), pipeline.previewDecoder, (image, step) => {
          const png = base64Png(image);
          progress.currentImage = png;
          context.emit({ type: "preview", image: png, step });
        });
      },
      onProgress: (p) => {
        if (p.batchIndex !== iteration) {
          iteration = p.batchIndex;
          progress.jobNo = iteration;
          progress.samplingStep = 0;
          progress.textinfo = iterations > 1 ? `Batch ${iteration + 1} of ${iterations}` : undefined;
        }
        if (p.stage !== "denoise" || !p.latents || !p.latentShape) return;
        progress.samplingStep = p.step;
        progress.samplingSteps = p.totalSteps;
        context.emit({
          type: "step",
          step: p.step,
          total: p.totalSteps,
          jobNo: iteration,
          jobCount: iterations,
        });
        live?.step({ ...p, latents: p.latents, latentShape: p.latentShape });
      },
    });
  } catch (err) {
    if (err instanceof InvalidRequestError || /clip skip \d+ is not available/.test(String(err))) {
      throw invalidRequest((err as Error).message);
    }
    throw err;
  } finally {
    // a preview still decoding belongs to this job: it must not outlive it
    await live?.settled();
  }
  const warnings = [...plan.warnings, ...result.warnings, ...(live?.failure ? [live.failure] : [])];
  return {
    kind: plan.kind,
    images: plan.sendImages ? result.images.map((i) => i.png) : [],
    parameters: plan.parameters,
    info: JSON.stringify(generationInfo(plan, result, startedAt, warnings)),
  };
}
