/**
 * One queued txt2img/img2img job: the plan completed into a GenerationJob when it runs (the model
 * selected then, the Clip skip option then), run by the server's job executor (src/executor/: in a
 * child process for `serve`) on a pipeline it keeps open, with steps and live previews (live-preview.ts:
 * TAESD or the cheap latent approximation) reported as it goes, and
 * turned into A1111's response: base64 PNGs carrying their infotext, the echoed parameters and the
 * `info` JSON string.
 *
 * Interrupt and skip behave as in A1111: the sampling stops and what it has is still decoded
 * (interrupt then ends the job, skip goes on with the next iteration). Cancel returns nothing.
 */

import type { JobExecutor } from "../executor/job-executor.js";
import { encodePng } from "../image/png.js";
import type { RgbImage } from "../image/types.js";
import { rgbPixels } from "../image/types.js";
import { GENERATION_JOB_VERSION, type GenerationJob } from "../pipeline/generation-job.js";
import type { JobEngine, PipelineSpec } from "../pipeline/job-engine.js";
import { InvalidRequestError } from "../pipeline/request.js";
import type { GenerationJobResult } from "../pipeline/run-generation-job.js";
import { generationInfo, type InfoPlan } from "./generation-info.js";
import type { GenerationKind, GenerationPlan } from "./generation-plan.js";
import { HttpError, invalidRequest } from "./http-error.js";
import type { JobContext, Task } from "./job-queue.js";
import type { PreviewSettings } from "./live-preview.js";
import type { CheckpointEntry, ModelCatalog } from "./model-catalog.js";

export interface GenerationResult {
  readonly kind: GenerationKind;
  /** Base64 PNGs, each with its `parameters` infotext chunk. */
  readonly images: string[];
  readonly parameters: Readonly<Record<string, unknown>>;
  /** A1111's info: a JSON document as a string. */
  readonly info: string;
}

export interface GenerationEnvironment {
  /** Runs the jobs (in this process or a child process) and keeps their pipelines open. */
  readonly executor: JobExecutor;
  readonly catalog: ModelCatalog;
  /** The server's engine settings, for every job. */
  readonly engine: JobEngine;
  /** The selected checkpoint when the job runs (after any model switch queued before it). */
  currentModel(): CheckpointEntry | undefined;
  /** The CLIP_stop_at_last_layers option when the job runs. */
  clipSkip(): number;
  /** The pad_cond_uncond option when the job runs. */
  padCondUncond(): boolean;
  /** The embeddings folder (the executor reads it, again whenever it changed). */
  readonly embeddingsDir: string;
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
    ...(plan.hires ? { hires: plan.hires } : {}),
  };

  return runForResponse(job, plan, env.executor, env.preview(), context, startedAt);
}

/** What of a plan A1111's response needs: a GenerationPlan, or its JSON summary on a worker. */
export type ResponsePlan = Omit<InfoPlan, "request" | "hires"> &
  Pick<GenerationPlan, "warnings" | "parameters" | "sendImages">;

/**
 * Runs a completed job with its steps and previews reported to `context`, and turns the result into
 * A1111's response; the same for a job run here and one run by a worker behind the queue on Redis.
 */
export async function runForResponse(
  job: GenerationJob,
  plan: ResponsePlan,
  runner: Pick<JobExecutor, "run">,
  preview: PreviewSettings,
  context: JobContext,
  startedAt: Date,
): Promise<GenerationResult> {
  const { progress } = context;
  const iterations = job.request.batchCount ?? 1;
  let iteration = -1;
  let result: GenerationJobResult;
  try {
    result = await runner.run(job, {
      signal: context.signal,
      iterationSignal: () => context.iterationSignal(),
      keepStopped: () => context.signal.reason !== "cancel",
      preview,
      onPreview: (png, step) => {
        progress.currentImage = png;
        context.emit({ type: "preview", image: png, step });
      },
      onProgress: (p) => {
        if (p.batchIndex !== iteration) {
          iteration = p.batchIndex;
          progress.jobNo = iteration;
          progress.samplingStep = 0;
          progress.textinfo = iterations > 1 ? `Batch ${iteration + 1} of ${iterations}` : undefined;
        }
        if (p.stage !== "denoise") return;
        progress.samplingStep = p.step;
        progress.samplingSteps = p.totalSteps;
        context.emit({
          type: "step",
          step: p.step,
          total: p.totalSteps,
          jobNo: iteration,
          jobCount: iterations,
        });
      },
    });
  } catch (err) {
    if (err instanceof InvalidRequestError || /clip skip \d+ is not available/.test(String(err))) {
      throw invalidRequest((err as Error).message);
    }
    throw err;
  }
  const warnings = [...plan.warnings, ...result.warnings];
  return {
    kind: plan.kind,
    images: plan.sendImages ? result.images.map((i) => i.png) : [],
    parameters: plan.parameters,
    info: JSON.stringify(
      generationInfo({ ...plan, request: job.request, hires: job.hires }, result, startedAt, warnings),
    ),
  };
}
