/**
 * The safetensors header: its JSON parsed and checked against the data section's size. No file
 * system (safetensors.ts reads files in Node; the browser engine reads a Blob).
 */
import { DTYPE_SIZES, type Dtype, isDtype } from "./dtype.js";

/** Headers above this are refused: real ones are a few hundred KB, even for SDXL. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorInfo {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  /** Byte offsets relative to the start of the data section. */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Readonly<Record<string, string>>;
}

export class SafetensorsError extends Error {
  constructor(
    readonly file: string,
    message: string,
    readonly tensor?: string,
  ) {
    super(`${file}: ${tensor !== undefined ? `tensor "${tensor}": ` : ""}${message}`);
    this.name = "SafetensorsError";
  }
}

/**
 * A short rendering of a header value for error messages. Never throws: junk can be megabytes
 * long or nested deeper than JSON.stringify can recurse.
 */
function preview(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Array.isArray(value) ? "[...nested too deeply to show]" : "{...nested too deeply to show}";
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Validates a header JSON text against the size of the data section that follows it.
 * Pure, so it can be fuzzed without touching the disk.
 */
export function parseSafetensorsHeader(
  json: string,
  dataBytes: number,
  file = "<memory>",
): SafetensorsHeader {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw new SafetensorsError(file, `header is not valid JSON (${(err as Error).message})`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new SafetensorsError(file, "header must be a JSON object");
  }
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === "__metadata__") {
      metadata = parseMetadata(entry, file);
      continue;
    }
    tensors.set(name, parseEntry(name, entry, file));
  }
  checkLayout([...tensors.values()], dataBytes, file);
  return { tensors, metadata };
}

function parseMetadata(entry: unknown, file: string): Record<string, string> {
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
    throw new SafetensorsError(file, "__metadata__ must be an object of strings");
  }
  for (const [k, v] of Object.entries(entry)) {
    if (typeof v !== "string")
      throw new SafetensorsError(file, `__metadata__ value for "${k}" is not a string`);
  }
  return entry as Record<string, string>;
}

function parseEntry(name: string, entry: unknown, file: string): TensorInfo {
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
    throw new SafetensorsError(file, "entry must be an object", name);
  }
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (!isDtype(dtype)) {
    throw new SafetensorsError(
      file,
      `unknown dtype ${preview(dtype)} (supported: ${Object.keys(DTYPE_SIZES).join(", ")})`,
      name,
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError(
      file,
      `shape must be an array of non-negative integers, got ${preview(shape)}`,
      name,
    );
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    throw new SafetensorsError(
      file,
      `data_offsets must be [begin, end] with 0 <= begin <= end, got ${preview(offsets)}`,
      name,
    );
  }
  const expected = numel(shape) * DTYPE_SIZES[dtype];
  if (offsets[1] - offsets[0] !== expected) {
    throw new SafetensorsError(
      file,
      `byte length ${offsets[1] - offsets[0]} does not match shape [${shape.join(", ")}] x ${dtype} (${expected} bytes)`,
      name,
    );
  }
  return { name, dtype, shape: shape as number[], begin: offsets[0], end: offsets[1] };
}

/** Tensors must tile the data section exactly: in bounds, no overlaps, no holes. */
function checkLayout(infos: TensorInfo[], dataBytes: number, file: string): void {
  const sorted = [...infos].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const t of sorted) {
    if (t.end > dataBytes) {
      throw new SafetensorsError(
        file,
        `data_offsets [${t.begin}, ${t.end}] run past the end of the data (${dataBytes} bytes); is the file truncated?`,
        t.name,
      );
    }
    if (t.begin < cursor) throw new SafetensorsError(file, `data overlaps the previous tensor`, t.name);
    if (t.begin > cursor)
      throw new SafetensorsError(
        file,
        `hole in the data before this tensor (bytes ${cursor}..${t.begin})`,
        t.name,
      );
    cursor = t.end;
  }
  if (cursor !== dataBytes) {
    throw new SafetensorsError(file, `tensors cover ${cursor} bytes but the data section holds ${dataBytes}`);
  }
}
