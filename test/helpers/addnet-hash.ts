/**
 * The kohya "addnet" hash computed on its own, as an independent reference for the one
 * lora/file-hashes.ts computes while it reads a LoRA file.
 */
import { open } from "node:fs/promises";
import { sha256File } from "../../src/image/sha256-file.js";

/**
 * kohya / sd-webui-additional-networks "addnet" hash of a .safetensors file: SHA-256 of everything
 * after the 8-byte length and the JSON header, so editing metadata does not change it. A1111 uses
 * it (first 12 hex) for the `Lora hashes` of .safetensors LoRAs.
 */
export async function safetensorsDataSha256(path: string): Promise<string> {
  const file = await open(path, "r");
  let headerLength: bigint;
  try {
    const prefix = Buffer.alloc(8);
    const { bytesRead } = await file.read(prefix, 0, 8, 0);
    if (bytesRead < 8) throw new RangeError(`${path}: too short to be a safetensors file`);
    headerLength = prefix.readBigUInt64LE(0);
  } finally {
    await file.close();
  }
  return sha256File(path, { start: 8 + Number(headerLength) });
}
