/**
 * TAESD as madebyollin/taesd publishes it: `taesd_encoder.safetensors` and/or
 * `taesd_decoder.safetensors` (nn.Sequential keys `0.weight`, `1.conv.0.weight`, …), or one file with
 * a whole TAESD module (`encoder.N…`, `decoder.N…`), served under diffusers' AutoencoderTiny names.
 *
 * Either half may be given alone (previews need only the decoder): the missing half's config fields
 * are then SD1.x TAESD defaults, marked as assumed, and building its graph fails naming the first
 * missing tensor.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { SD15_TAESD, type TaesdConfig } from "./architecture/model-config.js";
import type { OpenedComponent } from "./diffusers-component.js";
import type { Dtype } from "./formats/dtype.js";
import { openWeightsFile } from "./formats/open-weights-file.js";
import { RenamedTensors, type TensorFile } from "./formats/tensor-file.js";
import {
  detectTaesd,
  madebyollinTaesdRename,
  type TaesdHalf,
  taesdTensorNames,
} from "./key-maps/taesd-key-map.js";
import { validateTensors } from "./key-maps/validate-tensors.js";
import { ModelLoadError } from "./model-load-error.js";

/** The names madebyollin/taesd's files have; a folder holding them loads as one TAESD. */
export const MADEBYOLLIN_TAESD_FILES = ["taesd_encoder.safetensors", "taesd_decoder.safetensors"] as const;

/** The madebyollin files in `dir`, or undefined when it holds neither. */
export function madebyollinTaesdFiles(dir: string): string[] | undefined {
  const found = MADEBYOLLIN_TAESD_FILES.map((f) => join(dir, f)).filter((p) => existsSync(p));
  return found.length > 0 ? found : undefined;
}

/** A file whose tensors appear under diffusers names. */
class RenamedFile implements TensorFile {
  private readonly byName = new Map<string, string>();

  constructor(
    private readonly inner: TensorFile,
    rename: (key: string) => string | undefined,
  ) {
    for (const key of inner.names()) {
      const name = rename(key);
      if (name !== undefined) this.byName.set(name, key);
    }
  }

  get path(): string {
    return this.inner.path;
  }
  names(): string[] {
    return [...this.byName.keys()];
  }
  has(name: string): boolean {
    return this.byName.has(name);
  }
  info(name: string): { readonly dtype: Dtype; readonly shape: readonly number[] } {
    return this.inner.info(this.key(name));
  }
  readF32(name: string): Float32Array {
    return this.inner.readF32(this.key(name));
  }
  close(): void {
    this.inner.close();
  }
  private key(name: string): string {
    const key = this.byName.get(name);
    if (key === undefined) throw new Error(`${this.inner.path}: no tensor for "${name}"`);
    return key;
  }
}

const HALF_FIELDS: Record<TaesdHalf, (keyof TaesdConfig)[]> = {
  encoder: ["encoderBlockOutChannels", "numEncoderBlocks"],
  decoder: ["decoderBlockOutChannels", "numDecoderBlocks"],
};

export function openMadebyollinTaesd(paths: string | readonly string[]): OpenedComponent<TaesdConfig> {
  const list = typeof paths === "string" ? [paths] : [...paths];
  const files: TensorFile[] = [];
  try {
    for (const path of list) {
      const file = openWeightsFile(path);
      files.push(file);
      const rename = madebyollinTaesdRename(file.names());
      if (!rename) {
        throw new ModelLoadError(
          "unknown-format",
          path,
          "expected madebyollin TAESD weights (taesd_encoder / taesd_decoder: keys 0.weight, 1.conv.0.weight, …)",
        );
      }
      files[files.length - 1] = new RenamedFile(file, rename);
    }
    const where = list.length === 1 ? list[0] : list.join(", ");
    const weights = new RenamedTensors(files, (key) => key);
    const shapes = new Map(weights.names().map((n) => [n, weights.shape(n)] as const));
    const halves = (["encoder", "decoder"] as const).filter((h) =>
      weights.names().some((n) => n.startsWith(`${h}.`)),
    );

    // detectTaesd reads both halves: stand SD1.x's in for an absent one, with the file's latent width
    const encoderOut = Math.max(
      -1,
      ...[...shapes.keys()].map((n) => Number(/^encoder\.layers\.(\d+)\.weight$/.exec(n)?.[1] ?? -1)),
    );
    const latentChannels =
      shapes.get("decoder.layers.0.weight")?.[1] ??
      shapes.get(`encoder.layers.${encoderOut}.weight`)?.[0] ??
      4;
    const standIn = taesdTensorNames({ ...SD15_TAESD, latentChannels }).filter(
      (t) => !halves.some((h) => t.canonical.startsWith(`${h}.`)),
    );
    const config = detectTaesd(
      new Map([...standIn.map((t) => [t.canonical, t.shape] as const), ...shapes]),
      where,
    );
    validateTensors(
      shapes,
      taesdTensorNames(config)
        .filter((t) => halves.some((h) => t.canonical.startsWith(`${h}.`)))
        .map((t) => ({ name: t.canonical, shape: t.shape })),
      { component: "TAESD", path: where },
    );
    const assumed: Record<string, "default"> = {};
    for (const half of ["encoder", "decoder"] as const) {
      if (!halves.includes(half)) for (const field of HALF_FIELDS[half]) assumed[field] = "default";
    }
    return {
      kind: "weights",
      config,
      weights,
      files: list,
      storedDtypes: [...new Set(weights.names().map((n) => weights.dtype(n)))].sort(),
      assumed,
      close: () => {
        for (const f of files) f.close();
      },
    };
  } catch (err) {
    for (const f of files) f.close();
    throw err;
  }
}
