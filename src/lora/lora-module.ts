/**
 * One LoRA module resolved onto a model: which canonical weight it changes and the low-rank pair
 * that changes it. Every file format (kohya/A1111, diffusers/PEFT, older diffusers) is parsed into
 * this one shape, so the merge never needs to know where a LoRA came from.
 */

/** The networks a SD1.x LoRA can touch (names as in a diffusers folder). */
export type LoraComponent = "unet" | "text_encoder";

export interface LoraTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface LoraModule {
  readonly component: LoraComponent;
  /** Canonical name of the weight it changes, e.g. "down_blocks.0.resnets.0.conv1.weight". */
  readonly target: string;
  /** The LoRA's own module name in the file (kohya "lora_unet_…" or the diffusers module path). */
  readonly sourceName: string;
  /** [rank, in] or [rank, in, kh, kw]. */
  readonly down: LoraTensor;
  /** [out, rank] or [out, rank, 1, 1]. */
  readonly up: LoraTensor;
  readonly alpha: number;
  readonly rank: number;
  /**
   * Multiplier of up @ down at weight 1: alpha / rank, or alpha / sqrt(rank) for rank-stabilised
   * PEFT adapters. Kept beside alpha and rank so the merge has one rule for every format.
   */
  readonly scale: number;
  /** conv when the target is a 4-D kernel (flattened to [out, in·kh·kw] for the merge). */
  readonly kind: "linear" | "conv";
}

/** A tensor of the file that did not become part of any module, and why. */
export interface UnmatchedLoraKey {
  /** The LoRA file's base name, so a caller can say which of several files it came from. */
  readonly file: string;
  readonly key: string;
  readonly reason: string;
}

export type LoraFormat = "kohya" | "diffusers";

/** A LoRA file read and resolved against one model. */
export interface LoraFile {
  readonly path: string;
  readonly format: LoraFormat;
  readonly modules: readonly LoraModule[];
  readonly unmatched: readonly UnmatchedLoraKey[];
  /** SHA-256 of the whole file (hex): identifies the content for graph cache keys. */
  readonly sha256: string;
  /**
   * SHA-256 of the tensor data only, header excluded (hex): the "addnet" hash AUTOMATIC1111 shows
   * as `Lora hashes` (first 12 characters), unchanged when only the metadata is edited.
   */
  readonly addnetHash: string;
}

export class LoraFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = "LoraFileError";
  }
}

/** The tensors of a LoRA file, read on request (a SafetensorsFile, or a Map in tests). */
export interface LoraTensorReader {
  names(): string[];
  read(name: string): LoraTensor;
  /** The file's `__metadata__` (PEFT adapter configs live there). */
  readonly metadata: Readonly<Record<string, string>>;
}

/** What a format parser returns before the file-level facts (path, hashes) are added. */
export interface ParsedLora {
  readonly modules: LoraModule[];
  readonly unmatched: UnmatchedLoraKey[];
}
