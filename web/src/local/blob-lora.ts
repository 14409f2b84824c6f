/**
 * A LoRA .safetensors Blob (a dropped File) read as `sdlite generate --lora` reads the file: its
 * tensors through BlobSafetensors, its format and modules by the shared parser
 * (src/lora/parse-lora-tensors.ts), and the same two hashes (file-hashes.ts): SHA-256 of the whole
 * file for graph keys, of the data after the header for A1111's `Lora hashes`. LoRA files are small
 * (a few to a few hundred MB); the checkpoint is never read here.
 */
import type { LoraFile } from "../../../src/lora/lora-module.js";
import type { LoraTargetModel, LoraTargets } from "../../../src/lora/lora-targets.js";
import { parseLoraTensors } from "../../../src/lora/parse-lora-tensors.js";
import { BlobSafetensors } from "./blob-safetensors.js";
import { blobSha256 } from "./blob-sha256.js";

/** `name` stands for the file's path (as the Node job names a LoRA by its path). */
export async function readLoraBlob(
  blob: Blob,
  name: string,
  model: LoraTargetModel | LoraTargets,
  signal?: AbortSignal,
): Promise<LoraFile> {
  const file = await BlobSafetensors.open(blob, name);
  try {
    await file.load(() => true, signal);
    const parsed = parseLoraTensors(
      name,
      name.slice(Math.max(name.lastIndexOf("/"), name.lastIndexOf("\\")) + 1),
      {
        names: () => file.names(),
        read: (tensor) => ({ shape: file.info(tensor).shape, data: file.readF32(tensor) }),
        metadata: file.metadata,
      },
      model,
    );
    const [sha256, addnetHash] = [
      await blobSha256(blob, signal),
      await blobSha256(blob.slice(file.dataStart), signal),
    ];
    return { ...parsed, sha256, addnetHash };
  } finally {
    file.close();
  }
}
