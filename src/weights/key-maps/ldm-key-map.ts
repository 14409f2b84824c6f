/**
 * The original LDM single-file layout (`model.diffusion_model.*`, `first_stage_model.*`, and
 * `cond_stage_model.transformer.*` for SD1.x's CLIP or `cond_stage_model.model.*` for SD2.x's
 * OpenCLIP) mapped onto the canonical diffusers/transformers names, per component, generated from
 * the architecture configs.
 */

import type { ModelFamily, TextEncoderConfig, UNetConfig, VaeConfig } from "../architecture/model-config.js";
import { textEncoderTensorMap } from "./clip-key-map.js";
import { OPEN_CLIP_PREFIX, openClipCheckpointTensors } from "./open-clip-key-map.js";
import type { TensorMapping } from "./tensor-mapping.js";
import { unetTensorMap } from "./unet-key-map.js";
import { vaeTensorMap } from "./vae-key-map.js";

export type { TensorMapping } from "./tensor-mapping.js";
export { textEncoderTensorMap, unetTensorMap, vaeTensorMap };

export type ComponentName = "unet" | "vae" | "textEncoder";

/** Where each component lives inside an SD1.x single-file checkpoint (SD2.x: textEncoderPrefix). */
export const LDM_PREFIXES: Readonly<Record<ComponentName, string>> = {
  unet: "model.diffusion_model.",
  vae: "first_stage_model.",
  textEncoder: "cond_stage_model.transformer.",
};

/** The text tower's prefix: CLIP (SD1.x) or OpenCLIP (SD2.x). */
export function textEncoderPrefix(family: ModelFamily): string {
  return family === "sd2" ? OPEN_CLIP_PREFIX : LDM_PREFIXES.textEncoder;
}

export interface CheckpointConfigs {
  unet: UNetConfig;
  vae: VaeConfig;
  textEncoder: TextEncoderConfig;
  /** "sd2": the text tower in OpenCLIP's layout, with the block SD2 skips. Default "sd1". */
  family?: ModelFamily;
}

/** The SD1.x name of CheckpointConfigs, kept for its callers. */
export type Sd1Configs = CheckpointConfigs;

/**
 * Every tensor of a full single file, with its full LDM key (prefix included). OpenCLIP's fused
 * q/k/v projections appear once, whole.
 */
export function ldmCheckpointKeys(
  configs: CheckpointConfigs,
): { key: string; component: ComponentName; mapping: TensorMapping }[] {
  const out: { key: string; component: ComponentName; mapping: TensorMapping }[] = [];
  const family = configs.family ?? "sd1";
  const maps: Record<ComponentName, TensorMapping[]> = {
    unet: unetTensorMap(configs.unet),
    vae: vaeTensorMap(configs.vae),
    textEncoder:
      family === "sd2"
        ? openClipCheckpointTensors(configs.textEncoder)
        : textEncoderTensorMap(configs.textEncoder),
  };
  const prefixes = { ...LDM_PREFIXES, textEncoder: textEncoderPrefix(family) };
  for (const component of ["unet", "vae", "textEncoder"] as const) {
    for (const mapping of maps[component])
      out.push({ key: prefixes[component] + mapping.ldm, component, mapping });
  }
  return out;
}
