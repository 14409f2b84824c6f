/** The SD 2.x fixtures (`<fixtures>/sd2`, see its README): paths, manifest and golden tensors. */
import { readFileSync } from "node:fs";
import type { SafetensorsFile } from "../../src/weights/formats/safetensors.js";
import { fixturePath, goldenAt } from "./fixtures.js";

export function sd2Path(...parts: string[]): string {
  return fixturePath("sd2", ...parts);
}

/** The tiny SD 2.x diffusers folder and its single file in the OpenCLIP layout. */
export const SD2_FOLDER = sd2Path("models", "tiny-sd2");
export const SD2_SINGLE_FILE = sd2Path("single_file", "tiny-sd2-fp16.safetensors");

/** What the single file cannot tell (manifest single_file.architecture_not_in_file). */
export const TINY_SD2_OVERRIDES = {
  unet: { normNumGroups: 4, attentionHeads: [2, 4, 8, 8] },
  vae: { normNumGroups: 4 },
  textEncoder: { numAttentionHeads: 4 },
};

let manifestCache: unknown;

// biome-ignore lint/suspicious/noExplicitAny: the manifest is free-form JSON read by tests
export function sd2Manifest(): any {
  manifestCache ??= JSON.parse(readFileSync(sd2Path("manifest.json"), "utf-8"));
  return manifestCache;
}

/** Opens `sd2/goldens/<name>.safetensors` once per test process. */
export function sd2Golden(name: string): SafetensorsFile {
  return goldenAt(`sd2/goldens/${name}.safetensors`);
}

/** A scheduler config of the fixture (`scheduler_configs/<name>`), as diffusers' JSON. */
export function sd2SchedulerConfig(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(sd2Path(file), "utf-8"));
}
