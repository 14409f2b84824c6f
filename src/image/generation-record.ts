/**
 * What one generated image was made with: the typed form of an A1111 infotext. Pipelines fill it,
 * ./infotext.ts turns it into the PNG `parameters` text and back.
 */

/** A1111's `randn_source` option: CPU = torch CPU generator, NV = Philox as on NVIDIA GPUs. */
export type RngSource = "GPU" | "CPU" | "NV";

export interface LoraHash {
  /** The name used in the prompt's <lora:name:weight> tag. */
  readonly name: string;
  /** A1111's LoRA short hash: first 12 hex of the file's SHA-256. */
  readonly hash: string;
}

export interface GenerationRecord {
  readonly prompt: string;
  readonly negativePrompt?: string;
  readonly steps: number;
  /** A1111 sampler label without the schedule, e.g. "DPM++ 2M", "Euler a". */
  readonly sampler: string;
  /** A1111 schedule label ("Karras", "Exponential", ...); omitted for the sampler's default. */
  readonly scheduleType?: string;
  readonly cfgScale: number;
  readonly seed: number;
  readonly width: number;
  readonly height: number;
  /** A1111 "Model hash" (AutoV2): first 10 hex of the checkpoint's SHA-256. */
  readonly modelHash?: string;
  /** Checkpoint name without extension. */
  readonly model?: string;
  /** img2img / inpaint strength. */
  readonly denoisingStrength?: number;
  /** Written only when > 1, as A1111 does. */
  readonly clipSkip?: number;
  readonly loraHashes?: readonly LoraHash[];
  /** Written only when not "GPU" (A1111's default, which it leaves out). */
  readonly rng?: RngSource;
  /** Written last, e.g. "sdlite 0.1.0". */
  readonly version?: string;
  /** Any further `Key: value` pairs (hires fix, VAE, ...), written in order after RNG, before Lora hashes. */
  readonly extra?: Readonly<Record<string, string | number | boolean>>;
}
