/**
 * A single-file checkpoint opened by path (safetensors or a torch.save zip): the overrides beside it
 * (A1111's `<stem>.yaml`, `<file>.sdlite.json`) merged, then read by ldm-checkpoint.ts.
 */
import { type ArchitectureOverrides, mergeOverrides } from "./architecture/architecture-overrides.js";
import { readLdmConfigSidecar } from "./architecture/ldm-yaml-config.js";
import { readOverridesSidecar } from "./architecture/overrides-sidecar.js";
import { openWeightsFile } from "./formats/open-weights-file.js";
import { readLdmCheckpoint, type SingleFileCheckpoint } from "./ldm-checkpoint.js";

export { notAModelAdvice, type SingleFileCheckpoint } from "./ldm-checkpoint.js";

/**
 * Opens and checks a single file. Overrides: A1111's `<stem>.yaml`, the `<path>.sdlite.json`
 * sidecar, then `overrides` (later wins). The file stays open until the caller closes it.
 */
export function openSingleFileCheckpoint(
  path: string,
  overrides?: ArchitectureOverrides,
): SingleFileCheckpoint {
  const file = openWeightsFile(path);
  let merged: ArchitectureOverrides;
  try {
    merged = mergeOverrides(readLdmConfigSidecar(path), readOverridesSidecar(path), overrides);
  } catch (err) {
    file.close();
    throw err;
  }
  return readLdmCheckpoint(file, path, merged);
}
