/**
 * What kind of model a loaded pipeline is (ModelProfile): SD1.x or SD 2.x, SD-Turbo or not, epsilon
 * or v-prediction, and the size it was trained at when a config says so. Pure: it reads configs,
 * tensor names and safetensors metadata already in memory.
 */
import type { PredictionType } from "../schedulers/types.js";
import type { ModelFamily, UNetConfig } from "./architecture/model-config.js";
import type { ModelProfile, SchedulerConfigLocation } from "./loaded-model.js";

/** SD 2.x UNets attend to 1024-wide OpenCLIP states through linear projections. */
export function unetFamily(config: UNetConfig): ModelFamily {
  return config.crossAttentionDim === 1024 || config.useLinearProjection ? "sd2" : "sd1";
}

/** SD-Turbo's scheduler: Euler with trailing timestep spacing (stabilityai/sd-turbo). */
export function isTurboScheduler(config: Readonly<Record<string, unknown>>): boolean {
  return config._class_name === "EulerDiscreteScheduler" && config.timestep_spacing === "trailing";
}

/** SD-Turbo single files say so only in their name (stabilityai/sd-turbo ships `sd_turbo.safetensors`). */
export function isTurboName(path: string): boolean {
  return /turbo/i.test(path.split(/[\\/]/).pop() ?? "");
}

export interface PredictionTypeHint {
  readonly predictionType: PredictionType;
  /** What in the file told it, for messages. */
  readonly why: string;
}

const SPELLINGS: Record<string, PredictionType> = { epsilon: "epsilon", eps: "epsilon", v: "v_prediction" };

/**
 * What a single file itself says about its prediction type, where it says anything: ComfyUI's
 * `v_pred` marker tensor, Stability's ModelSpec metadata (`modelspec.prediction_type`, ComfyUI's
 * `modelspec.predict_key`, `modelspec.architecture` "stable-diffusion-v2-768-v" / "-v2-512") or
 * kohya's `ss_v_parameterization`. Most SD 2.x files say nothing; then the overrides or
 * epsilon apply.
 */
export function predictionTypeFromFile(
  names: readonly string[],
  metadata: Readonly<Record<string, string>> = {},
): PredictionTypeHint | undefined {
  if (names.includes("v_pred")) return { predictionType: "v_prediction", why: 'a "v_pred" marker tensor' };
  for (const key of ["modelspec.prediction_type", "modelspec.predict_key"]) {
    const value = SPELLINGS[metadata[key]?.trim().toLowerCase() ?? ""];
    if (value) return { predictionType: value, why: `metadata ${key} "${metadata[key]}"` };
  }
  const architecture = metadata["modelspec.architecture"] ?? "";
  if (/^stable-diffusion-v2-768-v\b/.test(architecture)) {
    return { predictionType: "v_prediction", why: `metadata modelspec.architecture "${architecture}"` };
  }
  if (/^stable-diffusion-v2-512\b/.test(architecture)) {
    return { predictionType: "epsilon", why: `metadata modelspec.architecture "${architecture}"` };
  }
  const kohya = metadata.ss_v_parameterization;
  if (kohya === "True" || kohya === "true") {
    return { predictionType: "v_prediction", why: "metadata ss_v_parameterization True" };
  }
  return undefined;
}

/** The prediction type a scheduler config states (diffusers' default: epsilon). */
export function schedulerPredictionType(location: SchedulerConfigLocation): PredictionType {
  const config = location.kind === "file" ? location.config : location.fallback;
  return config.prediction_type === "v_prediction" ? "v_prediction" : "epsilon";
}

/** A folder's scheduler config with the prediction type the overrides give. */
export function withPredictionType(
  location: SchedulerConfigLocation,
  predictionType: PredictionType | undefined,
): SchedulerConfigLocation {
  if (predictionType === undefined) return location;
  return location.kind === "file"
    ? { ...location, config: { ...location.config, prediction_type: predictionType } }
    : { ...location, fallback: { ...location.fallback, prediction_type: predictionType } };
}

/** The profile of a model whose scheduler config is known (folders, or a single file's fallback). */
export function modelProfile(
  family: ModelFamily,
  scheduler: SchedulerConfigLocation,
  predictionTypeFrom: ModelProfile["predictionTypeFrom"],
  extra: { turboName?: boolean; sampleSize?: unknown } = {},
): ModelProfile {
  const config = scheduler.kind === "file" ? scheduler.config : scheduler.fallback;
  const sampleSize = extra.sampleSize;
  return {
    family,
    turbo: family === "sd2" && (isTurboScheduler(config) || extra.turboName === true),
    predictionType: schedulerPredictionType(scheduler),
    predictionTypeFrom,
    ...(typeof sampleSize === "number" && Number.isInteger(sampleSize) && { nativeSize: sampleSize * 8 }),
  };
}
