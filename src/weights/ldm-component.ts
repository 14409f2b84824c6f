/**
 * One component stored in LDM naming inside a safetensors file (a single-file checkpoint's UNet,
 * VAE or text encoder, or a standalone LDM VAE): checked against its generated tensor list, then
 * served under canonical names.
 */
import { ComponentWeightSource, type StoredWeights } from "./component-weight-source.js";
import type { Dtype } from "./formats/dtype.js";
import type { TensorFile } from "./formats/tensor-file.js";
import { numelOf, type TensorMapping } from "./key-maps/tensor-mapping.js";
import { validateTensors } from "./key-maps/validate-tensors.js";
import type { WeightsComponent } from "./loaded-model.js";

export interface LdmComponentSpec<C> {
  file: TensorFile;
  /** e.g. "model.diffusion_model."; "" for a bare standalone VAE. */
  prefix: string;
  label: string;
  config: C;
  mappings: readonly TensorMapping[];
  assumed: Record<string, "default" | "override">;
  /** Tensors under the prefix that are not network weights (e.g. `loss.*`). */
  ignore?: RegExp;
  /** Normalised key -> key in the file, when the file spells some keys differently. Default: identity. */
  fileKeys?: ReadonlyMap<string, string>;
}

export function ldmComponent<C>(spec: LdmComponentSpec<C>): WeightsComponent<C> {
  const { file, prefix, mappings } = spec;
  const fileKeys = spec.fileKeys ?? new Map(file.names().map((n) => [n, n]));
  const found = new Map<string, readonly number[]>();
  for (const [norm, key] of fileKeys) {
    if (norm.startsWith(prefix)) found.set(norm.slice(prefix.length), file.info(key).shape);
  }
  validateTensors(
    found,
    // one entry per stored tensor: q, k and v share OpenCLIP's in_proj
    [...new Map(mappings.map((m) => [m.ldm, { name: m.ldm, shape: m.ldmShape }])).values()],
    { component: spec.label, path: file.path, prefix, ignore: spec.ignore },
  );
  const fileKeyOf = new Map<string, string>();
  for (const [norm, key] of fileKeys)
    if (norm.startsWith(prefix)) fileKeyOf.set(norm.slice(prefix.length), key);
  const inner = new MappedTensors(
    file,
    mappings.map((m) => ({ canonical: m.canonical, key: fileKeyOf.get(m.ldm) as string, part: m.part })),
  );
  const weights = new ComponentWeightSource(inner, mappings);
  return {
    kind: "weights",
    config: spec.config,
    weights,
    files: [file.path],
    storedDtypes: weights.storedDtypes(),
    assumed: spec.assumed,
  };
}

interface MappedTensor {
  readonly canonical: string;
  readonly key: string;
  readonly part?: TensorMapping["part"];
}

/** One file's tensors under canonical names; a `part` is a slice along axis 0 of the stored tensor. */
class MappedTensors implements StoredWeights {
  private readonly byName: ReadonlyMap<string, MappedTensor>;

  constructor(
    private readonly file: TensorFile,
    tensors: readonly MappedTensor[],
  ) {
    this.byName = new Map(tensors.map((t) => [t.canonical, t]));
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  shape(name: string): readonly number[] {
    const t = this.entry(name);
    const stored = this.file.info(t.key).shape;
    return t.part ? [stored[0] / t.part.count, ...stored.slice(1)] : stored;
  }

  dtype(name: string): Dtype {
    return this.file.info(this.entry(name).key).dtype;
  }

  get(name: string): Float32Array {
    const t = this.entry(name);
    const all = this.file.readF32(t.key);
    if (!t.part) return all;
    const size = numelOf(this.shape(name));
    return all.slice(t.part.index * size, (t.part.index + 1) * size);
  }

  private entry(name: string): MappedTensor {
    const t = this.byName.get(name);
    if (!t) throw new Error(`no weight named "${name}" in ${this.file.path}`);
    return t;
  }
}
