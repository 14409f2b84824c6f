/**
 * Images as A1111 clients send them: base64 text, optionally a `data:image/…;base64,` URL
 * (api.py decode_base64_to_image strips that prefix). PNG (with its text chunks) and JPEG are
 * read; anything else gets an error that says what was found. The pixel count is checked before
 * decompressing, so a small file cannot expand into gigabytes.
 */
import jpeg from "jpeg-js";
import { decodePng, hasPngSignature } from "../image/png.js";
import { PngTextLimitError } from "../image/png-chunks.js";
import type { Pixels } from "../image/types.js";
import { HttpError, invalidRequest } from "./http-error.js";

/** 64 megapixels: far above anything the pipeline accepts, far below a memory problem. */
export const MAX_INPUT_MEGAPIXELS = 64;

export interface DecodedInputImage {
  readonly pixels: Pixels;
  /** PNG text chunks (the A1111 `parameters` infotext among them); empty for JPEG. */
  readonly text: Record<string, string>;
  readonly format: "png" | "jpeg";
}

const DATA_URL = /^data:[^,]*?;base64,/i;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** The bytes behind base64 text or a base64 data URL; `label` names the field in errors. */
export function base64Bytes(text: unknown, label: string): Uint8Array {
  if (typeof text !== "string") throw invalidRequest(`${label} must be a base64 string`);
  let body = text.trim();
  if (/^https?:\/\//i.test(body)) {
    throw invalidRequest(`${label}: images are not fetched from URLs; send the image itself as base64`);
  }
  if (/^data:/i.test(body)) {
    if (!DATA_URL.test(body)) throw invalidRequest(`${label}: only base64 data URLs are accepted`);
    body = body.replace(DATA_URL, "");
  }
  body = body.replace(/\s+/g, "");
  if (body.length === 0) throw invalidRequest(`${label} is empty`);
  if (!BASE64.test(body) || body.length % 4 === 1) {
    throw invalidRequest(`${label} is not valid base64`);
  }
  return new Uint8Array(Buffer.from(body.replace(/-/g, "+").replace(/_/g, "/"), "base64"));
}

function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

function describeFormat(bytes: Uint8Array): string {
  const ascii = (from: number, to: number) => String.fromCharCode(...bytes.subarray(from, to));
  if (ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP") return "a WebP image";
  if (ascii(0, 3) === "GIF") return "a GIF image";
  if (ascii(0, 2) === "BM") return "a BMP image";
  return `data starting with ${Buffer.from(bytes.subarray(0, 8)).toString("hex")}`;
}

function checkMegapixels(width: number, height: number, label: string): void {
  if (width * height > MAX_INPUT_MEGAPIXELS * 1_000_000) {
    throw invalidRequest(
      `${label} is ${width}x${height}, more than ${MAX_INPUT_MEGAPIXELS} megapixels; scale it down first`,
    );
  }
}

export function decodeInputImage(bytes: Uint8Array, label: string): DecodedInputImage {
  if (hasPngSignature(bytes)) {
    if (bytes.length >= 24) {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      checkMegapixels(view.getUint32(16), view.getUint32(20), label);
    }
    try {
      const png = decodePng(bytes);
      const { text, ...pixels } = png;
      return { pixels, text, format: "png" };
    } catch (err) {
      if (err instanceof PngTextLimitError) {
        throw new HttpError(413, `${label}: ${err.message}`, "PayloadTooLarge");
      }
      throw invalidRequest(`${label}: ${(err as Error).message}`);
    }
  }
  if (isJpeg(bytes)) {
    try {
      const image = jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: false,
        maxResolutionInMP: MAX_INPUT_MEGAPIXELS,
        maxMemoryUsageInMB: 1024,
      });
      return {
        pixels: { width: image.width, height: image.height, channels: 3, data: image.data },
        text: {},
        format: "jpeg",
      };
    } catch (err) {
      throw invalidRequest(`${label}: cannot decode JPEG: ${(err as Error).message}`);
    }
  }
  throw invalidRequest(`${label}: expected a PNG or JPEG image, got ${describeFormat(bytes)}`);
}

/** base64Bytes then decodeInputImage. */
export function decodeBase64Image(text: unknown, label: string): DecodedInputImage {
  return decodeInputImage(base64Bytes(text, label), label);
}
