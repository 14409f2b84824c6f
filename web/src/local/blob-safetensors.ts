/**
 * A safetensors checkpoint read from a Blob (a dropped File, an OPFS file) as the loaders' TensorFile.
 * The header is read once; tensors are read with Blob.slice(), one tensor per ArrayBuffer, and only
 * for the network being built (`load`), so a 2-4 GB checkpoint never lands in one buffer (Chrome caps
 * ArrayBuffers near 2 GB) nor all in memory at once. The loaders read tensors synchronously, so
 * reads fail until `load` has fetched them.
 */
import { bytesToF32, type Dtype } from "../../../src/weights/formats/dtype.js";
import {
  MAX_HEADER_BYTES,
  parseSafetensorsHeader,
  SafetensorsError,
  type TensorInfo,
} from "../../../src/weights/formats/safetensors-header.js";
import type { TensorFile } from "../../../src/weights/formats/tensor-file.js";

async function sliceBytes(blob: Blob, begin: number, end: number): Promise<Uint8Array> {
  return new Uint8Array(await blob.slice(begin, end).arrayBuffer());
}

export class BlobSafetensors implements TensorFile {
  private readonly loaded = new Map<string, Uint8Array>();
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly blob: Blob,
    /** Where the tensor data begins (after the header): the LoRA addnet hash starts there. */
    readonly dataStart: number,
    private readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  static async open(blob: Blob, path: string): Promise<BlobSafetensors> {
    if (blob.size < 8)
      throw new SafetensorsError(path, `file is ${blob.size} bytes, too short for a safetensors header`);
    const lenBytes = await sliceBytes(blob, 0, 8);
    const headerLen = Number(new DataView(lenBytes.buffer).getBigUint64(0, true));
    if (headerLen > MAX_HEADER_BYTES) {
      throw new SafetensorsError(
        path,
        `header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte cap; not a safetensors file?`,
      );
    }
    if (8 + headerLen > blob.size) {
      throw new SafetensorsError(
        path,
        `header length ${headerLen} runs past the end of the ${blob.size}-byte file`,
      );
    }
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(await sliceBytes(blob, 8, 8 + headerLen));
    } catch {
      throw new SafetensorsError(path, "header is not valid UTF-8; not a safetensors file?");
    }
    const header = parseSafetensorsHeader(text, blob.size - 8 - headerLen, path);
    return new BlobSafetensors(path, blob, 8 + headerLen, header.tensors, header.metadata);
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): { readonly dtype: Dtype; readonly shape: readonly number[] } {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError(this.path, "no such tensor in the file", name);
    return t;
  }

  /** Reads the tensors whose file names pass `wanted` (all by default) into memory. */
  async load(wanted: (name: string) => boolean = () => true, signal?: AbortSignal): Promise<void> {
    if (this.closed) throw new SafetensorsError(this.path, "file is closed");
    for (const t of this.tensors.values()) {
      signal?.throwIfAborted();
      if (!wanted(t.name) || this.loaded.has(t.name)) continue;
      this.loaded.set(t.name, await sliceBytes(this.blob, this.dataStart + t.begin, this.dataStart + t.end));
    }
  }

  /** Frees what `load` read (the built graph holds its own copy). */
  unload(): void {
    this.loaded.clear();
  }

  readF32(name: string): Float32Array {
    const t = this.info(name);
    const bytes = this.loaded.get(name);
    if (!bytes)
      throw new SafetensorsError(this.path, "not read from the Blob yet (BlobSafetensors.load)", name);
    return bytesToF32(t.dtype, bytes);
  }

  close(): void {
    this.closed = true;
    this.loaded.clear();
  }
}
