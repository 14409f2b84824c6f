/**
 * A1111's settings as the API exposes them (GET/POST /sdapi/v1/options). These act on generation
 * here: CLIP_stop_at_last_layers (Clip skip), randn_source, pad_cond_uncond, and the live previews
 * (live_previews_enable, show_progress_type "TAESD" / "Approx cheap", show_progress_every_n_steps);
 * sd_model_checkpoint is the loaded model (switching it is a queued job, see create-server.ts). Any
 * other key is stored and echoed back, as A1111 stores it, so clients that save and restore
 * settings keep working.
 */
import { checkedClipSkip, checkedPadCondUncond, rngFromRandnSource } from "./generation-plan.js";
import { invalidRequest } from "./http-error.js";
import { A1111_PREVIEW_NAMES, type PreviewMode, type PreviewSettings } from "./live-preview.js";

export interface OptionsDefaults {
  clipSkip?: number;
  randnSource?: "CPU" | "GPU" | "NV";
  previewEvery: number;
  previewMode: PreviewMode;
  /** Whether TAESD weights were given (--taesd): TAESD previews need them. */
  taesdAvailable: boolean;
}

const APPLIED_KEYS = [
  "sd_model_checkpoint",
  "CLIP_stop_at_last_layers",
  "randn_source",
  "pad_cond_uncond",
  "live_previews_enable",
  "show_progress_type",
  "show_progress_every_n_steps",
];

export class ServerOptions {
  private readonly stored = new Map<string, unknown>();
  clipSkip: number;
  randnSource: string;
  /** A1111's "Pad prompt/negative prompt" (off by default, as in A1111). */
  padCondUncond = false;
  livePreviews: boolean;
  /** How previews are drawn while live previews are on. */
  previewType: Exclude<PreviewMode, "none">;
  previewEvery: number;

  constructor(private readonly defaults: OptionsDefaults) {
    this.clipSkip = defaults.clipSkip ?? 1;
    // diffusers' default (torch CPU generator), so sdlite's images match diffusers from the same seed
    this.randnSource = defaults.randnSource ?? "CPU";
    if (defaults.previewMode === "taesd" && !defaults.taesdAvailable) {
      throw new Error("TAESD previews need TAESD weights (--taesd PATH)");
    }
    this.livePreviews = defaults.previewMode !== "none";
    this.previewType =
      defaults.previewMode === "none" ? (defaults.taesdAvailable ? "taesd" : "approx") : defaults.previewMode;
    this.previewEvery = checkedPreviewEvery(defaults.previewEvery);
  }

  /** The live-preview settings a job starting now uses. */
  preview(): PreviewSettings {
    return { mode: this.livePreviews ? this.previewType : "none", every: this.previewEvery };
  }

  /** Applies every key but sd_model_checkpoint (the caller queues that); throws on invalid values. */
  apply(values: Readonly<Record<string, unknown>>): void {
    // validate everything first: a bad value leaves all settings unchanged
    const clipSkip =
      values.CLIP_stop_at_last_layers !== undefined
        ? checkedClipSkip(values.CLIP_stop_at_last_layers)
        : undefined;
    if (values.randn_source !== undefined) rngFromRandnSource(values.randn_source);
    const pad =
      values.pad_cond_uncond !== undefined ? checkedPadCondUncond(values.pad_cond_uncond) : undefined;
    const enable = values.live_previews_enable;
    if (enable !== undefined && typeof enable !== "boolean") {
      throw invalidRequest(`live_previews_enable must be true or false, got ${JSON.stringify(enable)}`);
    }
    const type =
      values.show_progress_type !== undefined
        ? this.checkedPreviewType(values.show_progress_type)
        : undefined;
    const every =
      values.show_progress_every_n_steps !== undefined
        ? checkedPreviewEvery(values.show_progress_every_n_steps)
        : undefined;
    if (clipSkip !== undefined) this.clipSkip = clipSkip;
    if (values.randn_source !== undefined) this.randnSource = String(values.randn_source).toUpperCase();
    if (pad !== undefined) this.padCondUncond = pad;
    if (enable !== undefined) this.livePreviews = enable;
    if (type === "none") this.livePreviews = false;
    else if (type !== undefined) this.previewType = type;
    if (every !== undefined) this.previewEvery = every;
    for (const [key, value] of Object.entries(values)) {
      if (!APPLIED_KEYS.includes(key)) this.stored.set(key, value);
    }
  }

  /** A1111's show_progress_type names (any case), or sdlite's --preview names. */
  private checkedPreviewType(value: unknown): PreviewMode {
    const name = typeof value === "string" ? value.toLowerCase() : "";
    const mode = (Object.keys(A1111_PREVIEW_NAMES) as PreviewMode[]).find(
      (m) => m === name || A1111_PREVIEW_NAMES[m].toLowerCase() === name,
    );
    if (!mode) {
      throw invalidRequest(
        `show_progress_type must be one of ${Object.values(A1111_PREVIEW_NAMES)
          .map((n) => JSON.stringify(n))
          .join(", ")}, got ${JSON.stringify(value)}`,
      );
    }
    if (mode === "taesd" && !this.defaults.taesdAvailable) {
      throw invalidRequest(
        'show_progress_type "TAESD" needs TAESD weights: start the server with --taesd PATH',
      );
    }
    return mode;
  }

  /** The options document; `model` is the loaded checkpoint's title and SHA-256. */
  snapshot(model: { title: string; sha256?: string } | undefined): Record<string, unknown> {
    return {
      samples_format: "png",
      sd_vae: "Automatic",
      show_progress_every_n_steps: this.previewEvery,
      show_progress_type: A1111_PREVIEW_NAMES[this.previewType],
      live_previews_enable: this.livePreviews,
      ...Object.fromEntries(this.stored),
      sd_model_checkpoint: model?.title ?? null,
      sd_checkpoint_hash: model?.sha256 ?? null,
      CLIP_stop_at_last_layers: this.clipSkip,
      randn_source: this.randnSource,
      pad_cond_uncond: this.padCondUncond,
    };
  }
}

/** A1111's show_progress_every_n_steps: an integer; −1 (or 0) shows no previews. */
function checkedPreviewEvery(value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < -1 || value > 1000) {
    throw invalidRequest(
      `show_progress_every_n_steps must be an integer from -1 (no previews) to 1000, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}
