/**
 * What the routes share: the queue, the catalogs, the options, and the two kinds of jobs (a
 * generation, a model switch). Queue refusals become HTTP errors here, in one place.
 */

import type { EmbeddingFolder } from "../embeddings/embedding-folder.js";
import type { JobExecutor } from "../executor/job-executor.js";
import type { LoraCatalog } from "../lora/lora-catalog.js";
import { LoraFileError } from "../lora/lora-module.js";
import type { JobEngine } from "../pipeline/job-engine.js";
import { InvalidRequestError } from "../pipeline/request.js";
import { PromptSyntaxError } from "../tokenizer/prompt-weights.js";
import type { UpscalerCatalog } from "../upscale/upscaler-catalog.js";
import type { GenerationKind, GenerationLimits, GenerationPlan } from "./generation-plan.js";
import { planGeneration } from "./generation-plan.js";
import {
  type GenerationEnvironment,
  type GenerationResult,
  generationTask,
  modelSpec,
} from "./generation-task.js";
import { HttpError } from "./http-error.js";
import {
  DuplicateJobIdError,
  type Job,
  JobCancelledError,
  QueueClosedError,
  QueueFullError,
  type Task,
} from "./job-queue.js";
import type { CheckpointEntry, ModelCatalog } from "./model-catalog.js";
import { remoteGenerationTask } from "./remote-generation.js";
import type { ServerOptions } from "./server-options.js";
import { JobDetachedError, QueueUnavailableError, type ServerQueue } from "./server-queue.js";
import type { BatchUpscaleResult, UpscaleResult } from "./upscale-task.js";
import { postWebhook } from "./webhook.js";

export interface ModelLoaded {
  readonly kind: "load-model" | "unload-model";
  /** The checkpoint's title; empty after an unload. */
  readonly title: string;
}

export type ServerJobResult = GenerationResult | ModelLoaded | UpscaleResult | BatchUpscaleResult;

export type ServerLog = (line: string) => void;

/** Per generation: who sent it, and what to do when it ends. */
export interface SubmitOptions {
  /** The caller's key (caller-key.ts): /progress and /interrupt act on the caller's own job. */
  owner?: string;
  /** An http(s) URL POSTed the job's outcome when it ends. */
  webhook?: string;
}

export class ServerContext {
  private selected?: CheckpointEntry;
  readonly env: GenerationEnvironment;
  /** The upscalers folder's files, for hr_upscaler (set with the upscale routes). */
  upscalers?: UpscalerCatalog;
  /** A generation running longer is stopped and fails (on a queue on Redis the worker stops it). */
  jobTimeoutMs?: number;
  /** Each caller's latest generation. */
  private readonly owners = new Map<string, string>();

  constructor(
    readonly queue: ServerQueue<ServerJobResult>,
    readonly models: ModelCatalog,
    readonly loras: LoraCatalog,
    readonly embeddings: EmbeddingFolder,
    readonly executor: JobExecutor,
    readonly options: ServerOptions,
    readonly limits: GenerationLimits,
    readonly log: ServerLog,
    readonly engine: JobEngine = {},
  ) {
    this.env = {
      executor,
      catalog: models,
      engine,
      currentModel: () => this.selectedModel(),
      clipSkip: () => this.options.clipSkip,
      padCondUncond: () => this.options.padCondUncond,
      embeddingsDir: embeddings.dir,
      preview: () => this.options.preview(),
    };
  }

  /** The checkpoint generations use: the last one switched to, else `-m` / the first found. */
  selectedModel(): CheckpointEntry | undefined {
    return this.selected ?? this.models.defaultEntry();
  }

  plan(kind: GenerationKind, body: Readonly<Record<string, unknown>>): GenerationPlan {
    return planGeneration(kind, body, {
      models: this.models,
      loras: this.loras,
      limits: this.limits,
      randnSource: this.options.randnSource,
      upscalers: this.upscalers,
    });
  }

  /**
   * `id`: the client's own job id (A1111's force_task_id), for /internal/progress. In-process the
   * job is completed when it runs; for a queue on Redis now, as JSON for a worker.
   */
  submitGeneration(plan: GenerationPlan, id?: string, options: SubmitOptions = {}): Job<ServerJobResult> {
    const task =
      this.queue.backend === "memory"
        ? generationTask(plan, this.env)
        : remoteGenerationTask(plan, this.env, this.executor, { timeoutMs: this.jobTimeoutMs });
    const job = this.submit(task, id);
    if (options.owner !== undefined) {
      this.owners.delete(options.owner); // re-inserted last: the map stays bounded by callers
      this.owners.set(options.owner, job.id);
      if (this.owners.size > 1000) this.owners.delete(this.owners.keys().next().value as string);
    }
    if (options.webhook !== undefined) {
      const url = options.webhook;
      job.finished.then(
        () => postWebhook(url, job, this.log),
        // a job detached from this stopping process has not ended
        (err) => (err instanceof JobDetachedError ? undefined : postWebhook(url, job, this.log)),
      );
    }
    if (this.jobTimeoutMs !== undefined && this.queue.backend === "memory")
      this.limitTime(job, this.jobTimeoutMs);
    return job;
  }

  /** The caller's latest generation, if this process still knows it. */
  ownJob(owner: string): Job<ServerJobResult> | undefined {
    const id = this.owners.get(owner);
    return id === undefined ? undefined : this.queue.get(id);
  }

  private limitTime(job: Job<ServerJobResult>, ms: number): void {
    let timer: NodeJS.Timeout | undefined;
    const start = () => {
      timer = setTimeout(() => this.queue.cancel(job.id, `timed out after ${ms / 1000} s`), ms);
      timer.unref();
    };
    if (job.status === "running") start();
    job.subscribe((event) => {
      if (event.type === "started") start();
    });
    job.finished.then(
      () => clearTimeout(timer),
      () => clearTimeout(timer),
    );
  }

  /** Loading a model is a job like any other: never while a generation runs. */
  submitModelLoad(entry: CheckpointEntry): Job<ServerJobResult> {
    return this.submit({
      kind: "load-model",
      run: async (context) => {
        context.progress.textinfo = `Loading ${entry.name}`;
        // with workers elsewhere, they open the model; this process only selects it
        if (this.queue.backend === "memory") await this.executor.prepare(modelSpec(entry, this.engine));
        await this.models.ensureHash(entry);
        this.selected = entry;
        return { kind: "load-model", title: this.models.title(entry) };
      },
    });
  }

  /** Closes every open pipeline between jobs (A1111 unload-checkpoint); the next job reopens. */
  submitUnload(): Job<ServerJobResult> {
    return this.submit({
      kind: "unload-model",
      run: async () => {
        await this.executor.release();
        return { kind: "unload-model", title: "" };
      },
    });
  }

  /** Other queued work (an extras upscale): same queue, refusals and log lines as a generation. */
  submitTask(task: Task<ServerJobResult>): Job<ServerJobResult> {
    return this.submit(task);
  }

  private submit(task: Task<ServerJobResult>, id?: string): Job<ServerJobResult> {
    let job: Job<ServerJobResult>;
    try {
      job = this.queue.submit(task, id);
    } catch (err) {
      throw toHttpError(err);
    }
    // a job that found the queue empty has already started
    if (job.status === "running") this.log(`job ${job.id} (${job.kind}) started`);
    job.subscribe((event) => {
      if (event.type === "started") this.log(`job ${job.id} (${job.kind}) started`);
      else if (event.type === "done") this.log(`job ${job.id} (${job.kind}) done`);
      else if (event.type === "error") this.log(`job ${job.id} (${job.kind}) failed: ${event.error.message}`);
      else if (event.type === "cancelled") this.log(`job ${job.id} (${job.kind}) cancelled: ${event.reason}`);
    });
    return job;
  }
}

/** Any error to the status and message a client should see. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof QueueFullError) {
    return new HttpError(429, err.message, "QueueFull", { "retry-after": String(err.retryAfterSeconds) });
  }
  if (err instanceof QueueClosedError) return new HttpError(503, err.message, "ShuttingDown");
  if (err instanceof QueueUnavailableError) return new HttpError(503, err.message, "QueueUnavailable");
  if (err instanceof JobDetachedError) return new HttpError(503, err.message, "ShuttingDown");
  if (err instanceof DuplicateJobIdError) return new HttpError(409, err.message, "DuplicateTaskId");
  if (err instanceof JobCancelledError) {
    if (/^timed out/.test(err.reason)) return new HttpError(504, err.message, "JobTimeout");
    return /shutting down/.test(err.reason)
      ? new HttpError(503, err.message, "ShuttingDown")
      : new HttpError(409, err.message, "Cancelled");
  }
  if (err instanceof InvalidRequestError || err instanceof PromptSyntaxError) {
    return new HttpError(422, err.message, "ValidationError");
  }
  if (err instanceof LoraFileError) return new HttpError(422, err.message, "LoraFileError");
  const error = err instanceof Error ? err : new Error(String(err));
  return new HttpError(500, error.message, error.name || "Error");
}
