/**
 * Fuzzing image inputs: valid PNGs (gray, RGB, RGBA, palette, 16-bit, interlaced-flagged, with
 * tEXt/zTXt/iTXt) and a JPEG, mutated by bit flips, inserted and deleted bytes, truncation, lying
 * chunk lengths, random IHDR and JPEG frame sizes and decompression bombs, then read as sdlite reads them: the
 * PNG decoder (CLI init images and upscale inputs), the server's base64 image decoder (img2img,
 * extras) and png-info's text reader. Each input decodes, or is refused with PngFormatError or a
 * 4xx HttpError, within HANG_MS, without holding more than MEMORY_BOUND of buffers.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { deflateSync } from "node:zlib";
import fc from "fast-check";
import jpeg from "jpeg-js";
import { decodePng, encodePng, readPngText } from "../src/image/png.js";
import { PngFormatError } from "../src/image/png-chunks.js";
import { decodeInputImage } from "../src/server/base64-image.js";
import { HttpError } from "../src/server/http-error.js";
import { pngInfo } from "../src/server/png-info.js";
import { checkMemory, fuzzParameters, newTally, reportTally } from "./helpers/fuzz.js";
import { claimedSizePng, hostilePng, iTXt, pngChunk, tEXt, zTXt } from "./helpers/hostile-png.js";

const HANG_MS = 10_000;
const MEMORY_BOUND = 1024 * 1024 * 1024;
const tally = newTally();
after(() => reportTally("image decoding (PNG, JPEG, text chunks)", tally, { hangBoundMs: HANG_MS }));

function pixels(width: number, height: number, channels: 1 | 2 | 3 | 4) {
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37) & 0xff;
  return { width, height, channels, data };
}

/** A palette PNG and a 16-bit one, written by hand (sdlite never writes those). */
function handPng(colorType: number, depth: number, extra: Buffer[]): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(4, 0);
  ihdr.writeUInt32BE(4, 4);
  ihdr.set([depth, colorType, 0, 0, 0], 8);
  const rowBytes = colorType === 3 ? 4 : 4 * 3 * (depth / 8);
  const raw = Buffer.concat(
    Array.from({ length: 4 }, () => Buffer.concat([Buffer.of(0), Buffer.alloc(rowBytes, 1)])),
  );
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", ihdr),
    ...extra,
    pngChunk("IDAT", deflateSync(raw)),
    pngChunk("IEND", new Uint8Array(0)),
  ]);
}

const text = "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 8x8";
const SEEDS: Uint8Array[] = [
  encodePng(pixels(8, 8, 3), { parameters: text }),
  encodePng(pixels(5, 3, 4), { parameters: "ünïcode prompt\nSteps: 1, Seed: 2, Size: 5x3" }),
  encodePng(pixels(6, 2, 1)),
  encodePng(pixels(3, 3, 2)),
  handPng(3, 8, [pngChunk("PLTE", Buffer.alloc(6, 200)), zTXt("parameters", deflateSync(Buffer.from(text)))]),
  handPng(2, 16, [iTXt("parameters", deflateSync(Buffer.from(text))), tEXt("extras", "x")]),
  new Uint8Array(jpeg.encode({ width: 8, height: 8, data: Buffer.alloc(8 * 8 * 4, 90) }, 80).data),
];

const PIXEL_BOMB = hostilePng({ width: 64, height: 64, idat: deflateSync(Buffer.alloc(16 * 1024 * 1024)) });

type Mutation = (bytes: Uint8Array) => Uint8Array;
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc
    .array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 8 })
    .map((flips) => (b: Uint8Array) => {
      const out = new Uint8Array(b);
      for (const [at, bit] of flips) out[at % out.length] ^= 1 << bit;
      return out;
    }),
  fc.nat().map((n) => (b: Uint8Array) => b.subarray(0, n % (b.length + 1))),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([at, junk]) => (b: Uint8Array) => {
    const i = at % (b.length + 1);
    return Uint8Array.from([...b.subarray(0, i), ...junk, ...b.subarray(i)]);
  }),
  fc.tuple(fc.nat(), fc.nat({ max: 64 })).map(([at, n]) => (b: Uint8Array) => {
    const i = at % (b.length + 1);
    return Uint8Array.from([...b.subarray(0, i), ...b.subarray(i + n)]);
  }),
  // a chunk length field (offsets 8, 33, …) set to something large
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 0xffffffff })).map(([pick, value]) => (b: Uint8Array) => {
    const out = new Uint8Array(b);
    const offsets = [8, 33, 45].filter((o) => o + 4 <= out.length);
    if (offsets.length > 0) new DataView(out.buffer).setUint32(offsets[pick % offsets.length], value);
    return out;
  }),
  // IHDR width and height anywhere from 0 to 2^32 - 1
  fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff })).map(
    ([w, h]) =>
      () =>
        claimedSizePng(w, h),
  ),
  // a JPEG's frame header (SOF0) claiming any size up to 65535x65535; other seeds as they are
  fc
    .tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }))
    .map(([w, h]) => (b: Uint8Array) => {
      const out = new Uint8Array(b);
      const sof = out.findIndex((x, i) => x === 0xff && out[i + 1] === 0xc0);
      if (sof >= 0 && sof + 9 <= out.length) {
        new DataView(out.buffer).setUint16(sof + 5, h);
        new DataView(out.buffer).setUint16(sof + 7, w);
      }
      return out;
    }),
  fc
    .uint8Array({ maxLength: 512 })
    .map((junk) => () => Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...junk])),
  // pixel data that inflates far beyond the size: 16 MB of zeros behind a 64x64 header
  fc.constant(() => PIXEL_BOMB),
);

function expectedRefusal(err: unknown): boolean {
  if (err instanceof PngFormatError) return !err.message.includes("\n");
  if (err instanceof HttpError)
    return err.statusCode >= 400 && err.statusCode < 500 && !err.message.includes("\n");
  return false;
}

test("fuzz image inputs: decoded, or refused as malformed, too large or unsupported", {
  timeout: 600_000,
}, () => {
  fc.assert(
    fc.property(fc.constantFrom(...SEEDS), mutation, (seed, mutate) => {
      const bytes = mutate(seed);
      const before = process.memoryUsage().arrayBuffers;
      for (const read of [
        () => decodePng(bytes),
        () => readPngText(bytes),
        () => decodeInputImage(bytes, "image"),
        () => pngInfo(bytes),
      ]) {
        tally.inputs++;
        const started = performance.now();
        try {
          read();
        } catch (err) {
          if (!expectedRefusal(err)) {
            tally.crashes++;
            throw err;
          }
        }
        const ms = performance.now() - started;
        if (ms > HANG_MS) {
          tally.hangs++;
          assert.fail(`${ms.toFixed(0)} ms for ${bytes.length} bytes`);
        }
      }
      const grown = process.memoryUsage().arrayBuffers - before;
      if (grown > MEMORY_BOUND) {
        tally.otherFailures++;
        assert.fail(`${(grown / 2 ** 20).toFixed(0)} MiB of buffers for ${bytes.length} bytes`);
      }
      checkMemory(tally, `${bytes.length} bytes of image`);
    }),
    fuzzParameters(200),
  );
});
