/**
 * The tokenizer and scheduler config diffusers falls back to for formats that carry none (single
 * files): no file system here, so the browser's loader uses it too.
 */
import type { ModelFamily } from "./architecture/model-config.js";
import {
  type SchedulerConfigLocation,
  SD_TURBO_SCHEDULER_CONFIG,
  SD1_DEFAULT_PIPELINE_REPO,
  SD1_DEFAULT_TOKENIZER_REPO,
  SD2_DEFAULT_PIPELINE_REPO,
  SD15_SCHEDULER_CONFIG,
  SD21_BASE_SCHEDULER_CONFIG,
  type TokenizerLocation,
} from "./loaded-model.js";

/**
 * What diffusers falls back to when a format carries no tokenizer: CLIP ViT-L/14's (SD1.x), or
 * SD 2.1's tokenizer folder (the same vocabulary, padded with "!").
 */
export function defaultTokenizer(reason: string, family: ModelFamily = "sd1"): TokenizerLocation {
  return family === "sd2"
    ? {
        kind: "not-in-format",
        reason,
        repo: SD2_DEFAULT_PIPELINE_REPO,
        subfolder: "tokenizer",
        padToken: "!",
      }
    : {
        kind: "not-in-format",
        reason,
        repo: SD1_DEFAULT_TOKENIZER_REPO,
        subfolder: "",
        padToken: "<|endoftext|>",
      };
}

export interface SchedulerFallback {
  readonly family?: ModelFamily;
  /** SD-Turbo: its own Euler/trailing config instead of SD 2.1's. */
  readonly turbo?: boolean;
  /** Set when the file or the overrides told it; else the config's own (epsilon). */
  readonly predictionType?: string;
}

export function defaultScheduler(reason: string, fallback: SchedulerFallback = {}): SchedulerConfigLocation {
  const sd2 = fallback.family === "sd2";
  const config = sd2
    ? fallback.turbo
      ? SD_TURBO_SCHEDULER_CONFIG
      : SD21_BASE_SCHEDULER_CONFIG
    : SD15_SCHEDULER_CONFIG;
  return {
    kind: "not-in-format",
    reason,
    repo: sd2
      ? fallback.turbo
        ? "stabilityai/sd-turbo"
        : SD2_DEFAULT_PIPELINE_REPO
      : SD1_DEFAULT_PIPELINE_REPO,
    subfolder: "scheduler",
    fallback: fallback.predictionType ? { ...config, prediction_type: fallback.predictionType } : config,
  };
}
