/**
 * Writes tensors the way torch.save does (zip archive, pickle protocol 2, one stored entry per
 * storage), for tests of the restricted .ckpt reader. The zip comes from fflate, the pickle opcodes
 * follow CPython's output for torch.save (see the Python-made archive in torch-checkpoint.test.ts).
 */
import { writeFileSync } from "node:fs";
import { type Zippable, zipSync } from "fflate";
import type { Dtype } from "../../src/weights/formats/dtype.js";

const STORAGE: Partial<Record<Dtype, string>> = {
  F32: "FloatStorage",
  F16: "HalfStorage",
  BF16: "BFloat16Storage",
};
const ITEM_SIZE: Partial<Record<Dtype, number>> = { F32: 4, F16: 2, BF16: 2 };

class PickleBytes {
  private readonly parts: number[] = [];
  op(...bytes: number[]): this {
    this.parts.push(...bytes);
    return this;
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    this.op(0x58, b.length & 0xff, (b.length >> 8) & 0xff, (b.length >> 16) & 0xff, b.length >>> 24);
    return this.op(...b);
  }
  global(module: string, name: string): this {
    return this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
  }
  int(n: number): this {
    return this.op(0x4a, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff);
  }
  tuple(items: readonly number[]): this {
    this.op(0x28);
    for (const i of items) this.int(i);
    return this.op(0x74);
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export interface TorchTensor {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  /** Raw little-endian bytes, C order. */
  readonly data: Uint8Array;
}

/** `{"state_dict": OrderedDict(name -> tensor)}` as torch.save would write it (`wrapper` renames the key). */
export function writeTorchCheckpoint(
  path: string,
  tensors: readonly TorchTensor[],
  wrapper = "state_dict",
): void {
  const p = new PickleBytes().op(0x80, 2, 0x7d).str(wrapper);
  p.global("collections", "OrderedDict").op(0x29, 0x52, 0x28);
  const files: Zippable = {};
  tensors.forEach((t, i) => {
    const storage = STORAGE[t.dtype];
    if (!storage) throw new Error(`no torch storage type for ${t.dtype}`);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const stride = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    p.str(t.name).global("torch._utils", "_rebuild_tensor_v2").op(0x28);
    p.op(0x28).str("storage").global("torch", storage).str(String(i)).str("cpu").int(numel).op(0x74, 0x51);
    p.int(0).tuple(t.shape).tuple(stride).op(0x89).global("collections", "OrderedDict").op(0x29, 0x52);
    p.op(0x74, 0x52);
    if (t.data.length !== numel * (ITEM_SIZE[t.dtype] as number))
      throw new Error(`${t.name}: wrong byte count`);
    files[`archive/data/${i}`] = [t.data, { level: 0 }];
  });
  p.op(0x75, 0x73, 0x2e); // SETITEMS into the OrderedDict, SETITEM into the top dict, STOP
  files["archive/data.pkl"] = [p.bytes(), { level: 0 }];
  files["archive/byteorder"] = [new TextEncoder().encode("little"), { level: 0 }];
  files["archive/version"] = [new TextEncoder().encode("3\n"), { level: 0 }];
  writeFileSync(path, zipSync(files));
}

/** Marks a dict written as torch.nn.ParameterDict (old A1111 embeddings pickle string_to_param so). */
export class ParameterDict {
  constructor(readonly parameters: Readonly<Record<string, TorchTensor>>) {}
}

/** What `writeTorchPickle` can write: dicts, strings, integers, None, tensors, ParameterDicts. */
export type PickleTree =
  | string
  | number
  | null
  | TorchTensor
  | ParameterDict
  | { readonly [key: string]: PickleTree };

function isTensor(v: PickleTree): v is TorchTensor {
  return typeof v === "object" && v !== null && "data" in v && v.data instanceof Uint8Array;
}

/**
 * `torch.save(tree)` for a nested dict (A1111's embedding layout and its kin), opcodes as CPython's
 * protocol-2 pickler emits them; tensors in a ParameterDict are wrapped as nn.Parameter.
 */
export function writeTorchPickle(path: string, tree: PickleTree): void {
  const p = new PickleBytes().op(0x80, 2);
  const files: Zippable = {};
  let storages = 0;
  const tensor = (t: TorchTensor) => {
    const storage = STORAGE[t.dtype];
    if (!storage) throw new Error(`no torch storage type for ${t.dtype}`);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const stride = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    const key = String(storages++);
    p.global("torch._utils", "_rebuild_tensor_v2").op(0x28);
    p.op(0x28).str("storage").global("torch", storage).str(key).str("cpu").int(numel).op(0x74, 0x51);
    p.int(0).tuple(t.shape).tuple(stride).op(0x89).global("collections", "OrderedDict").op(0x29, 0x52);
    p.op(0x74, 0x52);
    files[`archive/data/${key}`] = [t.data, { level: 0 }];
  };
  const value = (v: PickleTree) => {
    if (v === null) p.op(0x4e);
    else if (typeof v === "string") p.str(v);
    else if (typeof v === "number") p.int(v);
    else if (isTensor(v)) tensor(v);
    else if (v instanceof ParameterDict) {
      // ParameterDict.__new__() then BUILD with its __dict__, whose _parameters holds Parameters
      p.global("torch.nn.modules.container", "ParameterDict").op(0x29, 0x81, 0x7d, 0x28).str("_parameters");
      p.global("collections", "OrderedDict").op(0x29, 0x52, 0x28);
      for (const [k, t] of Object.entries(v.parameters)) {
        p.str(k).global("torch._utils", "_rebuild_parameter").op(0x28);
        tensor(t);
        p.op(0x88).global("collections", "OrderedDict").op(0x29, 0x52, 0x74, 0x52);
      }
      p.op(0x75, 0x75, 0x62); // SETITEMS (parameters), SETITEMS (__dict__), BUILD
    } else {
      p.op(0x7d, 0x28);
      for (const [k, x] of Object.entries(v)) {
        p.str(k);
        value(x);
      }
      p.op(0x75);
    }
  };
  value(tree);
  p.op(0x2e);
  files["archive/data.pkl"] = [p.bytes(), { level: 0 }];
  files["archive/byteorder"] = [new TextEncoder().encode("little"), { level: 0 }];
  files["archive/version"] = [new TextEncoder().encode("3\n"), { level: 0 }];
  writeFileSync(path, zipSync(files));
}
