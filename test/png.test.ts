import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { deflateSync, crc32 as zlibCrc32 } from "node:zlib";
import { alphaChannel, maskToGray, toGray, toRgb } from "../src/image/color.js";
import { decodePng, decodePngRgb, encodePng, PngFormatError, readPngText } from "../src/image/png.js";
import { crc32, pngChunks } from "../src/image/png-chunks.js";
import { fixturePath } from "./helpers/fixtures.js";

// An independent PNG writer (node:zlib deflate + crc32) for the formats sdlite never writes itself.
function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlibCrc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

function buildPng(
  width: number,
  height: number,
  depth: number,
  colorType: number,
  rows: Uint8Array[],
  extra: Buffer[] = [],
): Uint8Array {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([depth, colorType, 0, 0, 0], 8);
  const raw = Buffer.concat(rows.map((r) => Buffer.concat([Buffer.of(0), r]))); // filter 0 per row
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    ...extra,
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", new Uint8Array(0)),
  ]);
}

const latin1 = (s: string) => Buffer.from(s, "latin1");

test("crc32 matches the standard check value and node:zlib", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7919) & 255);
  assert.equal(crc32(bytes), zlibCrc32(bytes));
});

test("RGB pixels and text round-trip; Latin-1 text as tEXt, other text as iTXt, right after IHDR", () => {
  const width = 5;
  const height = 3;
  const data = Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 37 + 11) & 255);
  const text = {
    parameters: "a café at night\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7",
    unicode: "日本の猫, emoji 🐱",
  };
  const png = encodePng({ width, height, channels: 3, data }, text);
  const types = [...pngChunks(png)].map((c) => c.type);
  assert.deepEqual(types.slice(0, 3), ["IHDR", "tEXt", "iTXt"], `chunk order ${types.join(",")}`);
  assert.equal(types.at(-1), "IEND");
  const decoded = decodePng(png);
  assert.equal(decoded.width, width);
  assert.equal(decoded.height, height);
  assert.equal(decoded.channels, 3);
  assert.deepEqual(decoded.data, data);
  assert.deepEqual(decoded.text, text);
  assert.deepEqual(readPngText(png), text);
});

test("gray, gray+alpha and RGBA pixels round-trip", () => {
  for (const channels of [1, 2, 4] as const) {
    const data = Uint8Array.from({ length: 4 * 2 * channels }, (_, i) => (i * 53 + channels) & 255);
    const decoded = decodePng(encodePng({ width: 4, height: 2, channels, data }));
    assert.equal(decoded.channels, channels);
    assert.deepEqual(decoded.data, data, `channels=${channels}`);
    assert.deepEqual(decoded.text, {});
  }
});

test("reads zTXt and compressed iTXt chunks written by other tools; last duplicate keyword wins", () => {
  const ztxt = chunk("zTXt", Buffer.concat([latin1("Comment\0\0"), deflateSync(latin1("zipped latin-1 é"))]));
  const itxt = chunk(
    "iTXt",
    Buffer.concat([
      latin1("parameters\0\x01\0en\0"),
      Buffer.from("Paramètres\0"),
      deflateSync(Buffer.from("猫 prompt")),
    ]),
  );
  const dup = chunk("tEXt", latin1("Comment\0second"));
  const png = buildPng(1, 1, 8, 0, [Uint8Array.of(9)], [ztxt, itxt, dup]);
  assert.deepEqual(readPngText(png), { Comment: "second", parameters: "猫 prompt" });
  const decoded = decodePng(png);
  assert.deepEqual(decoded.data, Uint8Array.of(9));
});

test("palette PNG (with tRNS) expands to RGBA; alpha flattens over white like A1111", () => {
  const plte = chunk("PLTE", Uint8Array.of(255, 0, 0, 0, 0, 255, 10, 20, 30));
  const trns = chunk("tRNS", Uint8Array.of(255, 0, 128));
  const png = buildPng(3, 1, 8, 3, [Uint8Array.of(0, 1, 2)], [plte, trns]);
  const decoded = decodePng(png);
  assert.equal(decoded.channels, 4);
  assert.deepEqual([...decoded.data], [255, 0, 0, 255, 0, 0, 255, 0, 10, 20, 30, 128]);
  const rgb = toRgb(decoded);
  // round((v*a + 255*(255-a)) / 255): alpha 0 → white; alpha 128 over white
  const blend = (v: number) => Math.round((v * 128 + 255 * 127) / 255);
  assert.deepEqual([...rgb.data], [255, 0, 0, 255, 255, 255, blend(10), blend(20), blend(30)]);
  assert.deepEqual([...toRgb(decoded, [0, 0, 0]).data.subarray(3, 6)], [0, 0, 0]);
  assert.deepEqual(decodePngRgb(png).image, rgb);
});

test("16-bit RGB keeps the high byte; 1-, 2- and 4-bit gray scale to 0..255", () => {
  const rgb16 = buildPng(2, 1, 16, 2, [
    Uint8Array.of(0x12, 0x34, 0xff, 0xff, 0x00, 0x01, 0x80, 0x00, 0x7f, 0xff, 0x00, 0xff),
  ]);
  const d16 = decodePng(rgb16);
  assert.equal(d16.channels, 3);
  assert.deepEqual([...d16.data], [0x12, 0xff, 0x00, 0x80, 0x7f, 0x00]);

  // 10 pixels at 1 bit: 1011001110 → padded to 2 bytes
  const bits = decodePng(buildPng(10, 1, 1, 0, [Uint8Array.of(0b10110011, 0b10000000)]));
  assert.deepEqual([...bits.data], [255, 0, 255, 255, 0, 0, 255, 255, 255, 0]);
  const two = decodePng(buildPng(3, 2, 2, 0, [Uint8Array.of(0b00011011), Uint8Array.of(0b11100100)]));
  assert.deepEqual([...two.data], [0, 85, 170, 255, 170, 85]);
  const four = decodePng(buildPng(3, 1, 4, 0, [Uint8Array.of(0x0f, 0x80)]));
  assert.deepEqual([...four.data], [0, 255, 136]);
});

test("toGray is PIL's convert('L') (rounded fixed point), alpha ignored; maskToGray prefers translucent alpha", () => {
  const pixels = {
    width: 4,
    height: 1,
    channels: 4 as const,
    data: Uint8Array.of(255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 0, 10, 200, 30, 255),
  };
  // PIL's rgb2l: (R·19595 + G·38470 + B·7471 + 0x8000) >> 16. Pure R, G, B give the documented
  // 299/587/114 weights; (10,200,30) gives 124 where the truncated 299/587/114 formula gives 123.
  const expected = [76, 150, 29, 124];
  assert.deepEqual([...toGray(pixels).data], expected);
  assert.deepEqual([...maskToGray(pixels).data], [255, 255, 0, 255], "translucent alpha is the mask");
  const opaque = { ...pixels, data: pixels.data.map((v, i) => (i % 4 === 3 ? 255 : v)) };
  assert.deepEqual([...maskToGray(opaque).data], expected, "opaque RGBA mask uses luminance");
  assert.equal(alphaChannel({ width: 1, height: 1, channels: 3, data: Uint8Array.of(1, 2, 3) }), undefined);
});

test("fixture PNGs decode with the expected layout", () => {
  const init = decodePng(readFileSync(fixturePath("pipelines", "inpaint_ddim_8_init.png")));
  assert.deepEqual([init.width, init.height, init.channels], [64, 64, 3]);
  const mask = decodePng(readFileSync(fixturePath("pipelines", "inpaint_ddim_8_mask.png")));
  assert.deepEqual([mask.width, mask.height, mask.channels], [64, 64, 1]);
});

test("clear errors for non-PNG and truncated input", () => {
  assert.throws(() => decodePng(new TextEncoder().encode("GIF89a not a png")), PngFormatError);
  assert.throws(() => readPngText(Uint8Array.of(1, 2, 3)), /not a PNG/);
  const png = encodePng({ width: 2, height: 2, channels: 1, data: new Uint8Array(4) }, { a: "b" });
  assert.throws(() => readPngText(png.subarray(0, 40)), /truncated PNG/);
  assert.throws(
    () => encodePng({ width: 2, height: 2, channels: 3, data: new Uint8Array(5) }),
    /expected 2x2x3/,
  );
  assert.throws(
    () => encodePng({ width: 1, height: 1, channels: 1, data: new Uint8Array(1) }, { "": "x" }),
    /keyword/,
  );
});
