/**
 * Speed presets: one switch (`--fast`) for the engine options that trade exactness for speed. The
 * defaults stay exact (the same image as diffusers); a preset only fills in what the user left
 * unset, so an explicit option always wins (`--fast --deep-cache 1` turns DeepCache off,
 * `--fast --decoder vae` keeps the full VAE). Figures: docs/benchmarks.md, full-size SD1.5 with
 * RANDOM weights on a 2-core CPU, so they say how fast, not how good: the quality cost on real
 * weights is still to be measured.
 */
import type { SpeedOptions } from "./engine-options.js";

/** The speed options (EngineOptions.speed) a preset may set. */
export type PresetOptions = Pick<
  SpeedOptions,
  "unetQuantization" | "deepCacheInterval" | "decoder" | "todoFactor" | "textEncoderQuantization"
>;

export type SpeedPresetName = "fast";

/** 512x512, 4 LCM steps, no CFG (run d2-speed): 6.10 s a whole image instead of 28.5 s with the defaults. */
export const FAST_PRESET: Readonly<Required<PresetOptions>> = {
  // int8 weights in the UNet's linears and convs: 2.14 s a UNet step instead of 3.73 s, 1.5 GB instead of 3.9
  unetQuantization: "int8",
  // the whole UNet on calls 1 and 4 of 4, the shallow branch in between: 1.50 s effective step instead of 2.18 s (int8)
  deepCacheInterval: 3,
  // TAESD instead of the full VAE decoder: 0.62 s a 512x512 decode instead of 11.7 s
  decoder: "taesd",
  // ToDo: the five full-resolution self-attentions take keys and values from tokens downsampled 2x
  // (the A1111 extension's recommended factor, depth 1): int8 UNet step 1.89 -> 1.39 s at 512, and
  // DeepCache's shallow calls are mostly those attentions; the image moves about as far as int8 moves
  // it (docs/benchmarks.md "Session 11: ToDo token downsampling"). An explicit --tome turns it off.
  todoFactor: 2,
  // int8 text encoder linears: the server's 4-step peak 2.11 -> 1.86 GB, the encode 75 -> 30 ms, a fresh
  // low-memory start's first step no later (1.36 -> 1.27 s); the image within 1 level (59.7 dB,
  // docs/benchmarks.md "Issue 15's targets after session 11")
  textEncoderQuantization: "int8",
};

export const SPEED_PRESETS: Readonly<Record<SpeedPresetName, Readonly<Required<PresetOptions>>>> = {
  fast: FAST_PRESET,
};

/** The preset's options with every option the user gave (not undefined) taking precedence. */
export function withSpeedPreset(preset: SpeedPresetName | undefined, explicit: PresetOptions): PresetOptions {
  if (preset === undefined) return { ...explicit };
  const base = SPEED_PRESETS[preset];
  return {
    unetQuantization: explicit.unetQuantization ?? base.unetQuantization,
    deepCacheInterval: explicit.deepCacheInterval ?? base.deepCacheInterval,
    decoder: explicit.decoder ?? base.decoder,
    todoFactor: explicit.todoFactor ?? base.todoFactor,
    textEncoderQuantization: explicit.textEncoderQuantization ?? base.textEncoderQuantization,
  };
}

/**
 * Whether a one-shot run (`sdlite generate`: one fresh process per image) loads one network at a
 * time. With the fast preset it does unless told otherwise: from a fresh process that was measured
 * both faster and smaller (d2-speed: open + first image 8.98 s at 1.68 GB peak, against 10.6 s at
 * 2.56 GB), since only the network that runs is ever loaded. A server keeps its networks instead
 * (6.10 s an image once loaded, against 8.09 s reloading them).
 */
export function oneShotLowMemory(
  preset: SpeedPresetName | undefined,
  explicit: boolean | undefined,
): boolean | undefined {
  return explicit ?? (preset === "fast" ? true : undefined);
}
