/**
 * The `<checkpoint>.sdlite.json` file beside a checkpoint: architecture overrides read from disk
 * (architecture-overrides.ts parses them; this file is the only part that touches the file system).
 */
import { existsSync, readFileSync } from "node:fs";
import { ModelLoadError } from "../model-load-error.js";
import { type ArchitectureOverrides, parseArchitectureOverrides } from "./architecture-overrides.js";

/** `model.safetensors` -> `model.safetensors.sdlite.json`, the sidecar checked for overrides. */
export function overridesSidecarPath(checkpointPath: string): string {
  return `${checkpointPath}.sdlite.json`;
}

/** Reads the sidecar beside a checkpoint, if there is one. */
export function readOverridesSidecar(checkpointPath: string): ArchitectureOverrides | undefined {
  const path = overridesSidecarPath(checkpointPath);
  if (!existsSync(path)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf-8"));
  } catch (err) {
    throw new ModelLoadError("unsupported-config", path, `not valid JSON (${(err as Error).message})`);
  }
  return parseArchitectureOverrides(json, path);
}
