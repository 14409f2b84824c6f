/**
 * An extras upscale (A1111's extra-single-image, one image of extra-batch-images) as JSON: the
 * input pixels as base64, the resize, the upscaler entries. A job executor (src/executor/) runs it
 * where its networks may block a thread, and answers JSON too: the PNG as base64 with the input's
 * text chunks and the `postprocessing` infotext, as the A1111 API returns it.
 */
import { encodePng } from "../image/png.js";
import { type RgbImage, rgbPixels } from "../image/types.js";
import { type ExtrasResize, extrasUpscale } from "./extras-upscale.js";
import { formatPostprocessInfo, infotextHtml, postprocessTextChunks } from "./postprocess-info.js";
import type { UpscaleProgress } from "./upscale-by.js";
import type { Upscaler } from "./upscaler.js";
import type { UpscalerEntry } from "./upscaler-catalog.js";

export interface UpscaleJob {
  /** RGB, 3 bytes a pixel, row-major; `data` is base64. */
  readonly image: { readonly width: number; readonly height: number; readonly data: string };
  /** The input PNG's text chunks, kept in the output. */
  readonly text: Readonly<Record<string, string>>;
  readonly resize: ExtrasResize;
  /** Undefined: A1111's "None" (the image is returned as it is). */
  readonly upscaler?: UpscalerEntry;
  readonly second?: { readonly upscaler: UpscalerEntry; readonly visibility: number };
}

export interface UpscaleJobResult {
  /** Base64 PNG: the input's text chunks plus the `postprocessing` infotext. */
  readonly image: string;
  readonly html_info: string;
  readonly info: string;
  readonly width: number;
  readonly height: number;
}

export interface UpscaleJobOptions {
  readonly signal?: AbortSignal;
  /** `upscaler` 0 or 1 (the second), then the pass and tile progress within it. */
  readonly onProgress?: (upscaler: number, progress: UpscaleProgress) => void;
}

/** An image for UpscaleJob's `image`. */
export function upscaleJobImage(image: RgbImage): UpscaleJob["image"] {
  const { data } = image;
  return {
    width: image.width,
    height: image.height,
    data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64"),
  };
}

/** Runs the job with the upscalers `open` gives (a pool keeps them open between jobs). */
export async function runUpscaleJob(
  job: UpscaleJob,
  open: (entry: UpscalerEntry) => Promise<Upscaler>,
  options: UpscaleJobOptions = {},
): Promise<UpscaleJobResult> {
  const bytes = Buffer.from(job.image.data, "base64");
  if (bytes.length !== job.image.width * job.image.height * 3) {
    throw new RangeError(
      `upscale job: ${bytes.length} bytes of pixels for a ${job.image.width}x${job.image.height} RGB image`,
    );
  }
  let image: RgbImage = { width: job.image.width, height: job.image.height, data: new Uint8Array(bytes) };
  let infotext = "";
  if (job.upscaler) {
    const upscaler = await open(job.upscaler);
    const second = job.second
      ? { upscaler: await open(job.second.upscaler), visibility: job.second.visibility }
      : undefined;
    const result = await extrasUpscale(
      image,
      { resize: job.resize, upscaler, second },
      { signal: options.signal, onProgress: options.onProgress },
    );
    image = result.image;
    infotext = formatPostprocessInfo(result.info);
  }
  const png = encodePng(rgbPixels(image), postprocessTextChunks(job.text, infotext, "api"));
  return {
    image: Buffer.from(png).toString("base64"),
    html_info: infotextHtml(infotext),
    info: infotext,
    width: image.width,
    height: image.height,
  };
}
