/**
 * The original LDM single-file layout (`model.diffusion_model.*`, `first_stage_model.*`,
 * `cond_stage_model.transformer.*`) mapped onto the canonical diffusers/transformers names, per
 * component, generated from the architecture configs.
 */

import type { TextEncoderConfig, UNetConfig, VaeConfig } from "../architecture/model-config.js";
import { textEncoderTensorMap } from "./clip-key-map.js";
import type { TensorMapping } from "./tensor-mapping.js";
import { unetTensorMap } from "./unet-key-map.js";
import { vaeTensorMap } from "./vae-key-map.js";

export type { TensorMapping } from "./tensor-mapping.js";
export { textEncoderTensorMap, unetTensorMap, vaeTensorMap };

export type ComponentName = "unet" | "vae" | "textEncoder";

/** Where each component lives inside an SD1.x single-file checkpoint. */
export const LDM_PREFIXES: Readonly<Record<ComponentName, string>> = {
  unet: "model.diffusion_model.",
  vae: "first_stage_model.",
  textEncoder: "cond_stage_model.transformer.",
};

export interface Sd1Configs {
  unet: UNetConfig;
  vae: VaeConfig;
  textEncoder: TextEncoderConfig;
}

/** Every tensor of a full SD1.x single file, with its full LDM key (prefix included). */
export function ldmCheckpointKeys(
  configs: Sd1Configs,
): { key: string; component: ComponentName; mapping: TensorMapping }[] {
  const out: { key: string; component: ComponentName; mapping: TensorMapping }[] = [];
  const maps: Record<ComponentName, TensorMapping[]> = {
    unet: unetTensorMap(configs.unet),
    vae: vaeTensorMap(configs.vae),
    textEncoder: textEncoderTensorMap(configs.textEncoder),
  };
  for (const component of ["unet", "vae", "textEncoder"] as const) {
    for (const mapping of maps[component])
      out.push({ key: LDM_PREFIXES[component] + mapping.ldm, component, mapping });
  }
  return out;
}
