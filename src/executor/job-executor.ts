/**
 * The job executor: where a GenerationJob's networks run. The server, and Redis workers, hand
 * jobs to one and only see JSON come back (progress, live previews, the result), so the same code
 * runs them in this process (in-process-executor.ts: the library API, tests) or in a child process
 * (child-process-executor.ts: `sdlite serve`, whose main thread must keep answering HTTP while
 * onnxruntime computes on it for minutes).
 *
 * An executor runs one job at a time and keeps the pipelines it opened for the next jobs (a pool,
 * see server/pipeline-pool.ts), so a model switch is `prepare` and an unload is `release`. It runs
 * the extras upscales too (upscale/upscale-job.ts), whose ESRGAN networks block a thread as long.
 */

import type { GenerationJob } from "../pipeline/generation-job.js";
import type { PipelineSpec } from "../pipeline/job-engine.js";
import type { GenerationJobResult, JobProgress } from "../pipeline/run-generation-job.js";
import type { PreviewSettings } from "../server/live-preview.js";
import type { UpscaleJob, UpscaleJobOptions, UpscaleJobResult } from "../upscale/upscale-job.js";

/** A progress report as JSON: the pipeline's, without the latents (previews are drawn by the executor). */
export type ExecutionProgress = Omit<JobProgress, "latents" | "latentShape">;

export interface ExecutionOptions {
  /** Stops the job at the end of its running step (then see keepStopped). */
  readonly signal?: AbortSignal;
  /** A signal for iteration k, asked as the iteration starts; aborting it stops that iteration only (skip). */
  readonly iterationSignal?: (iteration: number) => AbortSignal;
  /** Asked when a signal aborts: whether the stopped iteration still decodes what it has (A1111's interrupt and skip). */
  readonly keepStopped?: () => boolean;
  readonly onProgress?: (progress: ExecutionProgress) => void;
  /** Live previews of the denoising steps; none without. */
  readonly preview?: PreviewSettings;
  /** A preview as a base64 PNG, with the step it shows. */
  readonly onPreview?: (png: string, step: number) => void;
}

/** What the executor knows of the pipeline it used last. */
export interface OpenedModelInfo {
  /** The text encoder's width (768 for SD1.x, 1024 for SD2.x): which embeddings fit. */
  readonly textEncoderWidth: number;
}

export interface JobExecutor {
  /** Opens the pipeline for `spec` now (a model switch), so the next job on it starts at once. */
  prepare(spec: PipelineSpec): Promise<void>;
  /**
   * Runs one job; the result is runGenerationJob's, with a live-preview failure added to its
   * warnings. Rejects with the job's error (its class kept: InvalidRequestError, LoraFileError, …),
   * or ExecutorCrashedError when the process running it died.
   */
  run(job: GenerationJob, options?: ExecutionOptions): Promise<GenerationJobResult>;
  /**
   * Runs one extras upscale (ESRGAN models kept open between jobs); stops at the next tile when the
   * signal aborts, rejecting with the signal's reason. Errors keep their class as run's do.
   */
  upscale(job: UpscaleJob, options?: UpscaleJobOptions): Promise<UpscaleJobResult>;
  /** Closes every open pipeline (A1111's unload); the executor stays usable. */
  release(): Promise<void>;
  /** The pipeline used last, or undefined before any or after release. */
  latestModel(): OpenedModelInfo | undefined;
  /** Stops for good: a job still running is stopped (out of process: killed after `graceMs`). */
  close(graceMs?: number): Promise<void>;
}

/** The process running a job ended before the job did (killed, out of memory, a native crash). */
export class ExecutorCrashedError extends Error {
  constructor(readonly detail: string) {
    super(
      `the generation process stopped unexpectedly (${detail}); the job failed, the next one starts a fresh process`,
    );
    this.name = "ExecutorCrashedError";
  }
}
