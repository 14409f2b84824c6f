/**
 * Pixels in a form JSON can carry: the raw 8-bit bytes (row-major, channels interleaved) in base64.
 * Exact and cheap both ways; a job holding its init image and mask this way gives the same image
 * in any process that reads it.
 */
import type { GrayImage, RgbImage } from "../image/types.js";
import { InvalidRequestError } from "./request.js";

export interface EncodedImage {
  readonly width: number;
  readonly height: number;
  /** 3: RGB (an init image), 1: gray (a mask). */
  readonly channels: 1 | 3;
  /** width × height × channels bytes, base64. */
  readonly data: string;
}

export function encodeImage(image: RgbImage | GrayImage, channels: 1 | 3): EncodedImage {
  const { width, height, data } = image;
  return {
    width,
    height,
    channels,
    data: Buffer.from(data.buffer, data.byteOffset, data.length).toString("base64"),
  };
}

/** The pixels of an encoded image, refusing anything that is not exactly what it says it is. */
export function decodeImage(value: unknown, channels: 1 | 3, what: string): RgbImage | GrayImage {
  const v = value as Partial<EncodedImage> | null;
  const fail = (why: string): never => {
    throw new InvalidRequestError(`${what}: ${why}`);
  };
  if (v === null || typeof v !== "object" || Array.isArray(v))
    fail("must be an object {width, height, channels, data}");
  const { width, height } = v as Partial<EncodedImage>;
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width! < 1 || height! < 1) {
    fail(`width and height must be positive integers, got ${width}x${height}`);
  }
  if (v!.channels !== channels) fail(`channels must be ${channels}, got ${JSON.stringify(v!.channels)}`);
  if (typeof v!.data !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(v!.data))
    fail("data must be base64 text");
  const data = new Uint8Array(Buffer.from(v!.data as string, "base64"));
  const expected = width! * height! * channels;
  if (data.length !== expected)
    fail(`data holds ${data.length} bytes, expected ${width}x${height}x${channels} = ${expected}`);
  return { width: width!, height: height!, data };
}
