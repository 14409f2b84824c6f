/**
 * Reads tensors from a torch.save zip archive (`.ckpt`, `.pt`, `.pth`, `.bin`) without running
 * Python: the zip directory is parsed, `data.pkl` goes through the restricted pickle interpreter
 * (which only builds data), and the tensor-rebuild calls it finds are turned into references to
 * the stored, uncompressed storage entries, read on demand like safetensors. Pure: the bytes come
 * through RandomAccessBytes (torch-checkpoint.ts opens a file in Node; a browser passes a buffer).
 */
import { bytesToF32, DTYPE_SIZES, type Dtype } from "./dtype.js";
import type { RandomAccessBytes } from "./random-access-bytes.js";
import { PickleCall, PickleGlobal, PickleTuple, unpickle } from "./restricted-unpickler.js";
import { entryDataOffset, readEntry, readZipDirectory, type ZipEntry } from "./zip-directory.js";

const STORAGE_DTYPES: Record<string, Dtype> = {
  FloatStorage: "F32",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  DoubleStorage: "F64",
  LongStorage: "I64",
  IntStorage: "I32",
  ShortStorage: "I16",
  CharStorage: "I8",
  ByteStorage: "U8",
  BoolStorage: "BOOL",
  UntypedStorage: "U8",
};

/** data.pkl of an SD checkpoint is well under 1 MB; refuse absurd ones. */
const MAX_PICKLE_BYTES = 256 * 1024 * 1024;

class StorageRef {
  constructor(
    readonly dtype: Dtype,
    readonly key: string,
    readonly numel: number,
  ) {}
}

class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

export class TorchCheckpointError extends Error {}

function ints(v: unknown, what: string): number[] {
  if (!(v instanceof PickleTuple) || !v.items.every((i) => Number.isSafeInteger(i))) {
    throw new TorchCheckpointError(`tensor ${what} is not a tuple of integers`);
  }
  return v.items as number[];
}

function globalName(v: unknown): string | undefined {
  return v instanceof PickleGlobal ? v.qualifiedName : undefined;
}

/** The few torch callables whose meaning we reproduce; every other call stays an inert record. */
function reduce(callable: unknown, args: readonly unknown[]): unknown {
  switch (globalName(callable)) {
    case "collections.OrderedDict":
      return new Map();
    case "torch._utils._rebuild_tensor":
    case "torch._utils._rebuild_tensor_v2": {
      const [storage, offset, size, stride] = args;
      if (!(storage instanceof StorageRef) || !Number.isSafeInteger(offset)) {
        throw new TorchCheckpointError("a tensor rebuild call without a storage");
      }
      return new TensorRef(storage, offset as number, ints(size, "size"), ints(stride, "stride"));
    }
    case "torch._utils._rebuild_parameter":
    case "torch._utils._rebuild_parameter_with_state":
      return args[0];
    case "torch._tensor._rebuild_from_type_v2": {
      // (func, type, args, state): the plain tensor is what func(*args) gives
      const inner = args[2];
      return inner instanceof PickleTuple ? reduce(args[0], inner.items) : undefined;
    }
    default:
      return undefined;
  }
}

function persistentLoad(pid: unknown): StorageRef {
  const items = pid instanceof PickleTuple ? pid.items : [];
  const [kind, type, key, , numel] = items;
  const typeName = type instanceof PickleGlobal && type.module === "torch" ? type.name : undefined;
  const dtype = typeName ? STORAGE_DTYPES[typeName] : undefined;
  if (kind !== "storage" || !dtype || typeof key !== "string" || !Number.isSafeInteger(numel)) {
    throw new TorchCheckpointError(`unsupported persistent id (expected a torch storage): ${describe(pid)}`);
  }
  return new StorageRef(dtype, key, numel as number);
}

function describe(v: unknown): string {
  if (v instanceof PickleTuple) return `(${v.items.map(describe).join(", ")})`;
  if (v instanceof PickleGlobal) return v.qualifiedName;
  return JSON.stringify(v) ?? String(v);
}

/** Globals the pickle named but nothing interpreted (e.g. a training callback class). */
function foreignGlobals(root: unknown): string[] {
  const found = new Set<string>();
  const seen = new Set<unknown>();
  const walk = (v: unknown) => {
    if (v === null || typeof v !== "object" || seen.has(v)) return;
    seen.add(v);
    if (v instanceof PickleCall) {
      const name = globalName(v.callable);
      if (name) found.add(name);
      v.args.forEach(walk);
      walk(v.state);
    } else if (v instanceof PickleTuple) v.items.forEach(walk);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v instanceof Map) {
      for (const [k, x] of v) {
        walk(k);
        walk(x);
      }
    }
  };
  walk(root);
  return [...found].sort();
}

function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expected) return false;
    expected *= shape[i];
  }
  return true;
}

export interface TorchOpenOptions {
  /**
   * The dict whose tensor values are the file's named tensors. Default: the root dict, or the one
   * under "state_dict", "params_ema" or "params" (checkpoints keep their weights there).
   */
  readonly tensorsIn?: (root: unknown) => ReadonlyMap<unknown, unknown> | undefined;
}

/** Lightning/SD keep the tensors under "state_dict", BasicSR (Real-ESRGAN) under "params_ema" (the EMA weights its inference uses) or "params". */
function checkpointTensors(root: unknown): ReadonlyMap<unknown, unknown> | undefined {
  const container = root instanceof Map ? root : undefined;
  const wrapped = ["state_dict", "params_ema", "params"].map((k) => container?.get(k));
  const stateDict = wrapped.find((v) => v instanceof Map);
  return stateDict instanceof Map ? stateDict : container;
}

/** The first bytes of a zip file: what torch >= 1.6 writes. */
export function isZipHead(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 3 && head[3] === 4;
}

export class TorchArchive {
  private bytes: RandomAccessBytes | undefined;
  private readonly dataOffsets = new Map<string, number>();

  private constructor(
    readonly path: string,
    bytes: RandomAccessBytes,
    private readonly onClose: () => void,
    private readonly entries: Map<string, ZipEntry>,
    private readonly prefix: string,
    private readonly tensors: Map<string, TensorRef>,
    /** Globals the pickle named that were neither tensors nor containers (recorded, never called). */
    readonly foreignGlobals: readonly string[],
    /** The unpickled object: dicts are Maps, tensors opaque references (read them by name). */
    readonly root: unknown,
  ) {
    this.bytes = bytes;
  }

  /**
   * The archive in `bytes` (`path` names it in errors); `onClose` runs once, on close() (it is not
   * run when this throws: the caller still owns the bytes then).
   */
  static open(
    bytes: RandomAccessBytes,
    path: string,
    options: TorchOpenOptions = {},
    onClose: () => void = () => {},
  ): TorchArchive {
    const entries = readZipDirectory(bytes, bytes.size);
    const pkl = [...entries.keys()].find((n) => n === "data.pkl" || n.endsWith("/data.pkl"));
    if (!pkl) throw new TorchCheckpointError("the zip holds no data.pkl: not a torch.save archive");
    const prefix = pkl.slice(0, -"data.pkl".length);
    const byteorder = entries.get(`${prefix}byteorder`);
    if (byteorder && new TextDecoder().decode(readEntry(bytes, byteorder)).trim() !== "little") {
      throw new TorchCheckpointError("big-endian checkpoints are not supported");
    }
    const pklEntry = entries.get(pkl) as ZipEntry;
    if (pklEntry.uncompressedSize > MAX_PICKLE_BYTES)
      throw new TorchCheckpointError("data.pkl is implausibly large");
    const root = unpickle(readEntry(bytes, pklEntry), { persistentLoad, reduce });
    const tensors = new Map<string, TensorRef>();
    const container = (options.tensorsIn ?? checkpointTensors)(root);
    for (const [key, value] of container ?? []) {
      if (typeof key === "string" && value instanceof TensorRef) tensors.set(key, value);
    }
    const foreign = foreignGlobals(root);
    if (tensors.size === 0) {
      throw new TorchCheckpointError(
        `data.pkl holds no tensors${foreign.length > 0 ? ` (it names ${foreign.join(", ")})` : ""}`,
      );
    }
    const file = new TorchArchive(path, bytes, onClose, entries, prefix, tensors, foreign, root);
    for (const [name, t] of tensors) file.check(name, t);
    return file;
  }

  private check(name: string, t: TensorRef): void {
    const entry = this.entries.get(`${this.prefix}data/${t.storage.key}`);
    const fail = (msg: string): never => {
      throw new TorchCheckpointError(`tensor "${name}": ${msg}`);
    };
    if (!entry) fail(`its storage data/${t.storage.key} is missing from the archive`);
    const e = entry as ZipEntry;
    if (e.method !== 0) fail(`its storage is compressed (zip method ${e.method})`);
    if (e.uncompressedSize < t.storage.numel * DTYPE_SIZES[t.storage.dtype])
      fail("its storage is shorter than declared");
    if (t.shape.length !== t.stride.length) fail("size and stride differ in length");
    let last = t.offset;
    for (let i = 0; i < t.shape.length; i++) {
      if (t.shape[i] < 0 || t.stride[i] < 0) fail("negative size or stride");
      if (t.shape[i] > 0) last += (t.shape[i] - 1) * t.stride[i];
    }
    if (t.shape.every((d) => d > 0) && last >= t.storage.numel)
      fail("it reaches past the end of its storage");
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): { readonly dtype: Dtype; readonly shape: readonly number[] } {
    const t = this.tensor(name);
    return { dtype: t.storage.dtype, shape: t.shape };
  }

  readF32(name: string): Float32Array {
    const t = this.tensor(name);
    const size = DTYPE_SIZES[t.storage.dtype];
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel === 0) return new Float32Array(0);
    const base = this.storageOffset(t.storage.key);
    if (isContiguous(t.shape, t.stride))
      return bytesToF32(t.storage.dtype, this.read(base + t.offset * size, numel * size));
    // a strided view: read the span it covers, then gather in C order
    let span = 1;
    for (let i = 0; i < t.shape.length; i++) span += (t.shape[i] - 1) * t.stride[i];
    const all = bytesToF32(t.storage.dtype, this.read(base + t.offset * size, span * size));
    const out = new Float32Array(numel);
    const index = new Array(t.shape.length).fill(0);
    for (let i = 0; i < numel; i++) {
      let at = 0;
      for (let d = 0; d < index.length; d++) at += index[d] * t.stride[d];
      out[i] = all[at];
      for (let d = index.length - 1; d >= 0; d--) {
        if (++index[d] < t.shape[d]) break;
        index[d] = 0;
      }
    }
    return out;
  }

  close(): void {
    if (this.bytes === undefined) return;
    this.bytes = undefined;
    this.onClose();
  }

  private tensor(name: string): TensorRef {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`${this.path}: no tensor "${name}"`);
    return t;
  }

  private storageOffset(key: string): number {
    let offset = this.dataOffsets.get(key);
    if (offset === undefined) {
      offset = entryDataOffset(this.openBytes(), this.entries.get(`${this.prefix}data/${key}`) as ZipEntry);
      this.dataOffsets.set(key, offset);
    }
    return offset;
  }

  private openBytes(): RandomAccessBytes {
    if (this.bytes === undefined) throw new Error(`${this.path}: file is closed`);
    return this.bytes;
  }

  private read(position: number, length: number): Uint8Array {
    const bytes = this.openBytes();
    if (position + length > bytes.size)
      throw new Error(
        `${this.path}: unexpected end of file at byte ${Math.max(position, bytes.size)}; truncated?`,
      );
    return bytes.read(position, length);
  }
}
