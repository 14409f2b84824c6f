/**
 * The settings a model is meant to be run with, for every setting a user did not give: A1111's
 * everyday ones for an ordinary model, few-step ones for distilled models (LCM with a guidance
 * embedding, SD-Turbo), and SD 2.x 768-v models at their training size. The CLI fills requests
 * with them; the server reports them per checkpoint (/sdapi/v1/sd-models).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ArchitectureOverrides } from "../weights/architecture/architecture-overrides.js";
import { loadModel } from "../weights/load-model.js";
import type { ModelProfile } from "../weights/loaded-model.js";

export interface ModelDefaults {
  readonly sampler: string;
  readonly steps: number;
  readonly cfg: number;
  readonly width: number;
  readonly height: number;
}

/** Any model given explicitly: A1111's everyday settings. */
export const GENERIC_DEFAULTS: ModelDefaults = {
  sampler: "Euler a",
  steps: 20,
  cfg: 7.5,
  width: 512,
  height: 512,
};

/**
 * LCM models with a guidance embedding (UNet `time_cond_proj_dim`, e.g. SimianLuo/LCM_Dreamshaper_v7):
 * guidance goes into the embedding (no CFG batch), 4 LCM steps at guidance 8, as their model cards say.
 */
export const GUIDANCE_EMBEDDING_DEFAULTS: ModelDefaults = {
  sampler: "LCM",
  steps: 4,
  cfg: 8,
  width: 512,
  height: 512,
};

/**
 * SD-Turbo (stabilityai/sd-turbo's model card): one Euler step on its trailing schedule (the
 * scheduler config the model brings) without classifier-free guidance, at 512x512. CFG 1, not the
 * card's 0: both turn guidance off (one UNet call per step, the same image), and 1 is what A1111
 * users enter for Turbo models.
 */
export const SD_TURBO_DEFAULTS: ModelDefaults = {
  sampler: "Euler",
  steps: 1,
  cfg: 1,
  width: 512,
  height: 512,
};

/** SD 2.x 768-v models (stabilityai/stable-diffusion-2-1) are trained at 768x768. */
const SD2_768_SIZE = 768;

/** A model's own defaults from its profile; `fallback` for SD1.x and SD 2.x 512 px models. */
export function profileDefaults(profile: ModelProfile, fallback: ModelDefaults): ModelDefaults {
  if (profile.family !== "sd2") return fallback;
  if (profile.turbo) return SD_TURBO_DEFAULTS;
  // a config's sample_size says the size; a single file only that it predicts v (the 768-v models)
  const size = profile.nativeSize ?? (profile.predictionType === "v_prediction" ? SD2_768_SIZE : undefined);
  return size === SD2_768_SIZE ? { ...fallback, width: size, height: size } : fallback;
}

/** A pipeline folder whose UNet embeds the guidance scale gets LCM settings; anything else `fallback`. */
export function defaultsForFolder(dir: string, fallback: ModelDefaults): ModelDefaults {
  try {
    const unet = JSON.parse(readFileSync(join(dir, "unet", "config.json"), "utf-8"));
    if (typeof unet.time_cond_proj_dim === "number") return GUIDANCE_EMBEDDING_DEFAULTS;
  } catch {
    // not a diffusers folder (single file, ONNX without configs): the fallback applies
  }
  return fallback;
}

/**
 * The defaults of the model at `path` (file or pipeline folder): its headers and configs are read
 * (no weights); a model that does not load gets `fallback` (opening it later says why).
 */
export function defaultsForModel(
  path: string,
  fallback: ModelDefaults,
  overrides?: ArchitectureOverrides,
): ModelDefaults {
  const base =
    existsSync(path) && statSync(path).isDirectory() ? defaultsForFolder(path, fallback) : fallback;
  if (base !== fallback) return base;
  let model: ReturnType<typeof loadModel>;
  try {
    model = loadModel(path, { overrides });
  } catch {
    return fallback;
  }
  try {
    return profileDefaults(model.profile, fallback);
  } finally {
    model.close();
  }
}
