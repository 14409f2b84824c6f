/**
 * One component stored in LDM naming inside a safetensors file (a single-file checkpoint's UNet,
 * VAE or text encoder, or a standalone LDM VAE): checked against its generated tensor list, then
 * served under canonical names.
 */
import { ComponentWeightSource } from "./component-weight-source.js";
import { RenamedTensors, type TensorFile } from "./formats/tensor-file.js";
import type { TensorMapping } from "./key-maps/tensor-mapping.js";
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
    mappings.map((m) => ({ name: m.ldm, shape: m.ldmShape })),
    { component: spec.label, path: file.path, prefix, ignore: spec.ignore },
  );
  const byLdm = new Map(mappings.map((m) => [m.ldm, m.canonical]));
  const canonicalByFileKey = new Map<string, string>();
  for (const [norm, key] of fileKeys) {
    const canonical = norm.startsWith(prefix) ? byLdm.get(norm.slice(prefix.length)) : undefined;
    if (canonical) canonicalByFileKey.set(key, canonical);
  }
  const inner = new RenamedTensors([file], (key) => canonicalByFileKey.get(key));
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
