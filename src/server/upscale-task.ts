/**
 * An extras upscale as a queued job, like a generation: it waits its turn (an upscale saturates the
 * CPU as a generation does), reports tiles as steps (so /progress and the job events show it), and
 * stops at the next tile when cancelled or interrupted. The job executor runs it (in the executor
 * process under `sdlite serve`, so the server keeps answering while ESRGAN computes).
 */
import type { JobExecutor } from "../executor/job-executor.js";
import { type UpscaleJobResult, upscaleJobImage } from "../upscale/upscale-job.js";
import type { ExtrasRequest } from "./extras-request.js";
import type { Task } from "./job-queue.js";

export interface UpscaleResult extends UpscaleJobResult {
  readonly kind: "extras";
}

export function upscaleTask(request: ExtrasRequest, executor: JobExecutor): Task<UpscaleResult> {
  return {
    kind: "extras",
    run: async (context) => {
      const { progress } = context;
      const { second } = request;
      if (request.upscaler) progress.textinfo = `Upscaling with ${request.upscaler.name}`;
      const result = await executor.upscale(
        { ...request, image: upscaleJobImage(request.image) },
        {
          signal: context.signal,
          onProgress: (index, p) => {
            progress.samplingStep = p.tile;
            progress.samplingSteps = p.tiles;
            context.emit({
              type: "step",
              step: p.tile,
              total: p.tiles,
              jobNo: index,
              jobCount: second ? 2 : 1,
            });
          },
        },
      );
      return { kind: "extras", ...result };
    },
  };
}

export interface BatchUpscaleResult {
  readonly kind: "extras-batch";
  /** Base64 PNGs, in the order of the request's imageList. */
  readonly images: readonly string[];
  /** The first image's html_info (A1111 answers one for the batch). */
  readonly html_info: string;
}

/** extra-batch-images: the images one after the other in one queued job. */
export function batchUpscaleTask(
  requests: readonly ExtrasRequest[],
  executor: JobExecutor,
): Task<BatchUpscaleResult> {
  return {
    kind: "extras",
    run: async (context) => {
      const images: string[] = [];
      let htmlInfo = "";
      for (const [i, request] of requests.entries()) {
        context.signal.throwIfAborted();
        context.progress.jobNo = i;
        context.progress.jobCount = requests.length;
        const one = await upscaleTask(request, executor).run(context);
        images.push(one.image);
        if (i === 0) htmlInfo = one.html_info;
      }
      return { kind: "extras-batch", images, html_info: htmlInfo };
    },
  };
}
