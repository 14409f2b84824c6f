/**
 * Live previews of a running generation: which denoising steps get one and how it is drawn.
 * "taesd" decodes the latents with TAESD at full resolution (the engine's preview decoder),
 * "approx" maps them linearly to RGB at latent resolution (latent-preview.ts), "none" draws nothing.
 * The pipeline reports latents (generate's onProgress) and never waits for a preview: a TAESD decode
 * runs beside the next UNet steps, at most one at a time, and a step due while one is still running
 * gets none. So previews cost at most one TAESD decode every `every` steps.
 */
import type { PreviewDecoder } from "../engine/preview-decoder.js";
import type { RgbImage } from "../image/types.js";
import type { Shape4 } from "../pipeline/networks.js";
import { latentPreview } from "./latent-preview.js";

export const PREVIEW_MODES = ["taesd", "approx", "none"] as const;
export type PreviewMode = (typeof PREVIEW_MODES)[number];

/** A1111's names: show_progress_type "TAESD" / "Approx cheap"; "None" is live_previews_enable off. */
export const A1111_PREVIEW_NAMES: Readonly<Record<PreviewMode, string>> = {
  taesd: "TAESD",
  approx: "Approx cheap",
  none: "None",
};

/**
 * Steps between previews. The linear map costs nothing. A TAESD decode takes 0.43 s at 512 px
 * (docs/benchmarks.md) against an effective UNet step of 2.8 s by default and 1.0 s at the fastest
 * (int8 + DeepCache 3): every 5 steps keeps it to ≈3 % of the denoising time, ≈8 % at the fastest.
 */
export const DEFAULT_PREVIEW_EVERY: Readonly<Record<PreviewMode, number>> = { taesd: 5, approx: 3, none: 3 };

export interface PreviewSettings {
  readonly mode: PreviewMode;
  /** A preview every this many steps; 0 or less: none (A1111's show_progress_every_n_steps −1). */
  readonly every: number;
}

export interface DenoiseStep {
  /** 1-based */
  readonly step: number;
  readonly totalSteps: number;
  readonly latents: Float32Array;
  readonly latentShape: Shape4;
}

export class LivePreview {
  private mode: PreviewMode;
  private readonly every: number;
  private inFlight: Promise<void> | undefined;
  /** Why TAESD previews stopped (they fall back to the linear map); undefined while all is well. */
  failure: string | undefined;

  constructor(
    settings: PreviewSettings,
    private readonly decoder: PreviewDecoder | undefined,
    private readonly publish: (image: RgbImage, step: number) => void,
  ) {
    this.mode = settings.every > 0 ? settings.mode : "none";
    this.every = settings.every;
    if (this.mode === "taesd" && !decoder) {
      this.mode = "approx";
      this.failure = "TAESD previews need TAESD weights (--taesd PATH); showed the cheap approximation";
    }
  }

  /** Call with every denoising step; returns at once (a TAESD preview is published when decoded). */
  step(p: DenoiseStep): void {
    if (this.mode === "none") return;
    const due = p.step % this.every === 0;
    if (this.mode === "approx") {
      // free, so the last step gets one too
      if (due || p.step === p.totalSteps) this.publish(latentPreview(p.latents, p.latentShape), p.step);
      return;
    }
    if (!due || this.inFlight || !this.decoder) return;
    const { latents, latentShape, step } = p;
    const decoder = this.decoder;
    // a preview that fails must not fail the generation: later ones use the linear map
    const run = (async () => {
      try {
        this.publish(await decoder.decode(latents, latentShape), step);
      } catch (err) {
        this.mode = "approx";
        this.failure = `TAESD preview failed, later previews use the cheap approximation: ${err instanceof Error ? err.message : String(err)}`;
        this.publish(latentPreview(latents, latentShape), step);
      }
    })();
    this.inFlight = run;
    const clear = () => {
      if (this.inFlight === run) this.inFlight = undefined;
    };
    run.then(clear, clear);
  }

  /** Resolves when no preview is being decoded. */
  async settled(): Promise<void> {
    await this.inFlight?.catch(() => {});
  }
}
