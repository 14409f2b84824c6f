/**
 * One textual-inversion embedding file on disk, read as AUTOMATIC1111 reads it: the file's checks,
 * its SHA-256 and its tensors through the pure reader (embedding-tensors.ts, which says which
 * layouts are read).
 */
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { SafetensorsFile } from "../weights/formats/safetensors.js";
import { TorchCheckpointFile } from "../weights/formats/torch-checkpoint.js";
import {
  checkEmbeddingFile,
  embeddingExtension,
  embeddingName,
  notTorchZip,
  type ParsedEmbedding,
  safetensorsEmbedding,
  type TextualInversionEmbedding,
  torchEmbedding,
  torchEmbeddingTensors,
} from "./embedding-tensors.js";

export {
  EMBEDDING_EXTENSIONS,
  EmbeddingFileError,
  type TextualInversionEmbedding,
} from "./embedding-tensors.js";

export function readEmbeddingFile(path: string): TextualInversionEmbedding {
  checkEmbeddingFile(path, statSync(path).size);
  const sha256 = createHash("sha256").update(readFileSync(path)).digest("hex");
  const parsed = embeddingExtension(path) === ".safetensors" ? readSafetensors(path) : readTorch(path);
  return { name: embeddingName(path), path, sha256, ...parsed };
}

function readSafetensors(path: string): ParsedEmbedding {
  const file = SafetensorsFile.open(path);
  try {
    return safetensorsEmbedding({
      names: () => file.names(),
      shape: (n) => file.info(n).shape,
      readF32: (n) => file.readF32(n),
    });
  } finally {
    file.close();
  }
}

function readTorch(path: string): ParsedEmbedding {
  if (!TorchCheckpointFile.isTorchZip(path)) throw notTorchZip();
  const file = TorchCheckpointFile.open(path, { tensorsIn: torchEmbeddingTensors });
  try {
    return torchEmbedding(file);
  } finally {
    file.close();
  }
}
