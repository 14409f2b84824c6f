/**
 * Content hashes of a safetensors file in one streaming pass: SHA-256 of the whole file (a cache
 * key that changes whenever anything in it does) and of the data after the header (the "addnet"
 * hash AUTOMATIC1111 uses for LoRAs, stable under metadata edits).
 */
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";

export interface SafetensorsHashes {
  readonly sha256: string;
  readonly addnetHash: string;
}

const CHUNK_BYTES = 4 << 20;

export function safetensorsHashes(path: string, dataStart: number): SafetensorsHashes {
  const whole = createHash("sha256");
  const data = createHash("sha256");
  const fd = openSync(path, "r");
  try {
    const buf = new Uint8Array(CHUNK_BYTES);
    let position = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK_BYTES, position);
      if (n === 0) break;
      const chunk = buf.subarray(0, n);
      whole.update(chunk);
      if (position + n > dataStart) data.update(chunk.subarray(Math.max(0, dataStart - position)));
      position += n;
    }
  } finally {
    closeSync(fd);
  }
  return { sha256: whole.digest("hex"), addnetHash: data.digest("hex") };
}
