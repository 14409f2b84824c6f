/**
 * An extras upscale as a queued job, like a generation: it waits its turn (an upscale saturates the
 * CPU as a generation does), reports tiles as steps (so /progress and the job events show it), and
 * stops at the next tile when cancelled or interrupted.
 */
import { encodePng } from "../image/png.js";
import { rgbPixels } from "../image/types.js";
import { extrasUpscale } from "../upscale/extras-upscale.js";
import { formatPostprocessInfo, infotextHtml, postprocessTextChunks } from "../upscale/postprocess-info.js";
import type { ExtrasRequest } from "./extras-request.js";
import type { Task } from "./job-queue.js";
import type { UpscalerPool } from "./upscaler-pool.js";

export interface UpscaleResult {
  readonly kind: "extras";
  /** Base64 PNG: the input's text chunks plus the `postprocessing` infotext. */
  readonly image: string;
  readonly html_info: string;
  readonly info: string;
  readonly width: number;
  readonly height: number;
}

export function upscaleTask(request: ExtrasRequest, pool: UpscalerPool): Task<UpscaleResult> {
  return {
    kind: "extras",
    run: async (context) => {
      const { progress } = context;
      let image = request.image;
      let infotext = "";
      if (request.upscaler) {
        progress.textinfo = `Upscaling with ${request.upscaler.name}`;
        const upscaler = await pool.get(request.upscaler);
        const second = request.second
          ? { upscaler: await pool.get(request.second.upscaler), visibility: request.second.visibility }
          : undefined;
        const result = await extrasUpscale(
          image,
          { resize: request.resize, upscaler, second },
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
        image = result.image;
        infotext = formatPostprocessInfo(result.info);
      }
      const png = encodePng(rgbPixels(image), postprocessTextChunks(request.text, infotext, "api"));
      return {
        kind: "extras",
        image: Buffer.from(png).toString("base64"),
        html_info: infotextHtml(infotext),
        info: infotext,
        width: image.width,
        height: image.height,
      };
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
  pool: UpscalerPool,
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
        const one = await upscaleTask(request, pool).run(context);
        images.push(one.image);
        if (i === 0) htmlInfo = one.html_info;
      }
      return { kind: "extras-batch", images, html_info: htmlInfo };
    },
  };
}
