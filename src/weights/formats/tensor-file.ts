/**
 * A file of named tensors read on demand: a safetensors file or a torch.save checkpoint read by the
 * restricted reader. The loader works on this, so both formats take the same path.
 */

import type { WeightSource } from "../weight-source.js";
import type { Dtype } from "./dtype.js";

export interface TensorFile {
  readonly path: string;
  names(): string[];
  has(name: string): boolean;
  info(name: string): { readonly dtype: Dtype; readonly shape: readonly number[] };
  readF32(name: string): Float32Array;
  close(): void;
  /** safetensors `__metadata__` (string to string); absent for formats without one. */
  readonly metadata?: Readonly<Record<string, string>>;
}

export function tensorShapes(file: TensorFile): Map<string, readonly number[]> {
  const out = new Map<string, readonly number[]>();
  for (const name of file.names()) out.set(name, file.info(name).shape);
  return out;
}

/** Tensors of several files under new names (`rename` returns undefined to leave one out). */
export class RenamedTensors implements WeightSource {
  private readonly entries = new Map<string, { file: TensorFile; key: string }>();

  constructor(
    readonly files: readonly TensorFile[],
    rename: (key: string) => string | undefined,
  ) {
    for (const file of files) {
      for (const key of file.names()) {
        const name = rename(key);
        if (name === undefined) continue;
        const clash = this.entries.get(name);
        if (clash) {
          throw new Error(
            `"${name}" comes from both ${clash.file.path} ("${clash.key}") and ${file.path} ("${key}")`,
          );
        }
        this.entries.set(name, { file, key });
      }
    }
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  shape(name: string): readonly number[] {
    const e = this.entry(name);
    return e.file.info(e.key).shape;
  }

  dtype(name: string): Dtype {
    const e = this.entry(name);
    return e.file.info(e.key).dtype;
  }

  get(name: string): Float32Array {
    const e = this.entry(name);
    return e.file.readF32(e.key);
  }

  private entry(name: string) {
    const e = this.entries.get(name);
    if (!e) throw new Error(`no weight named "${name}" in ${this.files.map((f) => f.path).join(", ")}`);
    return e;
  }
}
