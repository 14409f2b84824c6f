/**
 * One network component's weights exactly as its graph expects them: only the tensors the config
 * implies, under canonical names and canonical shapes (the LDM VAE's 1x1 attention kernels are
 * served as the linear weights they are). Reads stay on demand, in float32.
 */
import { numelOf } from "./key-maps/tensor-mapping.js";
import type { WeightSource } from "./weight-source.js";

export interface CanonicalTensor {
  readonly canonical: string;
  readonly shape: readonly number[];
}

/** Stored tensors already under canonical names, in their stored shapes and dtypes. */
export interface StoredWeights extends WeightSource {
  dtype(name: string): string;
}

export class ComponentWeightSource implements WeightSource {
  private readonly shapes: ReadonlyMap<string, readonly number[]>;

  constructor(
    private readonly inner: StoredWeights,
    tensors: readonly CanonicalTensor[],
  ) {
    const shapes = new Map<string, readonly number[]>();
    for (const t of tensors) {
      if (!inner.has(t.canonical)) throw new Error(`component weights lack "${t.canonical}"`);
      const stored = inner.shape(t.canonical);
      if (numelOf(stored) !== numelOf(t.shape)) {
        throw new Error(`"${t.canonical}" holds ${numelOf(stored)} values, expected ${numelOf(t.shape)}`);
      }
      shapes.set(t.canonical, t.shape);
    }
    this.shapes = shapes;
  }

  names(): string[] {
    return [...this.shapes.keys()];
  }

  has(name: string): boolean {
    return this.shapes.has(name);
  }

  shape(name: string): readonly number[] {
    const s = this.shapes.get(name);
    if (!s) throw new Error(`no weight named "${name}"`);
    return s;
  }

  get(name: string): Float32Array {
    if (!this.shapes.has(name)) throw new Error(`no weight named "${name}"`);
    return this.inner.get(name);
  }

  /** The stored dtypes (e.g. ["F16"]), for describing the model. */
  storedDtypes(): string[] {
    return [...new Set(this.names().map((n) => this.inner.dtype(n)))].sort();
  }
}
