/** The non-network parts of a pipeline folder: tokenizer folder and scheduler config. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { readJsonFile } from "./diffusers-component.js";
import {
  type SchedulerConfigLocation,
  SD1_DEFAULT_PIPELINE_REPO,
  SD1_DEFAULT_TOKENIZER_REPO,
  SD15_SCHEDULER_CONFIG,
  type TokenizerLocation,
} from "./loaded-model.js";

/** What diffusers falls back to when a format carries no tokenizer (SD1.x: CLIP ViT-L/14's). */
export function defaultTokenizer(reason: string): TokenizerLocation {
  return { kind: "not-in-format", reason, repo: SD1_DEFAULT_TOKENIZER_REPO, subfolder: "" };
}

export function defaultScheduler(reason: string): SchedulerConfigLocation {
  return {
    kind: "not-in-format",
    reason,
    repo: SD1_DEFAULT_PIPELINE_REPO,
    subfolder: "scheduler",
    fallback: SD15_SCHEDULER_CONFIG,
  };
}

export function tokenizerIn(dir: string): TokenizerLocation {
  const folder = join(dir, "tokenizer");
  if (existsSync(join(folder, "vocab.json")) && existsSync(join(folder, "merges.txt"))) {
    return { kind: "folder", path: folder };
  }
  return defaultTokenizer(`${folder} has no vocab.json + merges.txt`);
}

export function schedulerIn(dir: string): SchedulerConfigLocation {
  const path = join(dir, "scheduler", "scheduler_config.json");
  if (!existsSync(path)) return defaultScheduler(`${path} does not exist`);
  return { kind: "file", path, config: readJsonFile(path) };
}
