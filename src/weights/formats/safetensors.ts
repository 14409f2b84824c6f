/**
 * safetensors reader: the header is parsed and validated up front, tensors are read on demand
 * with positioned file reads, so a multi-GB checkpoint is never held in one buffer.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { bytesToF32, type Dtype } from "./dtype.js";
import {
  MAX_HEADER_BYTES,
  parseSafetensorsHeader,
  SafetensorsError,
  type SafetensorsHeader,
  type TensorInfo,
} from "./safetensors-header.js";

export {
  MAX_HEADER_BYTES,
  parseSafetensorsHeader,
  SafetensorsError,
  type SafetensorsHeader,
  type TensorInfo,
} from "./safetensors-header.js";

export interface RawTensor {
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

export class SafetensorsFile implements SafetensorsHeader {
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Readonly<Record<string, string>>;
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    fd: number,
    readonly dataStart: number,
    header: SafetensorsHeader,
  ) {
    this.fd = fd;
    this.tensors = header.tensors;
    this.metadata = header.metadata;
  }

  static open(path: string): SafetensorsFile {
    const fd = openSync(path, "r");
    try {
      const size = fstatSync(fd).size;
      if (size < 8)
        throw new SafetensorsError(path, `file is ${size} bytes, too short for a safetensors header`);
      const lenBuf = new Uint8Array(8);
      readSync(fd, lenBuf, 0, 8, 0);
      const headerLen = Number(new DataView(lenBuf.buffer).getBigUint64(0, true));
      if (headerLen > MAX_HEADER_BYTES) {
        throw new SafetensorsError(
          path,
          `header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte cap; not a safetensors file?`,
        );
      }
      if (8 + headerLen > size) {
        throw new SafetensorsError(
          path,
          `header length ${headerLen} runs past the end of the ${size}-byte file`,
        );
      }
      const headerBuf = new Uint8Array(headerLen);
      readFully(fd, headerBuf, 8);
      let text: string;
      try {
        text = new TextDecoder("utf-8", { fatal: true }).decode(headerBuf);
      } catch {
        throw new SafetensorsError(path, "header is not valid UTF-8; not a safetensors file?");
      }
      const header = parseSafetensorsHeader(text, size - 8 - headerLen, path);
      return new SafetensorsFile(path, fd, 8 + headerLen, header);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError(this.path, "no such tensor in the file", name);
    return t;
  }

  readRaw(name: string): RawTensor {
    const t = this.info(name);
    if (this.fd === undefined) throw new SafetensorsError(this.path, "file is closed", name);
    const bytes = new Uint8Array(t.end - t.begin);
    readFully(this.fd, bytes, this.dataStart + t.begin);
    return { dtype: t.dtype, shape: t.shape, bytes };
  }

  /** Any numeric dtype, widened or narrowed to float32. */
  readF32(name: string): Float32Array {
    const raw = this.readRaw(name);
    return bytesToF32(raw.dtype, raw.bytes);
  }

  /** F64 tensors (e.g. golden timesteps) without the float32 round trip. */
  readF64(name: string): Float64Array {
    const raw = this.readRaw(name);
    if (raw.dtype === "F64")
      return new Float64Array(raw.bytes.buffer, raw.bytes.byteOffset, raw.bytes.byteLength / 8);
    return Float64Array.from(bytesToF32(raw.dtype, raw.bytes));
  }

  /** Integer tensors (e.g. token ids) as plain numbers. */
  readInts(name: string): number[] {
    const raw = this.readRaw(name);
    if (raw.dtype === "I64") return Array.from(new BigInt64Array(raw.bytes.buffer), (v) => Number(v));
    return Array.from(bytesToF32(raw.dtype, raw.bytes));
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

function readFully(fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.byteLength) {
    // readSync caps a single read at ~2 GB; loop for large tensors and short reads
    const n = readSync(fd, buf, done, Math.min(buf.byteLength - done, 1 << 30), position + done);
    if (n === 0) throw new Error(`unexpected end of file at byte ${position + done}`);
    done += n;
  }
}
