/**
 * The executor that runs jobs on the calling thread: the library API and tests use it directly,
 * and the executor process (executor-process.ts) runs one inside itself. While a job runs,
 * onnxruntime holds this thread for each network call.
 */
import { EmbeddingFolder } from "../embeddings/embedding-folder.js";
import { openPipeline } from "../engine/open-pipeline.js";
import { encodePng } from "../image/png.js";
import { rgbPixels } from "../image/types.js";
import type { GenerationJob } from "../pipeline/generation-job.js";
import { engineOptionsForJob, type LocalEngine, type PipelineSpec } from "../pipeline/job-engine.js";
import { type GenerationJobResult, runGenerationJob } from "../pipeline/run-generation-job.js";
import { LivePreview } from "../server/live-preview.js";
import { type PipelineOpener, PipelinePool } from "../server/pipeline-pool.js";
import { UpscalerPool } from "../server/upscaler-pool.js";
import type { OpenUpscalerOptions } from "../upscale/open-upscaler.js";
import {
  runUpscaleJob,
  type UpscaleJob,
  type UpscaleJobOptions,
  type UpscaleJobResult,
} from "../upscale/upscale-job.js";
import type { ExecutionOptions, JobExecutor, OpenedModelInfo } from "./job-executor.js";

export interface InProcessExecutorOptions {
  /** Opened pipelines kept between jobs (default 2). */
  readonly maxPipelines?: number;
  /** Process-local resources (runtime, graph cache) for the pipelines it opens. */
  readonly local?: LocalEngine;
  /** How a pipeline is opened; default openPipeline with the job's engine settings and `local`. */
  readonly opener?: PipelineOpener;
  /** How upscaler models are opened (threads, graph cache). */
  readonly upscalers?: OpenUpscalerOptions;
}

export class InProcessExecutor implements JobExecutor {
  private readonly pool: PipelinePool;
  private readonly upscalers: UpscalerPool;
  /** Embedding folders by path, re-read only when their files change. */
  private readonly embeddingFolders = new Map<string, EmbeddingFolder>();

  constructor(options: InProcessExecutorOptions = {}) {
    const opener =
      options.opener ??
      ((spec: PipelineSpec) => openPipeline(spec.model.path, engineOptionsForJob(spec, options.local)));
    this.pool = new PipelinePool(opener, options.maxPipelines ?? 2);
    this.upscalers = new UpscalerPool(options.upscalers);
  }

  async prepare(spec: PipelineSpec): Promise<void> {
    await this.pool.acquire(spec);
  }

  async run(job: GenerationJob, options: ExecutionOptions = {}): Promise<GenerationJobResult> {
    const pipeline = await this.pool.acquire(job);
    let live: LivePreview | undefined;
    let result: GenerationJobResult;
    try {
      result = await runGenerationJob(job, {
        pipeline,
        embeddings: job.embeddingsDir !== undefined ? this.embeddings(job.embeddingsDir) : undefined,
        signal: options.signal,
        iterationSignal: options.iterationSignal,
        keepStopped: options.keepStopped,
        onOpened: () => {
          const { preview, onPreview } = options;
          if (!preview || !onPreview) return;
          live = new LivePreview(preview, pipeline.previewDecoder, (image, step) => {
            onPreview(Buffer.from(encodePng(rgbPixels(image), {})).toString("base64"), step);
          });
        },
        onProgress: ({ latents, latentShape, ...progress }) => {
          options.onProgress?.(progress);
          if (progress.stage === "denoise" && latents && latentShape) {
            live?.step({ ...progress, latents, latentShape });
          }
        },
      });
    } finally {
      // a preview still decoding belongs to this job: it must not outlive it
      await live?.settled();
    }
    return live?.failure ? { ...result, warnings: [...result.warnings, live.failure] } : result;
  }

  upscale(job: UpscaleJob, options: UpscaleJobOptions = {}): Promise<UpscaleJobResult> {
    return runUpscaleJob(job, (entry) => this.upscalers.get(entry), options);
  }

  release(): Promise<void> {
    return this.pool.closeAll();
  }

  latestModel(): OpenedModelInfo | undefined {
    const latest = this.pool.latest();
    return latest ? { textEncoderWidth: latest.models.textEncoder.hiddenSize } : undefined;
  }

  async close(): Promise<void> {
    await this.pool.closeAll();
    await this.upscalers.close();
  }

  private embeddings(dir: string) {
    let folder = this.embeddingFolders.get(dir);
    if (!folder) {
      folder = new EmbeddingFolder(dir);
      this.embeddingFolders.set(dir, folder);
    }
    return folder.current().embeddings;
  }
}
