/**
 * A WeightSource over safetensors files opened by path (a diffusers component folder may be sharded,
 * a single-file checkpoint holds every component under prefixes): RenamedTensors that owns its files
 * and closes them. Tensors are read on demand and upcast to float32 (F16/BF16/F64 alike).
 */
import { SafetensorsFile } from "./formats/safetensors.js";
import { RenamedTensors } from "./formats/tensor-file.js";

export interface SafetensorsWeightSourceOptions {
  /**
   * Maps a key in the file to its canonical name, or undefined to leave the tensor out.
   * Default: identity. Runs after `stripPrefix`.
   */
  readonly rename?: (key: string) => string | undefined;
  /** Only keys starting with this prefix are kept, with it removed (e.g. "cond_stage_model.transformer."). */
  readonly stripPrefix?: string;
}

export class SafetensorsWeightSource extends RenamedTensors {
  /** Opens `paths`; close() closes them again. */
  static open(
    paths: string | readonly string[],
    options: SafetensorsWeightSourceOptions = {},
  ): SafetensorsWeightSource {
    const files: SafetensorsFile[] = [];
    try {
      for (const p of typeof paths === "string" ? [paths] : paths) files.push(SafetensorsFile.open(p));
      return new SafetensorsWeightSource(files, options);
    } catch (err) {
      for (const f of files) f.close();
      throw err;
    }
  }

  private constructor(files: readonly SafetensorsFile[], options: SafetensorsWeightSourceOptions) {
    const prefix = options.stripPrefix ?? "";
    const rename = options.rename ?? ((key: string) => key);
    super(files, (key) => (key.startsWith(prefix) ? rename(key.slice(prefix.length)) : undefined));
  }

  close(): void {
    for (const f of this.files) f.close();
  }
}
