/**
 * PNG files in and out. Pixels go through fast-png; text chunks (the A1111 `parameters` infotext)
 * through ./png-chunks.ts. Every decoded PNG is normalised to 8-bit interleaved Pixels:
 * palettes are expanded, 16-bit samples keep their high byte (what PIL does for 16-bit RGB),
 * 1/2/4-bit gray is scaled to 0..255 (as PIL's "L;1/2/4" unpackers do). A tRNS colour key on a
 * gray/RGB image is ignored, as PIL's convert("RGB") ignores it.
 */
import { convertIndexedToRgb, decode, encode } from "fast-png";
import { type Rgb, toRgb, WHITE } from "./color.js";
import { hasPngSignature, insertTextChunks, PngFormatError, pngChunks, readPngText } from "./png-chunks.js";
import { checkPixelCount, type Pixels, type RgbImage } from "./types.js";

export { hasPngSignature, PngFormatError, readPngText } from "./png-chunks.js";

export interface DecodedPng extends Pixels {
  /** Text chunks (tEXt, zTXt, iTXt), keyword → text. */
  readonly text: Record<string, string>;
}

function asChannels(n: number): Pixels["channels"] {
  if (n === 1 || n === 2 || n === 3 || n === 4) return n;
  throw new PngFormatError(`unsupported channel count ${n}`);
}

/** Unpacks 1/2/4-bit samples (rows padded to whole bytes) and scales them to 0..255. */
function unpackLowDepthGray(packed: ArrayLike<number>, width: number, height: number, depth: number) {
  const out = new Uint8Array(width * height);
  const rowBytes = Math.ceil((width * depth) / 8);
  const max = (1 << depth) - 1;
  const scale = 255 / max; // 255, 85, 17: exact integers
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      const byte = packed[y * rowBytes + (bit >> 3)];
      const sample = (byte >> (8 - depth - (bit & 7))) & max;
      out[y * width + x] = sample * scale;
    }
  }
  return out;
}

/** Largest image decoded: 8192 x 8192 (268 MB as RGBA), checked before any pixel is allocated. */
export const MAX_DECODE_PIXELS = 8192 * 8192;

/**
 * The size an IHDR claims, read without decoding anything; refused when it is zero or larger than
 * MAX_DECODE_PIXELS (so callers can check their own limits before decoding).
 */
export function pngHeaderSize(bytes: Uint8Array): { width: number; height: number } {
  if (!hasPngSignature(bytes)) throw new PngFormatError("not a PNG file (bad signature)");
  const first = pngChunks(bytes).next();
  if (first.done || first.value.type !== "IHDR" || first.value.data.length < 8) {
    throw new PngFormatError("malformed PNG: it does not start with an IHDR chunk");
  }
  const view = new DataView(first.value.data.buffer, first.value.data.byteOffset, 8);
  const width = view.getUint32(0);
  const height = view.getUint32(4);
  if (width === 0 || height === 0) throw new PngFormatError(`malformed PNG: its size is ${width}x${height}`);
  if (width * height > MAX_DECODE_PIXELS) {
    throw new PngFormatError(
      `the PNG is ${width}x${height}, more than the ${MAX_DECODE_PIXELS} pixels (8192x8192) sdlite decodes`,
    );
  }
  return { width, height };
}

const CHANNELS_BY_COLOR_TYPE: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Deflate expands at most ~1032:1; beyond this ratio the pixel data cannot be complete. */
const MAX_DEFLATE_RATIO = 1100;

/**
 * Refuses a PNG whose compressed pixel data is too small to hold the pixels its header claims
 * (a 100-byte file claiming 8192x8192 RGBA would otherwise make the decoder allocate 512 MB first).
 */
function checkPixelDataSize(bytes: Uint8Array, width: number, height: number): void {
  let idat = 0;
  let depth = 8;
  let channels = 4;
  for (const chunk of pngChunks(bytes)) {
    if (chunk.type === "IHDR" && chunk.data.length >= 10) {
      depth = chunk.data[8];
      channels = CHANNELS_BY_COLOR_TYPE[chunk.data[9]] ?? 4;
    } else if (chunk.type === "IDAT") idat += chunk.data.length;
  }
  const needed = height * (1 + Math.ceil((width * channels * depth) / 8));
  if (idat * MAX_DEFLATE_RATIO < needed) {
    throw new PngFormatError(
      `cannot decode PNG: ${idat} bytes of pixel data cannot hold ${width}x${height} pixels (truncated or corrupt)`,
    );
  }
}

export function decodePng(bytes: Uint8Array): DecodedPng {
  const { width: claimedWidth, height: claimedHeight } = pngHeaderSize(bytes);
  checkPixelDataSize(bytes, claimedWidth, claimedHeight);
  const text = readPngText(bytes);
  try {
    return { ...eightBitPixels(decode(bytes)), text };
  } catch (err) {
    if (err instanceof PngFormatError) throw err;
    // fast-png's own errors, and data that does not fit the header (a palette index past the palette)
    throw new PngFormatError(`cannot decode PNG: ${(err as Error).message}`);
  }
}

/** fast-png's result as 8-bit interleaved pixels (palettes expanded, 16 bits cut, low depths scaled). */
function eightBitPixels(png: ReturnType<typeof decode>): Pixels {
  const { width, height, depth } = png;
  let data: Uint8Array;
  let channels = png.channels;
  if (png.palette) {
    data = convertIndexedToRgb(png);
    channels = png.palette[0].length;
  } else if (depth === 16) {
    const wide = png.data;
    data = new Uint8Array(wide.length);
    for (let i = 0; i < wide.length; i++) data[i] = wide[i] >> 8;
  } else if (depth < 8) {
    data = unpackLowDepthGray(png.data, width, height, depth);
  } else {
    data = png.data instanceof Uint8Array ? png.data : Uint8Array.from(png.data);
  }
  checkPixelCount(width, height, channels, data.length);
  return { width, height, channels: asChannels(channels), data };
}

/**
 * Encodes 8-bit pixels; text chunks go right after IHDR, Latin-1 values as tEXt and anything else
 * as UTF-8 iTXt (PIL's PngInfo.add_text rule, so A1111 and other readers see what they expect).
 */
export function encodePng(pixels: Pixels, text: Readonly<Record<string, string>> = {}): Uint8Array {
  checkPixelCount(pixels.width, pixels.height, pixels.channels, pixels.data.length);
  const png = encode({
    width: pixels.width,
    height: pixels.height,
    data: pixels.data,
    depth: 8,
    channels: pixels.channels,
  });
  return Object.keys(text).length > 0 ? insertTextChunks(png, text) : png;
}

/**
 * A PNG as an RGB image plus its text: alpha is flattened over `background`, white by default
 * like A1111's img2img (see color.ts toRgb); gray is expanded to RGB.
 */
export function decodePngRgb(
  bytes: Uint8Array,
  background: Rgb = WHITE,
): { image: RgbImage; text: Record<string, string> } {
  const png = decodePng(bytes);
  return { image: toRgb(png, background), text: png.text };
}
