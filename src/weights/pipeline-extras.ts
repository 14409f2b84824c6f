/**
 * The non-network parts of a pipeline: tokenizer folder and scheduler config, from a pipeline
 * folder or, for formats that carry none, what diffusers would fetch for the model's family.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ModelFamily } from "./architecture/model-config.js";
import { defaultScheduler, defaultTokenizer, type SchedulerFallback } from "./default-extras.js";
import { readJsonFile } from "./diffusers-component.js";
import type { SchedulerConfigLocation, TokenizerLocation } from "./loaded-model.js";

export { defaultScheduler, defaultTokenizer, type SchedulerFallback };

export function tokenizerIn(dir: string, family: ModelFamily = "sd1"): TokenizerLocation {
  const folder = join(dir, "tokenizer");
  if (existsSync(join(folder, "vocab.json")) && existsSync(join(folder, "merges.txt"))) {
    return { kind: "folder", path: folder };
  }
  return defaultTokenizer(`${folder} has no vocab.json + merges.txt`, family);
}

export function schedulerIn(dir: string, fallback: SchedulerFallback = {}): SchedulerConfigLocation {
  const path = join(dir, "scheduler", "scheduler_config.json");
  if (!existsSync(path)) return defaultScheduler(`${path} does not exist`, fallback);
  return { kind: "file", path, config: readJsonFile(path) };
}
