/**
 * Opens a weights file for the model loader: pickles are refused before a byte is parsed, and
 * the safetensors reader's own diagnosis (truncated, bad header, …) is kept in the error.
 */
import { existsSync, statSync } from "node:fs";
import { looksLikePickle, refusePickle } from "./ckpt.js";
import { ModelLoadError } from "./model-load-error.js";
import { SafetensorsError, SafetensorsFile } from "./safetensors.js";

export function openWeightsFile(path: string): SafetensorsFile {
  if (!existsSync(path)) throw new ModelLoadError("missing-file", path, "no such file");
  if (statSync(path).isDirectory()) {
    throw new ModelLoadError("unknown-format", path, "expected a weights file here, found a folder");
  }
  if (looksLikePickle(path)) refusePickle(path);
  try {
    return SafetensorsFile.open(path);
  } catch (err) {
    if (err instanceof SafetensorsError) {
      const detail = err.message.startsWith(`${path}: `) ? err.message.slice(path.length + 2) : err.message;
      const error = new ModelLoadError("unreadable", path, `not a readable safetensors file: ${detail}`);
      error.cause = err;
      throw error;
    }
    throw err;
  }
}

/** name -> shape for every tensor of an open file. */
export function tensorShapes(file: SafetensorsFile): Map<string, readonly number[]> {
  const out = new Map<string, readonly number[]>();
  for (const [name, info] of file.tensors) out.set(name, info.shape);
  return out;
}
