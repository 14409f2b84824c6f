/**
 * An upscaler weights file (`.pth` torch.save archive read by the restricted reader, or
 * `.safetensors`) as BasicSR-named tensors plus the architecture their shapes describe. Handles
 * BasicSR's `params_ema`/`params` wrappers (inside the pickle: torch-checkpoint.ts; as a key
 * prefix in converted files: here), DataParallel's `module.` prefix and the old ESRGAN layout.
 */
import { openWeightsFile } from "../weights/formats/open-weights-file.js";
import { RenamedTensors, type TensorFile } from "../weights/formats/tensor-file.js";
import {
  detectUpscalerArchitecture,
  type UpscalerArchitecture,
  UpscalerModelError,
} from "./esrgan-architecture.js";
import { isOldEsrganLayout, oldEsrganRenamer } from "./esrgan-keys.js";

export interface UpscalerWeights {
  readonly path: string;
  readonly architecture: UpscalerArchitecture;
  readonly weights: RenamedTensors;
  /** Closes the file (the weights are read from it on demand until then). */
  close(): void;
}

/** The prefix every key of the chosen copy carries ("params_ema." before "params."), or "". */
function wrapperPrefix(names: readonly string[]): string {
  for (const prefix of ["params_ema.", "params.", "module."]) {
    if (names.some((n) => n.startsWith(prefix))) return prefix;
  }
  return "";
}

function renamer(file: TensorFile): (key: string) => string | undefined {
  const names = file.names();
  const prefix = wrapperPrefix(names);
  const unwrapped = prefix
    ? names.filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length))
    : names;
  const strip = (key: string) =>
    prefix ? (key.startsWith(prefix) ? key.slice(prefix.length) : undefined) : key;
  if (!isOldEsrganLayout(unwrapped)) return strip;
  const old = oldEsrganRenamer(unwrapped);
  if (typeof old === "string") throw new UpscalerModelError(file.path, old);
  return (key) => {
    const inner = strip(key);
    return inner === undefined ? undefined : old(inner);
  };
}

export function openUpscalerWeights(path: string): UpscalerWeights {
  const file = openWeightsFile(path);
  try {
    const weights = new RenamedTensors([file], renamer(file));
    const architecture = detectUpscalerArchitecture(weights, path);
    return { path, architecture, weights, close: () => file.close() };
  } catch (err) {
    file.close();
    throw err;
  }
}
