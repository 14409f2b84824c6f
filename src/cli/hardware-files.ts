/**
 * `--hardware FILE.json | NAME`: a hardware description for the profile's what-if, from a file or
 * by the name of one shipped in assets/hardware (npu-8k-mac, laptop-2core-avx2, igpu-uhd620).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type HardwareSpec, parseHardwareFile } from "../profile/hardware.js";

/** assets/hardware of this installation (src/cli under tsx, dist/src/cli compiled). */
export function shippedHardwareDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, "assets", "hardware");
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error("the shipped hardware descriptions (assets/hardware) are missing from this installation");
}

export function shippedHardwareNames(): string[] {
  return readdirSync(shippedHardwareDir())
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -".json".length))
    .sort();
}

export function loadHardware(spec: string): HardwareSpec {
  const path = existsSync(spec) ? spec : join(shippedHardwareDir(), `${spec}.json`);
  if (!existsSync(path)) {
    throw new Error(
      `--hardware ${spec}: no such file, and not a shipped description (${shippedHardwareNames().join(", ")})`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf-8"));
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
  }
  return parseHardwareFile(json, path);
}
