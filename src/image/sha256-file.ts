/**
 * Streaming SHA-256 of model files (multi-GB checkpoints are never held in memory), plus the two
 * other hash flavours A1111 uses for infotexts.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";

export interface ByteRange {
  /** First byte hashed (default 0). */
  readonly start?: number;
  /** One past the last byte hashed (default: end of file). */
  readonly end?: number;
}

/** Lower-case hex SHA-256 of a file, or of a byte range of it, read in 1 MiB chunks. */
export async function sha256File(path: string, range: ByteRange = {}): Promise<string> {
  const hash = createHash("sha256");
  const start = range.start ?? 0;
  if (range.end !== undefined && range.end <= start) return hash.digest("hex");
  const stream = createReadStream(path, {
    start,
    ...(range.end !== undefined ? { end: range.end - 1 } : {}),
    highWaterMark: 1 << 20,
  });
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

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

/**
 * A1111's pre-2023 "Model hash" (8 hex): SHA-256 of the 64 KiB at offset 1 MiB. Only for reading
 * old infotexts; it collides easily.
 */
export async function legacyModelHash(path: string): Promise<string> {
  return (await sha256File(path, { start: 0x100000, end: 0x110000 })).slice(0, 8);
}
