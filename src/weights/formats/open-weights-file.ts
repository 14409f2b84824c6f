/**
 * Opens a weights file for the model loader: safetensors, or a torch.save zip archive through the
 * restricted reader (never Python unpickling). Other pickles are refused before a byte is
 * interpreted, and the readers' own diagnoses (truncated, bad header, …) are kept in the error.
 */
import { existsSync, statSync } from "node:fs";
import { ModelLoadError } from "../model-load-error.js";
import { looksLikePickle, looksLikeTorchZip, refusePickle } from "./ckpt.js";
import { SafetensorsError, SafetensorsFile } from "./safetensors.js";
import type { TensorFile } from "./tensor-file.js";
import { TorchCheckpointFile } from "./torch-checkpoint.js";

export function openWeightsFile(path: string): TensorFile {
  if (!existsSync(path)) throw new ModelLoadError("missing-file", path, "no such file");
  if (statSync(path).isDirectory()) {
    throw new ModelLoadError("unknown-format", path, "expected a weights file here, found a folder");
  }
  if (looksLikePickle(path)) return openTorchCheckpoint(path);
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

function openTorchCheckpoint(path: string): TensorFile {
  if (!looksLikeTorchZip(path)) refusePickle(path);
  try {
    return TorchCheckpointFile.open(path);
  } catch (err) {
    // any failure of the restricted reader (unknown opcode, odd layout, truncation) ends in a refusal
    const message = err instanceof Error ? err.message : String(err);
    return refusePickle(path, message.replace(`${path}: `, ""), err);
  }
}
