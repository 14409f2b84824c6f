/**
 * Deterministic inputs for graph tests: the two pseudo-random sequences the tests use (each test
 * keeps its own, so its data stays what it was) and a WeightSource over tensors in memory.
 */
import type { WeightSource } from "../../src/weights/weight-source.js";

/** Uniform in ±scale from Numerical Recipes' 32-bit LCG. */
export function lcgValues(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

/** Uniform in ±1 from the C library's 31-bit LCG (1103515245, 12345). */
export function lcg31Values(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return (s / 2 ** 31) * 2 - 1;
  });
}

/** A WeightSource over named tensors held in memory. */
export function memoryWeights(
  tensors: Record<string, { shape: number[]; data: Float32Array }>,
): WeightSource {
  return {
    names: () => Object.keys(tensors),
    has: (name) => name in tensors,
    shape: (name) => tensors[name].shape,
    get: (name) => tensors[name].data,
  };
}
