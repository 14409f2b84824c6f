/**
 * A textual-inversion embedding file's tensors → its vectors, as AUTOMATIC1111 reads them
 * (modules/textual_inversion/textual_inversion.py, EmbeddingDatabase.load_from_file):
 *
 * - `.pt` / `.bin`: a torch.save archive, read by the restricted reader (never unpickled by Python's
 *   rules). A1111's own layout `{string_to_param: {"*": tensor}, name, step, sd_checkpoint,
 *   sd_checkpoint_name}` (string_to_param also as a pickled ParameterDict), or a dict holding one
 *   tensor (diffusers' learned_embeds.bin `{"<token>": tensor}`).
 * - `.safetensors`: exactly one tensor (kohya's `emb_params`, diffusers' concept name), or SDXL's
 *   `clip_g` + `clip_l` pair (listed, never usable by an SD1.x text encoder).
 *
 * A 1-D tensor is one vector. The embedding is called by its file name without the extension.
 * Pure: embedding-file.ts reads files in Node, the in-tab engine reads dropped Blobs
 * (web/src/local/blob-embedding.ts).
 */
import { PickleCall } from "../weights/formats/restricted-unpickler.js";
import type { TorchArchive } from "../weights/formats/torch-archive.js";

export interface TextualInversionEmbedding {
  /** The word that names it in a prompt: the file name without its extension. */
  readonly name: string;
  readonly path: string;
  /** Number of vectors it puts in the prompt. */
  readonly vectors: number;
  /** Width of each vector (A1111's `shape`): 768 for SD1.x, 1024 for SD2; SDXL's clip_g + clip_l. */
  readonly width: number;
  /** [vectors, width] row-major; empty for SDXL pairs, which no SD1.x/SD2 text encoder takes. */
  readonly data: Float32Array;
  readonly step: number | null;
  readonly sdCheckpoint: string | null;
  readonly sdCheckpointName: string | null;
  /** SHA-256 of the file, hex: A1111's TI hash is its first 12 characters. */
  readonly sha256: string;
}

export class EmbeddingFileError extends Error {}

/** Embedding files are kilobytes; anything this large is something else. */
export const MAX_EMBEDDING_BYTES = 64 * 1024 * 1024;

export const EMBEDDING_EXTENSIONS = [".pt", ".bin", ".safetensors"];

/** A file's extension, lower case with its dot ("" without one). */
export function embeddingExtension(fileName: string): string {
  const base = fileName.slice(Math.max(fileName.lastIndexOf("/"), fileName.lastIndexOf("\\")) + 1);
  const dot = base.lastIndexOf(".");
  return dot > 0 ? base.slice(dot).toLowerCase() : "";
}

/** The prompt word of an embedding file: its name without folder and extension. */
export function embeddingName(fileName: string): string {
  const base = fileName.slice(Math.max(fileName.lastIndexOf("/"), fileName.lastIndexOf("\\")) + 1);
  const dot = base.lastIndexOf(".");
  return dot > 0 ? base.slice(0, dot) : base;
}

/** Refuses what is not an embedding file by its extension or its size. */
export function checkEmbeddingFile(fileName: string, size: number): void {
  if (!EMBEDDING_EXTENSIONS.includes(embeddingExtension(fileName))) {
    throw new EmbeddingFileError(`not an embedding file (expected ${EMBEDDING_EXTENSIONS.join(", ")})`);
  }
  if (size > MAX_EMBEDDING_BYTES) {
    throw new EmbeddingFileError(`larger than ${MAX_EMBEDDING_BYTES >> 20} MB: not an embedding`);
  }
}

/** What the file's tensors (and a .pt's metadata) give; the caller adds name, path and sha256. */
export type ParsedEmbedding = Omit<TextualInversionEmbedding, "name" | "path" | "sha256">;

export interface EmbeddingTensorReader {
  names(): string[];
  shape(name: string): readonly number[];
  readF32(name: string): Float32Array;
}

const noMetadata = { step: null, sdCheckpoint: null, sdCheckpointName: null };

/** A .safetensors embedding from its tensors. */
export function safetensorsEmbedding(file: EmbeddingTensorReader): ParsedEmbedding {
  return { ...fromTensors(file.names(), file), ...noMetadata };
}

const NOT_TORCH_ZIP = "not a torch.save zip archive (the only pickle form sdlite reads)";

/** The error for a .pt / .bin whose first bytes are not a zip's. */
export function notTorchZip(): EmbeddingFileError {
  return new EmbeddingFileError(NOT_TORCH_ZIP);
}

/** A .pt / .bin embedding from its archive, opened with `tensorsIn: torchEmbeddingTensors`. */
export function torchEmbedding(file: TorchArchive): ParsedEmbedding {
  const reader = {
    names: () => file.names(),
    shape: (n: string) => file.info(n).shape,
    readF32: (n: string) => file.readF32(n),
  };
  const root = file.root instanceof Map ? file.root : new Map();
  return {
    ...fromTensors(file.names(), reader),
    step: numberOrNull(root.get("step")),
    sdCheckpoint: stringOrNull(root.get("sd_checkpoint")),
    sdCheckpointName: stringOrNull(root.get("sd_checkpoint_name")),
  };
}

/** A1111's string_to_param dict (a ParameterDict in old files: its `_parameters`), else the root. */
export function torchEmbeddingTensors(root: unknown): ReadonlyMap<unknown, unknown> | undefined {
  if (!(root instanceof Map)) return undefined;
  if (!root.has("string_to_param")) return root;
  const params = root.get("string_to_param");
  if (params instanceof Map) return params;
  const state = params instanceof PickleCall ? params.state : undefined;
  const inner = state instanceof Map ? state.get("_parameters") : undefined;
  if (inner instanceof Map) return inner;
  throw new EmbeddingFileError("string_to_param holds no tensors");
}

function fromTensors(
  names: readonly string[],
  file: EmbeddingTensorReader,
): Omit<ParsedEmbedding, keyof typeof noMetadata> {
  if (names.includes("clip_g") && names.includes("clip_l")) {
    // SDXL: listed with A1111's shape (the two widths added), usable by no SD1.x/SD2 text encoder
    const [g, l] = [file.shape("clip_g"), file.shape("clip_l")];
    return { vectors: g[0], width: g[g.length - 1] + l[l.length - 1], data: new Float32Array(0) };
  }
  if (names.length !== 1) {
    throw new EmbeddingFileError(
      names.length === 0 ? "it holds no tensor" : `it holds ${names.length} tensors, an embedding has one`,
    );
  }
  const shape = file.shape(names[0]);
  if (shape.length < 1 || shape.length > 2 || shape.some((d) => d === 0)) {
    throw new EmbeddingFileError(`its tensor has shape [${shape.join(", ")}], expected [vectors, width]`);
  }
  const width = shape[shape.length - 1];
  const vectors = shape.length === 2 ? shape[0] : 1;
  return { vectors, width, data: file.readF32(names[0]) };
}

function numberOrNull(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function stringOrNull(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}
