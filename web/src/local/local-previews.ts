/**
 * The in-tab engine's live previews: the Node server's rule and code (src/server/live-preview.ts:
 * TAESD every few steps, never waited for, at most one decode at a time) over the pipeline's TAESD
 * preview decoder, each preview handed to the page as a PNG, as the server's `current_image` is.
 * Without TAESD weights there are none (the page says how to get them).
 */
import type { PreviewDecoder } from "../../../src/engine/preview-decoder.js";
import { encodePng } from "../../../src/image/png.js";
import { rgbPixels } from "../../../src/image/types.js";
import type { GenerationProgress } from "../../../src/pipeline/generate.js";
import { DEFAULT_PREVIEW_EVERY, LivePreview } from "../../../src/server/live-preview.js";

export interface LocalPreview {
  /** The denoising step (1-based) whose latents these are, of `totalSteps`. */
  readonly step: number;
  readonly totalSteps: number;
  /** PNG of batch item 0 at the generation size (TAESD's decode). */
  readonly png: Uint8Array;
  readonly width: number;
  readonly height: number;
}

export interface LocalPreviewOptions {
  onPreview(preview: LocalPreview): void;
  /** A preview every this many steps; default the server's TAESD default (live-preview.ts). */
  every?: number;
  /** Why previews stopped (a TAESD decode failed; later ones use the cheap linear map). */
  onFailure?(message: string): void;
}

/** The engine's side: feed every progress report to `step`, and await `settled` before returning. */
export interface LocalPreviewRun {
  step(progress: GenerationProgress): void;
  settled(): Promise<void>;
}

/** Previews for one generation, or undefined when none were asked for or there is no TAESD. */
export function localPreviews(
  decoder: PreviewDecoder | undefined,
  options: LocalPreviewOptions | undefined,
): LocalPreviewRun | undefined {
  if (!decoder || !options) return undefined;
  let totalSteps = 0;
  const live = new LivePreview(
    { mode: "taesd", every: options.every ?? DEFAULT_PREVIEW_EVERY.taesd },
    decoder,
    (image, step) =>
      options.onPreview({
        step,
        totalSteps,
        png: encodePng(rgbPixels(image), {}),
        width: image.width,
        height: image.height,
      }),
  );
  let reported = false;
  return {
    step({ latents, latentShape, ...p }) {
      if (p.stage !== "denoise" || p.step === 0 || !latents || !latentShape) return;
      totalSteps = p.totalSteps;
      live.step({ step: p.step, totalSteps: p.totalSteps, latents, latentShape });
    },
    async settled() {
      await live.settled();
      if (live.failure && !reported) {
        reported = true;
        options.onFailure?.(live.failure);
      }
    },
  };
}
