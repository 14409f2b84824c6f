/**
 * PNG text is bounded (issues 16 and 17): a 20 MB tEXt chunk, a zTXt/iTXt that inflates to 512 MB
 * and headers claiming 60000x60000 are refused with PngTextLimitError / PngFormatError before the
 * memory is spent; ordinary text up to PIL's 1 MiB per chunk is read as before.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { deflateSync } from "node:zlib";
import { decodePng, MAX_DECODE_PIXELS, readPngText } from "../src/image/png.js";
import {
  MAX_TEXT_BYTES,
  MAX_TEXT_CHUNK_BYTES,
  PngFormatError,
  PngTextLimitError,
} from "../src/image/png-chunks.js";
import { claimedSizePng, hostilePng, iTXt, tEXt, zlibBomb, zTXt } from "./helpers/hostile-png.js";

const MiB = 1024 * 1024;

describe("PNG text limits", () => {
  test("text up to 1 MiB per chunk is read, in all three chunk kinds", () => {
    const text = "x".repeat(MAX_TEXT_CHUNK_BYTES);
    const png = hostilePng({
      extra: [
        tEXt("a", text),
        zTXt("b", deflateSync(Buffer.from(text))),
        iTXt("parameters", deflateSync(Buffer.from("ünïcode"))),
      ],
    });
    assert.deepEqual(readPngText(png), { a: text, b: text, parameters: "ünïcode" });
    assert.equal(decodePng(png).text.b.length, MAX_TEXT_CHUNK_BYTES);
  });

  test("a 20 MB tEXt chunk is refused", () => {
    const png = hostilePng({ extra: [tEXt("parameters", "a".repeat(20 * MiB))] });
    assert.throws(() => readPngText(png), PngTextLimitError);
    assert.throws(
      () => decodePng(png),
      /holds more text than sdlite reads \(at most 1048576 bytes per text chunk/,
    );
  });

  test("zTXt and iTXt inflating to 512 MB are refused without inflating them", async () => {
    const bomb = await zlibBomb(512 * MiB);
    for (const chunk of [zTXt("parameters", bomb), iTXt("parameters", bomb)]) {
      const png = hostilePng({ extra: [chunk] });
      const before = process.memoryUsage().arrayBuffers;
      assert.throws(() => readPngText(png), PngTextLimitError);
      // collected or not, half a gigabyte inflated would still be counted here
      const grown = process.memoryUsage().arrayBuffers - before;
      assert.ok(grown < 64 * MiB, `array buffers grew by ${(grown / MiB).toFixed(0)} MiB`);
    }
  });

  test("all chunks together are capped too; truncated compressed text is malformed", () => {
    const half = "y".repeat(MAX_TEXT_CHUNK_BYTES - 10);
    const many = Array.from({ length: MAX_TEXT_BYTES / MAX_TEXT_CHUNK_BYTES + 1 }, (_, i) =>
      tEXt(`k${i}`, half),
    );
    assert.throws(() => readPngText(hostilePng({ extra: many })), PngTextLimitError);
    const truncated = deflateSync(Buffer.from("a cat, Steps: 20".repeat(100))).subarray(0, 20);
    assert.throws(
      () => readPngText(hostilePng({ extra: [zTXt("parameters", truncated)] })),
      /ends early|malformed/,
    );
  });

  test("a header claiming 60000x60000 is refused before any pixel is allocated", () => {
    assert.throws(
      () => decodePng(claimedSizePng(60_000, 60_000)),
      (err: Error) =>
        err instanceof PngFormatError && /60000x60000, more than the 67108864 pixels/.test(err.message),
    );
    assert.equal(MAX_DECODE_PIXELS, 8192 * 8192);
    assert.throws(() => decodePng(claimedSizePng(0, 10)), /its size is 0x10/);
  });
});
