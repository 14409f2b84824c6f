/**
 * Reads a LoRA .safetensors file from disk, detects its format (kohya/A1111 or diffusers/PEFT) and
 * resolves every module onto the canonical weights of a model (parse-lora-tensors.ts, shared with
 * the browser). Keys that fit nothing are returned in `unmatched` (with the file name and the
 * reason) for the caller to surface, never dropped.
 */
import { basename } from "node:path";
import { SafetensorsFile } from "../weights/formats/safetensors.js";
import { safetensorsHashes } from "./file-hashes.js";
import type { LoraFile, LoraTensorReader } from "./lora-module.js";
import type { LoraTargetModel, LoraTargets } from "./lora-targets.js";
import { parseLoraTensors } from "./parse-lora-tensors.js";

export { detectLoraFormat } from "./parse-lora-tensors.js";

function tensorReader(file: SafetensorsFile): LoraTensorReader {
  return {
    names: () => file.names(),
    read: (name) => ({ shape: file.info(name).shape, data: file.readF32(name) }),
    metadata: file.metadata,
  };
}

/**
 * `model` is either the model's weights (the lookups are built once per call) or a LoraTargets
 * built once and shared by several files.
 */
export function readLoraFile(path: string, model: LoraTargetModel | LoraTargets): LoraFile {
  const file = SafetensorsFile.open(path);
  try {
    const parsed = parseLoraTensors(path, basename(path), tensorReader(file), model);
    return { ...parsed, ...safetensorsHashes(path, file.dataStart) };
  } finally {
    file.close();
  }
}
