/**
 * A1111's settings as the API exposes them (GET/POST /sdapi/v1/options). Two act on generation
 * here: CLIP_stop_at_last_layers (Clip skip) and randn_source; sd_model_checkpoint is the loaded
 * model (switching it is a queued job, see create-server.ts). Any other key is stored and echoed
 * back, as A1111 stores it, so clients that save and restore settings keep working.
 */
import { checkedClipSkip, rngFromRandnSource } from "./generation-plan.js";

export interface OptionsDefaults {
  clipSkip?: number;
  randnSource?: "CPU" | "GPU" | "NV";
  previewEvery: number;
}

export class ServerOptions {
  private readonly stored = new Map<string, unknown>();
  clipSkip: number;
  randnSource: string;

  constructor(private readonly defaults: OptionsDefaults) {
    this.clipSkip = defaults.clipSkip ?? 1;
    // diffusers' default (torch CPU generator), so sdlite's images match diffusers from the same seed
    this.randnSource = defaults.randnSource ?? "CPU";
  }

  /** Applies every key but sd_model_checkpoint (the caller queues that); throws on invalid values. */
  apply(values: Readonly<Record<string, unknown>>): void {
    // validate everything first: a bad value leaves all settings unchanged
    const clipSkip =
      values.CLIP_stop_at_last_layers !== undefined
        ? checkedClipSkip(values.CLIP_stop_at_last_layers)
        : undefined;
    if (values.randn_source !== undefined) rngFromRandnSource(values.randn_source);
    if (clipSkip !== undefined) this.clipSkip = clipSkip;
    if (values.randn_source !== undefined) this.randnSource = String(values.randn_source).toUpperCase();
    for (const [key, value] of Object.entries(values)) {
      if (!["sd_model_checkpoint", "CLIP_stop_at_last_layers", "randn_source"].includes(key)) {
        this.stored.set(key, value);
      }
    }
  }

  /** The options document; `model` is the loaded checkpoint's title and SHA-256. */
  snapshot(model: { title: string; sha256?: string } | undefined): Record<string, unknown> {
    return {
      samples_format: "png",
      sd_vae: "Automatic",
      show_progress_every_n_steps: this.defaults.previewEvery,
      show_progress_type: "Approx cheap",
      live_previews_enable: true,
      ...Object.fromEntries(this.stored),
      sd_model_checkpoint: model?.title ?? null,
      sd_checkpoint_hash: model?.sha256 ?? null,
      CLIP_stop_at_last_layers: this.clipSkip,
      randn_source: this.randnSource,
    };
  }
}
