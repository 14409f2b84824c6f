/**
 * TAESD as madebyollin/taesd publishes it: `taesd_encoder.safetensors` and/or
 * `taesd_decoder.safetensors` (nn.Sequential keys `0.weight`, `1.conv.0.weight`, …), or one file with
 * a whole TAESD module (`encoder.N…`, `decoder.N…`), served under diffusers' AutoencoderTiny names.
 *
 * Either half may be given alone (previews need only the decoder): the missing half's config fields
 * are then SD1.x TAESD defaults, marked as assumed, and building its graph fails naming the first
 * missing tensor. The files are read by taesd-from-files.ts (no file system; the browser uses it too).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { TaesdConfig } from "./architecture/model-config.js";
import type { OpenedComponent } from "./component-from-files.js";
import { openWeightsFile } from "./formats/open-weights-file.js";
import type { TensorFile } from "./formats/tensor-file.js";
import { MADEBYOLLIN_TAESD_FILES } from "./key-maps/taesd-key-map.js";
import { madebyollinTaesdComponent } from "./taesd-from-files.js";

export { MADEBYOLLIN_TAESD_FILES };

/** The madebyollin files in `dir`, or undefined when it holds neither. */
export function madebyollinTaesdFiles(dir: string): string[] | undefined {
  const found = MADEBYOLLIN_TAESD_FILES.map((f) => join(dir, f)).filter((p) => existsSync(p));
  return found.length > 0 ? found : undefined;
}

export function openMadebyollinTaesd(paths: string | readonly string[]): OpenedComponent<TaesdConfig> {
  const list = typeof paths === "string" ? [paths] : [...paths];
  const files: TensorFile[] = [];
  try {
    for (const path of list) files.push(openWeightsFile(path));
  } catch (err) {
    for (const f of files) f.close();
    throw err;
  }
  return madebyollinTaesdComponent(files);
}
