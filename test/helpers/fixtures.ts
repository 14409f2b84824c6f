/** Where the golden fixtures live: one setting, SDLITE_FIXTURES, defaulting to ../shared/fixtures. */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { SafetensorsFile } from "../../src/weights/safetensors.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

export const FIXTURES = process.env.SDLITE_FIXTURES
  ? resolve(process.env.SDLITE_FIXTURES)
  : resolve(repoRoot, "..", "shared", "fixtures");

export function fixturePath(...parts: string[]): string {
  return join(FIXTURES, ...parts);
}

let manifestCache: Record<string, unknown> | undefined;

// biome-ignore lint/suspicious/noExplicitAny: the manifest is free-form JSON read by tests
export function manifest(): any {
  manifestCache ??= JSON.parse(readFileSync(fixturePath("manifest.json"), "utf-8"));
  return manifestCache;
}

const goldens = new Map<string, SafetensorsFile>();

/** Opens `goldens/<name>.safetensors` once per test process. */
export function golden(name: string): SafetensorsFile {
  let file = goldens.get(name);
  if (!file) {
    file = SafetensorsFile.open(fixturePath("goldens", `${name}.safetensors`));
    goldens.set(name, file);
  }
  return file;
}
