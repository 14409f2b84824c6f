/**
 * A WeightSource over one or more safetensors files (a diffusers component folder may be sharded,
 * a single-file checkpoint holds every component under prefixes). Tensors are read on demand and
 * upcast to float32 (F16/BF16/F64 alike).
 */
import { SafetensorsFile } from "./safetensors.js";
import type { WeightSource } from "./weight-source.js";

export interface SafetensorsWeightSourceOptions {
  /**
   * Maps a key in the file to its canonical name, or undefined to leave the tensor out.
   * Default: identity. Runs after `stripPrefix`.
   */
  readonly rename?: (key: string) => string | undefined;
  /** Only keys starting with this prefix are kept, with it removed (e.g. "cond_stage_model.transformer."). */
  readonly stripPrefix?: string;
}

interface Entry {
  readonly file: SafetensorsFile;
  readonly key: string;
}

export class SafetensorsWeightSource implements WeightSource {
  private readonly entries = new Map<string, Entry>();

  /** Opens `paths` (closed again by close()); see also fromFiles for files opened elsewhere. */
  static open(
    paths: string | readonly string[],
    options: SafetensorsWeightSourceOptions = {},
  ): SafetensorsWeightSource {
    const files: SafetensorsFile[] = [];
    try {
      for (const p of typeof paths === "string" ? [paths] : paths) files.push(SafetensorsFile.open(p));
    } catch (err) {
      for (const f of files) f.close();
      throw err;
    }
    return new SafetensorsWeightSource(files, options, true);
  }

  static fromFiles(
    files: readonly SafetensorsFile[],
    options: SafetensorsWeightSourceOptions = {},
  ): SafetensorsWeightSource {
    return new SafetensorsWeightSource(files, options, false);
  }

  private constructor(
    readonly files: readonly SafetensorsFile[],
    options: SafetensorsWeightSourceOptions,
    private readonly ownsFiles: boolean,
  ) {
    const prefix = options.stripPrefix ?? "";
    for (const file of files) {
      for (const key of file.names()) {
        if (!key.startsWith(prefix)) continue;
        const stripped = key.slice(prefix.length);
        const name = options.rename ? options.rename(stripped) : stripped;
        if (name === undefined) continue;
        const clash = this.entries.get(name);
        if (clash) {
          throw new Error(
            `weight "${name}" comes from both ${clash.file.path} ("${clash.key}") and ${file.path} ("${key}")`,
          );
        }
        this.entries.set(name, { file, key });
      }
    }
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  shape(name: string): readonly number[] {
    const e = this.entry(name);
    return e.file.info(e.key).shape;
  }

  /** The file's own dtype, e.g. to report "fp16 checkpoint". */
  dtype(name: string): string {
    const e = this.entry(name);
    return e.file.info(e.key).dtype;
  }

  get(name: string): Float32Array {
    const e = this.entry(name);
    return e.file.readF32(e.key);
  }

  close(): void {
    if (this.ownsFiles) for (const f of this.files) f.close();
  }

  private entry(name: string): Entry {
    const e = this.entries.get(name);
    if (!e) throw new Error(`no weight named "${name}" in ${this.files.map((f) => f.path).join(", ")}`);
    return e;
  }
}
