/**
 * A textual-inversion embedding file dropped on the page (a Blob) read as `sdlite generate` and the
 * server read one from their embeddings folder (src/embeddings/embedding-file.ts): the same checks,
 * the same pure reader of its tensors (src/embeddings/embedding-tensors.ts: .safetensors, or a .pt /
 * .bin torch.save archive through the restricted reader, held in memory: embeddings are small), and
 * the file's SHA-256 for A1111's `TI hashes`. Named, as in A1111, by the file name without extension.
 */

import { listEmbeddings } from "../../../src/embeddings/embedding-lookup.js";
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
} from "../../../src/embeddings/embedding-tensors.js";
import { memoryBytes } from "../../../src/weights/formats/random-access-bytes.js";
import { isZipHead, TorchArchive } from "../../../src/weights/formats/torch-archive.js";
import { BlobSafetensors } from "./blob-safetensors.js";
import { blobSha256 } from "./blob-sha256.js";

/** `fileName` is the file's name (its extension says the format; without it, the prompt word). */
export async function readEmbeddingBlob(
  blob: Blob,
  fileName: string,
  signal?: AbortSignal,
): Promise<TextualInversionEmbedding> {
  try {
    checkEmbeddingFile(fileName, blob.size);
    const parsed =
      embeddingExtension(fileName) === ".safetensors"
        ? await readSafetensors(blob, fileName, signal)
        : readTorch(new Uint8Array(await blob.arrayBuffer()), fileName);
    const sha256 = await blobSha256(blob, signal);
    return { name: embeddingName(fileName), path: fileName, sha256, ...parsed };
  } catch (err) {
    // as the Node folder reports a file it could not read: the file, then why
    if (err instanceof Error && !err.message.startsWith(fileName))
      err.message = `embedding ${fileName}: ${err.message}`;
    throw err;
  }
}

async function readSafetensors(blob: Blob, fileName: string, signal?: AbortSignal): Promise<ParsedEmbedding> {
  const file = await BlobSafetensors.open(blob, fileName);
  try {
    await file.load(() => true, signal);
    return safetensorsEmbedding({
      names: () => file.names(),
      shape: (n) => file.info(n).shape,
      readF32: (n) => file.readF32(n),
    });
  } finally {
    file.close();
  }
}

function readTorch(bytes: Uint8Array, fileName: string): ParsedEmbedding {
  if (!isZipHead(bytes)) throw notTorchZip();
  const file = TorchArchive.open(memoryBytes(bytes), fileName, { tensorsIn: torchEmbeddingTensors });
  try {
    return torchEmbedding(file);
  } finally {
    file.close();
  }
}

/** The engine request's embeddings field (LocalGenerateRequest). */
export interface LocalEmbeddingsRequest {
  /**
   * Textual-inversion embedding files (.safetensors, .pt, .bin), as an embeddings folder holds them
   * for `sdlite generate` and the server: a prompt word naming one (its file name without the
   * extension) puts its vectors in the prompt, and the infotext gets A1111's `TI hashes`.
   */
  embeddings?: { file: Blob; fileName: string }[];
}

/** The request's embedding files, each read once (kept by Blob), listed as the Node folder lists them. */
export class EmbeddingBlobs {
  private readonly read = new WeakMap<
    Blob,
    { fileName: string; embedding: Promise<TextualInversionEmbedding> }
  >();

  async list(
    files: LocalEmbeddingsRequest["embeddings"] = [],
    signal?: AbortSignal,
  ): Promise<TextualInversionEmbedding[]> {
    const out: TextualInversionEmbedding[] = [];
    for (const { file, fileName } of files) {
      let kept = this.read.get(file);
      if (kept?.fileName !== fileName) {
        kept = { fileName, embedding: readEmbeddingBlob(file, fileName, signal) };
        this.read.set(file, kept);
        const entry = kept;
        // a failed (or stopped) read is tried again next time
        entry.embedding.catch(() => {
          if (this.read.get(file) === entry) this.read.delete(file);
        });
      }
      out.push(await kept.embedding);
    }
    return listEmbeddings(out);
  }
}
