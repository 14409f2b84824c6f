/** Random sources by the names A1111 uses for its RNG setting: "cpu" (torch CPU) and "nv" (Philox). */
import { PhiloxGenerator } from "./philox-generator.js";
import type { RandomSource } from "./random-source.js";
import type { Seed } from "./seed.js";
import { TorchCpuGenerator } from "./torch-cpu-generator.js";

export type { RandomSource } from "./random-source.js";
export type { Seed } from "./seed.js";
export { PhiloxGenerator, TorchCpuGenerator };

const FACTORIES = {
  cpu: (seed: Seed) => new TorchCpuGenerator(seed),
  nv: (seed: Seed) => new PhiloxGenerator(seed),
} as const;

export type RandomSourceKind = keyof typeof FACTORIES;

export const RANDOM_SOURCE_KINDS = Object.keys(FACTORIES) as RandomSourceKind[];

export function isRandomSourceKind(value: unknown): value is RandomSourceKind {
  return typeof value === "string" && Object.hasOwn(FACTORIES, value);
}

/** A fresh generator of the given kind; throws naming the valid kinds for anything else. */
export function createRandomSource(kind: RandomSourceKind, seed: Seed): RandomSource {
  if (!isRandomSourceKind(kind)) {
    throw new Error(
      `unknown random source ${JSON.stringify(kind)}; valid kinds: ${RANDOM_SOURCE_KINDS.join(", ")}`,
    );
  }
  return FACTORIES[kind](seed);
}
