/**
 * TAESD from weight files already open (no file system, so the browser engine uses it on Blobs):
 * madebyollin/taesd's own files (`taesd_encoder` / `taesd_decoder`, nn.Sequential keys `0.weight`,
 * `1.conv.0.weight`, …, or one file with a whole module, `encoder.N…`, `decoder.N…`) served under
 * diffusers' AutoencoderTiny names, or one file in diffusers naming. standalone-vae.ts and
 * madebyollin-taesd.ts open the files in Node.
 *
 * Either madebyollin half may be given alone (previews need only the decoder): the missing half's
 * config fields are then SD1.x TAESD defaults, marked as assumed, and building its graph fails
 * naming the first missing tensor.
 */
import { classifyWeightFile } from "./architecture/detect-architecture.js";
import { SD15_TAESD, type TaesdConfig } from "./architecture/model-config.js";
import { componentFromFiles, type OpenedComponent } from "./component-from-files.js";
import type { Dtype } from "./formats/dtype.js";
import { RenamedTensors, type TensorFile, tensorShapes } from "./formats/tensor-file.js";
import {
  detectTaesd,
  madebyollinTaesdRename,
  type TaesdHalf,
  taesdTensorNames,
} from "./key-maps/taesd-key-map.js";
import { validateTensors } from "./key-maps/validate-tensors.js";
import { ModelLoadError } from "./model-load-error.js";

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

/**
 * madebyollin's TAESD files, open: closed (all of them) when they are not TAESD; the component's
 * close() closes them.
 */
export function madebyollinTaesdComponent(opened: readonly TensorFile[]): OpenedComponent<TaesdConfig> {
  const files = [...opened];
  const list = files.map((f) => f.path);
  try {
    for (let i = 0; i < files.length; i++) {
      const file = files[i];
      const rename = madebyollinTaesdRename(file.names());
      if (!rename) {
        throw new ModelLoadError(
          "unknown-format",
          file.path,
          "expected madebyollin TAESD weights (taesd_encoder / taesd_decoder: keys 0.weight, 1.conv.0.weight, …)",
        );
      }
      files[i] = new RenamedFile(file, rename);
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

/**
 * TAESD from open files: madebyollin's (one or both halves, or a whole module) or one diffusers
 * AutoencoderTiny file. The files are closed when they are not TAESD.
 */
export function taesdFromFiles(files: readonly TensorFile[], where: string): OpenedComponent<TaesdConfig> {
  if (files.length > 0 && files.every((f) => madebyollinTaesdRename(f.names()))) {
    return madebyollinTaesdComponent(files);
  }
  try {
    if (files.length !== 1) {
      throw new ModelLoadError(
        "not-a-model",
        where,
        "expected madebyollin TAESD files (taesd_encoder / taesd_decoder) or one diffusers AutoencoderTiny file",
      );
    }
    const [file] = files;
    const kind = classifyWeightFile(file.names(), where);
    if (kind !== "diffusers-taesd") {
      const what = kind === "ldm-checkpoint" ? "a full SD1.x checkpoint" : kind;
      throw new ModelLoadError(
        "not-a-model",
        where,
        `expected TAESD weights in diffusers AutoencoderTiny naming (encoder.layers.N…, decoder.layers.N…), found ${what}`,
      );
    }
    const config = detectTaesd(tensorShapes(file), where);
    return componentFromFiles("taesd", config, [file], where);
  } catch (err) {
    for (const f of files) f.close();
    throw err;
  }
}
