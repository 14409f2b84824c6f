/**
 * A generation as JSON for another process (a worker behind the queue on Redis, src/queue/): the
 * plan completed into a GenerationJob when it is queued (the model selected then, the options
 * then), with what the A1111 response needs (PlanSummary) and the preview settings. The worker runs
 * it with runRemoteGeneration and sends back the response itself (PNGs with their infotext, info).
 *
 * runRemoteGeneration takes a GenerationRunner: the shape of a job executor's `run` (src/executor/),
 * so the API process (embedded) and a worker hand their jobs to any executor.
 */
import { GENERATION_JOB_VERSION, type GenerationJob } from "../pipeline/generation-job.js";
import type { GenerationJobResult, JobProgress } from "../pipeline/run-generation-job.js";
import type { ResolvedSampler } from "../schedulers/registry.js";
import type { GenerationKind, GenerationPlan } from "./generation-plan.js";
import {
  type GenerationEnvironment,
  type GenerationResult,
  modelSpec,
  runForResponse,
} from "./generation-task.js";
import { HttpError } from "./http-error.js";
import type { JobContext, Task } from "./job-queue.js";
import type { PreviewSettings } from "./live-preview.js";

/** What of a plan the response needs, as JSON. */
export interface PlanSummary {
  readonly kind: GenerationKind;
  readonly sampler: Pick<ResolvedSampler, "sampler" | "scheduleType">;
  readonly styles: readonly string[];
  readonly ignoredFields: readonly string[];
  readonly warnings: readonly string[];
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly sendImages: boolean;
}

export interface RemoteGeneration {
  readonly version: 1;
  readonly job: GenerationJob;
  readonly plan: PlanSummary;
  readonly preview: PreviewSettings;
  /** The job is stopped (and fails with 504) after running this long. */
  readonly timeoutMs?: number;
}

/** How a job is run: a job executor's `run` (src/executor/). */
export interface GenerationRunner {
  run(
    job: GenerationJob,
    options: {
      signal?: AbortSignal;
      iterationSignal?: (iteration: number) => AbortSignal;
      keepStopped?: () => boolean;
      onProgress?: (progress: Omit<JobProgress, "latents" | "latentShape">) => void;
      preview?: PreviewSettings;
      onPreview?: (png: string, step: number) => void;
    },
  ): Promise<GenerationJobResult>;
}

export function planSummary(plan: GenerationPlan): PlanSummary {
  const { kind, styles, ignoredFields, warnings, parameters, sendImages } = plan;
  const sampler = { sampler: plan.sampler.sampler, scheduleType: plan.sampler.scheduleType };
  return { kind, sampler, styles, ignoredFields, warnings, parameters, sendImages };
}

/**
 * The generation as a task whose work is JSON (`remote`: route = the model's name, so that only
 * workers with the model take it); run in this process, it does what a worker does.
 */
export function remoteGenerationTask(
  plan: GenerationPlan,
  env: GenerationEnvironment,
  runner: GenerationRunner,
  extra: Pick<RemoteGeneration, "timeoutMs"> = {},
): Task<GenerationResult> {
  const entry = plan.model ?? env.currentModel();
  if (!entry) {
    throw new HttpError(
      503,
      "no model is loaded: start the server with -m MODEL or put a checkpoint in the models folder",
    );
  }
  const spec = { ...modelSpec(entry, env.engine), loras: [...plan.loras] };
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
  const data: RemoteGeneration = {
    version: 1,
    job,
    plan: planSummary(plan),
    preview: env.preview(),
    ...extra,
  };
  return {
    kind: plan.kind,
    remote: { route: entry.modelName, data },
    run: (context) => runRemoteGeneration(data, runner, context),
  };
}

/** One RemoteGeneration with its steps and previews reported to `context`; A1111's response. */
export async function runRemoteGeneration(
  data: RemoteGeneration,
  runner: GenerationRunner,
  context: JobContext,
): Promise<GenerationResult> {
  const startedAt = new Date();
  const { job, plan } = data;
  const { progress } = context;
  const iterations = job.request.batchCount ?? 1;
  progress.jobCount = iterations;
  progress.textinfo = `Loading ${job.model.name ?? job.model.path}`;
  return runForResponse(job, plan, runner, data.preview, context, startedAt);
}
