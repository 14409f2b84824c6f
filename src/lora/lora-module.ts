/**
 * One LoRA module resolved onto a model: which canonical weight it changes and the factors that
 * change it (a low-rank pair, or a LyCORIS LoHa/LoKr/full network). Every file format
 * (kohya/A1111 and LyCORIS, diffusers/PEFT, older diffusers) is parsed into these shapes, so the
 * merge never needs to know where a LoRA came from.
 */

/** The networks a SD1.x LoRA can touch (names as in a diffusers folder). */
export type LoraComponent = "unet" | "text_encoder";

export interface LoraTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

interface LoraModuleBase {
  readonly component: LoraComponent;
  /** Canonical name of the weight it changes, e.g. "down_blocks.0.resnets.0.conv1.weight". */
  readonly target: string;
  /** The LoRA's own module name in the file (kohya "lora_unet_…" or the diffusers module path). */
  readonly sourceName: string;
  /** The file's alpha, if it has one. */
  readonly alpha?: number;
  /** A1111's `dim`: the rank its alpha is divided by; absent for full and undecomposed LoKr weights. */
  readonly rank?: number;
  /**
   * Multiplier of the module's delta at weight 1 (A1111's calc_scale): the file's `scale`, else
   * alpha / rank (alpha / sqrt(rank) for rank-stabilised PEFT adapters), else 1.
   */
  readonly scale: number;
  /** conv when the target is a 4-D kernel (flattened to [out, in·kh·kw] for the merge). */
  readonly kind: "linear" | "conv";
  /**
   * DoRA magnitudes (kohya/LyCORIS `dora_scale`): per output row ([out, 1, …]) or per input column
   * ([1, in, …]); the merged weight is rescaled to them (lora/module-delta.ts).
   */
  readonly doraScale?: LoraTensor;
  /** LyCORIS full (`diff_b`): a delta for the target's bias, multiplied by the weight only. */
  readonly biasDiff?: { readonly target: string; readonly data: Float32Array };
}

/** LoRA / LoCon: up @ down, or with a CP core (`lora_mid`) Σ mid·up·down. */
export interface LowRankModule extends LoraModuleBase {
  readonly type: "lora";
  /** [rank, in] or [rank, in, kh, kw]. */
  readonly down: LoraTensor;
  /** [out, rank] or [out, rank, 1, 1]. */
  readonly up: LoraTensor;
  /** [rank, rank, kh, kw]: LoCon's CP decomposition (then down is [rank, in, 1, 1]). */
  readonly mid?: LoraTensor;
  readonly alpha: number;
  readonly rank: number;
}

/** A low-rank factor pair: a @ b, or with a Tucker core t ([r, r, kh, kw]; a [r, out], b [r, in]). */
export interface FactorPair {
  readonly a: LoraTensor;
  readonly b: LoraTensor;
  readonly t?: LoraTensor;
}

/** LyCORIS LoHa: (w1a @ w1b) ⊙ (w2a @ w2b), each side optionally with a Tucker core. */
export interface HadamardModule extends LoraModuleBase {
  readonly type: "loha";
  readonly w1: FactorPair;
  readonly w2: FactorPair;
}

/** LyCORIS LoKr: w1 ⊗ w2, each a full matrix or a factor pair (w2 optionally with a Tucker core). */
export interface KroneckerModule extends LoraModuleBase {
  readonly type: "lokr";
  readonly w1: LoraTensor | FactorPair;
  readonly w2: LoraTensor | FactorPair;
}

/** LyCORIS full: the delta itself (`diff`). */
export interface FullModule extends LoraModuleBase {
  readonly type: "full";
  readonly diff: LoraTensor;
}

export type LoraModule = LowRankModule | HadamardModule | KroneckerModule | FullModule;

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
