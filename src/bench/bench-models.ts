/**
 * The models the bench runs when given none: a full-size SD1.5-shaped random-weight checkpoint and
 * a full-size random TAESD under the bench folder, generated once and reused. Random weights time
 * exactly like real ones (same shapes, same graphs); only the pictures are meaningless.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { writeRandomCheckpoint } from "../weights/random-checkpoint.js";
import { writeRandomTaesd } from "./random-taesd.js";

export const RANDOM_CHECKPOINT_FILE = "sd15-random-f16.safetensors";
export const RANDOM_TAESD_DIR = "taesd-random";

export interface BenchModels {
  readonly modelPath: string;
  readonly taesdPath: string;
  /** What had to be generated this time (empty when both were reused). */
  readonly generated: readonly string[];
}

export function ensureRandomModels(benchDir: string): BenchModels {
  const modelPath = join(benchDir, RANDOM_CHECKPOINT_FILE);
  const taesdPath = join(benchDir, RANDOM_TAESD_DIR);
  const generated: string[] = [];
  // the writer renames a finished file into place, so an existing file is a complete one
  if (!existsSync(modelPath)) {
    writeRandomCheckpoint(modelPath, { dtype: "F16", seed: 0 });
    generated.push(modelPath);
  }
  if (!existsSync(join(taesdPath, "config.json"))) {
    writeRandomTaesd(taesdPath);
    generated.push(taesdPath);
  }
  return { modelPath, taesdPath, generated };
}
