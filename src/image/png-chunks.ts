/**
 * PNG chunk level: walking the chunk list and reading/writing the three text chunk kinds.
 * fast-png only knows Latin-1 `tEXt`; A1111 (through PIL) writes `iTXt` as soon as a prompt has a
 * character outside Latin-1, and other tools write `zTXt`, so all three are handled here.
 */
import { Unzlib } from "fflate";

export const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

export class PngFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PngFormatError";
  }
}

/** Text chunks that decode to more than the limits (a decompression bomb, megabytes of "metadata"). */
export class PngTextLimitError extends PngFormatError {
  constructor(message: string) {
    super(message);
    this.name = "PngTextLimitError";
  }
}

/**
 * Most decoded bytes of one text chunk: PIL's MAX_TEXT_CHUNK, so what A1111 reads sdlite reads.
 * An A1111 infotext is a few kilobytes.
 */
export const MAX_TEXT_CHUNK_BYTES = 1024 * 1024;
/** Most decoded bytes of all text chunks of one PNG together. */
export const MAX_TEXT_BYTES = 4 * 1024 * 1024;
/** Compressed bytes handed to the inflater at a time: at most ~1 MB of output each (deflate's 1032:1). */
const INFLATE_SLICE = 1024;

export interface TextLimits {
  readonly chunkBytes: number;
  readonly totalBytes: number;
}

export const DEFAULT_TEXT_LIMITS: TextLimits = {
  chunkBytes: MAX_TEXT_CHUNK_BYTES,
  totalBytes: MAX_TEXT_BYTES,
};

function tooMuchText(type: string): PngTextLimitError {
  return new PngTextLimitError(
    `the PNG's ${type} chunk holds more text than sdlite reads (at most ${MAX_TEXT_CHUNK_BYTES} bytes per text chunk, ${MAX_TEXT_BYTES} in all)`,
  );
}

export function hasPngSignature(bytes: Uint8Array): boolean {
  if (bytes.length < PNG_SIGNATURE.length) return false;
  return PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

export interface PngChunk {
  readonly type: string;
  /** Offset of the chunk's length field in the file. */
  readonly offset: number;
  readonly data: Uint8Array;
}

/** A chunk type for a message: its four letters, or its bytes in hex when they are not letters. */
function printableType(type: string): string {
  if (/^[A-Za-z]{4}$/.test(type)) return type;
  // no Buffer: the web UI bundles this file to read dropped PNGs in the page
  return `0x${Array.from(type, (c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("")}`;
}

/** The chunks up to and including IEND, without checking CRCs (pixels are checked by the decoder). */
export function* pngChunks(bytes: Uint8Array): Generator<PngChunk> {
  if (!hasPngSignature(bytes)) throw new PngFormatError("not a PNG file (bad signature)");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = PNG_SIGNATURE.length;
  while (offset < bytes.length) {
    if (offset + 12 > bytes.length) throw new PngFormatError(`truncated PNG: chunk header at byte ${offset}`);
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    const end = offset + 12 + length;
    if (end > bytes.length) {
      throw new PngFormatError(`truncated PNG: chunk ${printableType(type)} at byte ${offset}`);
    }
    yield { type, offset, data: bytes.subarray(offset + 8, offset + 8 + length) };
    if (type === "IEND") return;
    offset = end;
  }
  throw new PngFormatError("truncated PNG: no IEND chunk");
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Serialises one chunk: length, type, data, CRC over type + data. */
export function encodeChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8");
const utf8Encoder = new TextEncoder();

function isLatin1(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff) return false;
  return true;
}

function latin1Bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

function checkKeyword(keyword: string): void {
  // PNG spec 11.3.4.2: 1-79 Latin-1 characters, no NUL
  if (keyword.length < 1 || keyword.length > 79 || !isLatin1(keyword) || keyword.includes("\0")) {
    throw new RangeError(`PNG text keyword must be 1-79 Latin-1 characters, got ${JSON.stringify(keyword)}`);
  }
}

/**
 * One text chunk, chosen as PIL's PngInfo.add_text does (what A1111 uses): `tEXt` when the value
 * is Latin-1, else uncompressed `iTXt` in UTF-8.
 */
export function encodeTextChunk(keyword: string, text: string): Uint8Array {
  checkKeyword(keyword);
  const key = latin1Bytes(keyword);
  if (isLatin1(text)) {
    const value = latin1Bytes(text);
    const data = new Uint8Array(key.length + 1 + value.length);
    data.set(key, 0);
    data.set(value, key.length + 1);
    return encodeChunk("tEXt", data);
  }
  const value = utf8Encoder.encode(text);
  // keyword \0, compression flag 0, method 0, empty language tag \0, empty translated keyword \0
  const data = new Uint8Array(key.length + 5 + value.length);
  data.set(key, 0);
  data.set(value, key.length + 5);
  return encodeChunk("iTXt", data);
}

function nulAt(data: Uint8Array, from: number, what: string): number {
  const i = data.indexOf(0, from);
  if (i < 0) throw new PngFormatError(`malformed ${what} chunk: missing NUL separator`);
  return i;
}

/**
 * Inflates `data`, stopping as soon as the output passes `limit` bytes: a zTXt of 130 KB can
 * inflate to 130 MB, which is never allocated.
 */
function inflate(data: Uint8Array, what: string, limit: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 0;
  let ended = false;
  const stream = new Unzlib((chunk, final) => {
    size += chunk.length;
    if (size > limit) throw tooMuchText(what);
    parts.push(chunk);
    if (final) ended = true;
  });
  try {
    for (let at = 0; at < data.length; at += INFLATE_SLICE) {
      const end = Math.min(at + INFLATE_SLICE, data.length);
      stream.push(data.subarray(at, end), end === data.length);
    }
    if (data.length === 0) stream.push(data, true);
  } catch (err) {
    if (err instanceof PngTextLimitError) throw err;
    throw new PngFormatError(`malformed ${what} chunk: ${(err as Error).message}`);
  }
  if (!ended) throw new PngFormatError(`malformed ${what} chunk: the compressed text ends early`);
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Decodes a tEXt, zTXt or iTXt chunk to [keyword, text]; undefined for any other chunk type.
 * Text over `limit` bytes (decoded) throws PngTextLimitError before it is decoded.
 */
export function decodeTextChunk(
  chunk: PngChunk,
  limit: number = MAX_TEXT_CHUNK_BYTES,
): [string, string] | undefined {
  const { type, data } = chunk;
  if (type !== "tEXt" && type !== "zTXt" && type !== "iTXt") return undefined;
  const keyEnd = nulAt(data, 0, type);
  const keyword = latin1.decode(data.subarray(0, keyEnd));
  const plain = (body: Uint8Array) => {
    if (body.length > limit) throw tooMuchText(type);
    return body;
  };
  if (type === "tEXt") return [keyword, latin1.decode(plain(data.subarray(keyEnd + 1)))];
  if (type === "zTXt") return [keyword, latin1.decode(inflate(data.subarray(keyEnd + 2), type, limit))];
  const compressed = data[keyEnd + 1] === 1;
  const languageEnd = nulAt(data, keyEnd + 3, type);
  const translatedEnd = nulAt(data, languageEnd + 1, type);
  const body = data.subarray(translatedEnd + 1);
  return [keyword, utf8.decode(compressed ? inflate(body, type, limit) : plain(body))];
}

/**
 * All text chunks of a PNG, keyword → text, without decoding any pixels. A keyword that appears
 * twice keeps its last value, as PIL's `Image.info` does. More text than `limits` allow (per
 * chunk, in all) throws PngTextLimitError.
 */
export function readPngText(
  bytes: Uint8Array,
  limits: TextLimits = DEFAULT_TEXT_LIMITS,
): Record<string, string> {
  const text: Record<string, string> = {};
  let total = 0;
  for (const chunk of pngChunks(bytes)) {
    const entry = decodeTextChunk(chunk, Math.max(0, Math.min(limits.chunkBytes, limits.totalBytes - total)));
    if (!entry) continue;
    total += entry[0].length + entry[1].length;
    text[entry[0]] = entry[1];
  }
  return text;
}

/** Inserts text chunks right after IHDR (where PIL puts them, so readers that stop early see them). */
export function insertTextChunks(png: Uint8Array, text: Readonly<Record<string, string>>): Uint8Array {
  const first = pngChunks(png).next();
  if (first.done || first.value.type !== "IHDR") throw new PngFormatError("PNG does not start with IHDR");
  const at = first.value.offset + 12 + first.value.data.length;
  const chunks = Object.entries(text).map(([k, v]) => encodeTextChunk(k, v));
  const extra = chunks.reduce((n, c) => n + c.length, 0);
  const out = new Uint8Array(png.length + extra);
  out.set(png.subarray(0, at), 0);
  let offset = at;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  out.set(png.subarray(at), offset);
  return out;
}
