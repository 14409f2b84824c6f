/**
 * Streaming SHA-256 of model files (multi-GB checkpoints are never held in memory), plus A1111's
 * old model hash. (LoRA addnet hashes are computed while the file is read: lora/file-hashes.ts.)
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

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
 * A1111's pre-2023 "Model hash" (8 hex): SHA-256 of the 64 KiB at offset 1 MiB. Only for reading
 * old infotexts; it collides easily.
 */
export async function legacyModelHash(path: string): Promise<string> {
  return (await sha256File(path, { start: 0x100000, end: 0x110000 })).slice(0, 8);
}
