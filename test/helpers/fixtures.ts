/** Where the golden fixtures live: one setting, SDLITE_FIXTURES, defaulting to ../shared/fixtures. */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { SafetensorsFile } from "../../src/weights/formats/safetensors.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

export const FIXTURES = process.env.SDLITE_FIXTURES
  ? resolve(process.env.SDLITE_FIXTURES)
  : resolve(repoRoot, "..", "shared", "fixtures");

export function fixturePath(...parts: string[]): string {
  return join(FIXTURES, ...parts);
}

let manifestCache: Record<string, unknown> | undefined;

/**
 * Python's json writes bare Infinity / -Infinity / NaN (the manifest has `-Infinity`), which
 * JSON.parse rejects: rewrite them outside string literals (1e999 parses as Infinity).
 */
function parsePythonJson(text: string): unknown {
  const nan = "\u0000NaN\u0000";
  const strict = text.replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g, (token) => {
    if (token.startsWith('"')) return token;
    if (token === "NaN") return JSON.stringify(nan);
    return token.startsWith("-") ? "-1e999" : "1e999";
  });
  return JSON.parse(strict, (_key, value) => (value === nan ? Number.NaN : value));
}

// biome-ignore lint/suspicious/noExplicitAny: the manifest is free-form JSON read by tests
export function manifest(): any {
  manifestCache ??= parsePythonJson(readFileSync(fixturePath("manifest.json"), "utf-8")) as Record<
    string,
    unknown
  >;
  return manifestCache;
}

const goldens = new Map<string, SafetensorsFile>();

/** Opens a golden safetensors file (path below the fixtures folder) once per test process. */
export function goldenAt(relativePath: string): SafetensorsFile {
  let file = goldens.get(relativePath);
  if (!file) {
    file = SafetensorsFile.open(fixturePath(relativePath));
    goldens.set(relativePath, file);
  }
  return file;
}

/** Opens `goldens/<name>.safetensors` once per test process. */
export function golden(name: string): SafetensorsFile {
  return goldenAt(`goldens/${name}.safetensors`);
}
