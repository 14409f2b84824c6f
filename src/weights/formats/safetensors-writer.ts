/**
 * safetensors writer. Streams tensor by tensor to a temporary file in the target's folder and
 * renames it into place, so a killed process never leaves a half-written file under the real name.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { DTYPE_SIZES, type Dtype } from "./dtype.js";

export interface TensorToWrite {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  /** Raw little-endian bytes, or a typed array whose bytes are written as they are. */
  readonly data: ArrayBufferView | (() => ArrayBufferView);
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

export function writeSafetensors(
  path: string,
  tensors: readonly TensorToWrite[],
  metadata: Record<string, string> = {},
): void {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const len = t.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + len] };
    offset += len;
  }
  let json = JSON.stringify(header);
  // pad with spaces so the data section starts 8-byte aligned, as the reference writer does
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, "utf-8");
  const lenBytes = Buffer.alloc(8);
  lenBytes.writeBigUInt64LE(BigInt(headerBytes.length));

  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, lenBytes);
    writeSync(fd, headerBytes);
    for (const t of tensors) {
      const bytes = bytesOf(typeof t.data === "function" ? t.data() : t.data);
      const expected = t.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZES[t.dtype];
      if (bytes.byteLength !== expected) {
        throw new Error(`${path}: tensor "${t.name}" has ${bytes.byteLength} bytes, expected ${expected}`);
      }
      let done = 0;
      while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done);
    }
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(tmp, { force: true });
    throw err;
  }
}
