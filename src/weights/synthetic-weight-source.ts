/**
 * A WeightSource made from an architecture's tensor list alone: every tensor the key maps name, with
 * its shape, and values drawn on demand like a random checkpoint's (PyTorch default init scales).
 * The profiler counts full-size networks from it without any file (their shapes are all it reads)
 * and times them with it when no model is given (kernel times do not depend on the values).
 */
import type { TensorMapping } from "./key-maps/tensor-mapping.js";
import { initFor, randomTensorValues } from "./random-checkpoint.js";
import type { WeightSource } from "./weight-source.js";

export function syntheticWeightSource(mappings: readonly TensorMapping[], seed = 0): WeightSource {
  const byName = new Map(mappings.map((m) => [m.canonical, m]));
  const shapeOf = (name: string) => byName.get(name)?.shape;
  const mapping = (name: string): TensorMapping => {
    const m = byName.get(name);
    if (!m) throw new Error(`synthetic weights: no tensor "${name}" in this architecture`);
    return m;
  };
  return {
    names: () => [...byName.keys()],
    has: (name) => byName.has(name),
    shape: (name) => mapping(name).shape,
    get: (name) => randomTensorValues(mapping(name), initFor(mapping(name), shapeOf), seed),
  };
}
