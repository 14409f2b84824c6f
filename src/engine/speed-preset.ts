/**
 * Speed presets: one switch (`--fast`) for the engine options that trade exactness for speed. The
 * defaults stay exact (the same image as diffusers); a preset only fills in what the user left
 * unset, so an explicit option always wins (`--fast --deep-cache 1` turns DeepCache off,
 * `--fast --decoder vae` keeps the full VAE). Figures: docs/benchmarks.md, full-size SD1.5 with
 * RANDOM weights on a 2-core CPU, so they say how fast, not how good: the quality cost on real
 * weights is still to be measured.
 */
import type { EngineOptions } from "./open-pipeline.js";

/** The engine options a preset may set. */
export type SpeedOptions = Pick<EngineOptions, "unetQuantization" | "deepCacheInterval" | "decoder">;

export type SpeedPresetName = "fast";

/** 512x512, 4 LCM steps, no CFG: 4.72 s a whole image instead of 21.1 s with the defaults. */
export const FAST_PRESET: Readonly<Required<SpeedOptions>> = {
  // int8 weights in the UNet's linears and convs: 1.17 s a UNet step instead of 2.78 s, a third of the memory
  unetQuantization: "int8",
  // the whole UNet on calls 1 and 4 of 4, the shallow branch in between: 1.02 s effective step instead of 1.20 s (int8)
  deepCacheInterval: 3,
  // TAESD instead of the full VAE decoder: 0.43 s a 512x512 decode instead of 8.07 s
  decoder: "taesd",
};

export const SPEED_PRESETS: Readonly<Record<SpeedPresetName, Readonly<Required<SpeedOptions>>>> = {
  fast: FAST_PRESET,
};

/** The preset's options with every option the user gave (not undefined) taking precedence. */
export function withSpeedPreset(preset: SpeedPresetName | undefined, explicit: SpeedOptions): SpeedOptions {
  if (preset === undefined) return { ...explicit };
  const base = SPEED_PRESETS[preset];
  return {
    unetQuantization: explicit.unetQuantization ?? base.unetQuantization,
    deepCacheInterval: explicit.deepCacheInterval ?? base.deepCacheInterval,
    decoder: explicit.decoder ?? base.decoder,
  };
}
