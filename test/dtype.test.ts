/** Half-precision conversions against known IEEE 754 bit patterns. */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  bf16ToF32,
  bytesToF32,
  DTYPE_SIZES,
  f16ToF32,
  f32ToF16,
  f32ToF16Bits,
  isDtype,
} from "../src/weights/formats/dtype.js";

const f16 = (bits: number) => f16ToF32(Uint16Array.of(bits))[0];
const bf16 = (bits: number) => bf16ToF32(Uint16Array.of(bits))[0];
const hex = (bits: number) => `0x${bits.toString(16).padStart(4, "0")}`;

/** float32 whose bit pattern is `bits`. */
function f32FromBits(bits: number): number {
  return new Float32Array(Uint32Array.of(bits >>> 0).buffer)[0];
}

test("F16 -> F32: normals, zeros, max, infinities, NaN", () => {
  const cases: [number, number][] = [
    [0x0000, 0],
    [0x3c00, 1],
    [0xbc00, -1],
    [0x3555, 0.333251953125],
    [0x4000, 2],
    [0xc000, -2],
    [0x3bff, 1 - 2 ** -11], // largest below one
    [0x3c01, 1 + 2 ** -10], // smallest above one
    [0x7bff, 65504], // max
    [0xfbff, -65504],
    [0x0400, 2 ** -14], // smallest normal
    [0x7c00, Number.POSITIVE_INFINITY],
    [0xfc00, Number.NEGATIVE_INFINITY],
  ];
  for (const [bits, value] of cases) assert.equal(f16(bits), value, hex(bits));
  assert.ok(Object.is(f16(0x8000), -0), "negative zero keeps its sign");
  for (const bits of [0x7c01, 0x7e00, 0x7fff, 0xfe00])
    assert.ok(Number.isNaN(f16(bits)), `${hex(bits)} is NaN`);
});

test("F16 -> F32: subnormals are frac · 2^-24", () => {
  assert.equal(f16(0x0001), 2 ** -24); // smallest subnormal, 5.96e-8
  assert.equal(f16(0x0002), 2 ** -23);
  assert.equal(f16(0x03ff), 1023 * 2 ** -24); // largest subnormal
  assert.equal(f16(0x8001), -(2 ** -24));
  assert.equal(f16(0x0200), 2 ** -15);
});

test("F16 -> F32 -> F16 round-trips all 63,488 non-NaN patterns exactly", () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const wide = f16ToF32(all);
  const back = f32ToF16(wide);
  let checked = 0;
  for (let h = 0; h < 65536; h++) {
    if (((h >> 10) & 0x1f) === 0x1f && h & 0x3ff) continue; // NaN payloads are not preserved
    assert.equal(back[h], h, `${hex(h)} -> ${wide[h]} -> ${hex(back[h])}`);
    checked++;
  }
  assert.equal(checked, 65536 - 2 * 1023);
});

test("BF16 -> F32: the high half of the float32 bits", () => {
  const cases: [number, number][] = [
    [0x0000, 0],
    [0x3f80, 1],
    [0xbf80, -1],
    [0x4049, 3.140625],
    [0x7f7f, f32FromBits(0x7f7f0000)], // max, 3.3895e38
    [0x0080, 2 ** -126], // smallest normal
    [0x0001, 2 ** -133], // smallest subnormal
    [0x007f, 127 * 2 ** -133], // largest subnormal
    [0x7f80, Number.POSITIVE_INFINITY],
    [0xff80, Number.NEGATIVE_INFINITY],
  ];
  for (const [bits, value] of cases) assert.equal(bf16(bits), value, hex(bits));
  assert.ok(Object.is(bf16(0x8000), -0));
  assert.ok(Number.isNaN(bf16(0x7fc0)) && Number.isNaN(bf16(0xffc1)));
  assert.ok(bf16(0x7f7f) > 3.38e38 && bf16(0x7f7f) < 3.4e38);
});

test("F32 -> F16 rounds to nearest, ties to even, at every regime", () => {
  const cases: [number, number, string][] = [
    [1, 0x3c00, "one"],
    [-2, 0xc000, "minus two"],
    [65504, 0x7bff, "max"],
    [65519, 0x7bff, "just below the overflow tie stays at max"],
    [65520, 0x7c00, "the tie above max rounds (to even) to infinity"],
    [1e6, 0x7c00, "overflow"],
    [-1e6, 0xfc00, "negative overflow"],
    [Number.POSITIVE_INFINITY, 0x7c00, "inf"],
    [Number.NEGATIVE_INFINITY, 0xfc00, "-inf"],
    [1 + 2 ** -11, 0x3c00, "tie between 1 and 1+2^-10 goes to even (1)"],
    [1 + 3 * 2 ** -11, 0x3c02, "tie between odd 0x3c01 and even 0x3c02 goes up"],
    [1 + 2 ** -11 + 2 ** -20, 0x3c01, "just above the tie rounds up"],
    [1 + 2 ** -11 - 2 ** -20, 0x3c00, "just below the tie rounds down"],
    [2047.5, 0x6800, "2047.5 ties 2047 (odd 0x67ff) and 2048 (even): rounds to 2048"],
    [Math.fround(0.1), 0x2e66, "0.1"],
    [Math.fround(1 / 3), 0x3555, "one third"],
    [2 ** -14, 0x0400, "smallest normal"],
    [2 ** -14 - 2 ** -25, 0x0400, "rounds up from subnormal into the smallest normal"],
    [2 ** -24, 0x0001, "smallest subnormal"],
    [1023 * 2 ** -24, 0x03ff, "largest subnormal"],
    [1.5 * 2 ** -24, 0x0002, "subnormal tie 1.5 goes to even 2"],
    [2.5 * 2 ** -24, 0x0002, "subnormal tie 2.5 goes to even 2"],
    [2 ** -25, 0x0000, "half the smallest subnormal ties to zero"],
    [2 ** -25 + 2 ** -40, 0x0001, "just above half the smallest subnormal"],
    [-(2 ** -25 + 2 ** -40), 0x8001, "negative tiny"],
    [2 ** -26, 0x0000, "underflow"],
    [Math.fround(1e-30), 0x0000, "deep underflow"],
    [f32FromBits(1), 0x0000, "float32 subnormal"],
  ];
  for (const [value, bits, what] of cases) {
    const v = Math.fround(value);
    assert.equal(v, value, `${what}: test input must be a float32`);
    assert.equal(hex(f32ToF16Bits(v)), hex(bits), `${what} (${value})`);
  }
  assert.equal(f32ToF16Bits(-0), 0x8000);
  assert.equal(f32ToF16Bits(0), 0x0000);
  const nan = f32ToF16Bits(Number.NaN);
  assert.ok((nan & 0x7c00) === 0x7c00 && (nan & 0x3ff) !== 0, `NaN stays NaN (${hex(nan)})`);
  assert.ok(
    (f32ToF16Bits(f32FromBits(0x7f800001)) & 0x3ff) !== 0,
    "a NaN with a low payload does not become inf",
  );
});

test("F32 -> F16 agrees with rounding the exact value for every half-way neighbourhood", () => {
  // for each f16 value h below max, probe float32s around the midpoint to h+1
  for (let h = 0x0000; h < 0x7bff; h += 7) {
    const lo = f16(h);
    const hi = f16(h + 1);
    const mid = (lo + hi) / 2;
    const below = Math.fround(mid - (hi - lo) / 8);
    const above = Math.fround(mid + (hi - lo) / 8);
    assert.equal(f32ToF16Bits(below), h, `below the midpoint of ${hex(h)}..${hex(h + 1)}`);
    assert.equal(f32ToF16Bits(above), h + 1, `above the midpoint of ${hex(h)}..${hex(h + 1)}`);
    assert.equal(f32ToF16Bits(mid), h % 2 === 0 ? h : h + 1, `at the midpoint of ${hex(h)}..${hex(h + 1)}`);
  }
});

test("bytesToF32 decodes every dtype from little-endian bytes, at odd offsets too", () => {
  const bytes = (view: ArrayBufferView) => {
    // copy behind one padding byte so the view is unaligned
    const src = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    const padded = new Uint8Array(src.length + 1);
    padded.set(src, 1);
    return padded.subarray(1);
  };
  const same = (dtype: Parameters<typeof bytesToF32>[0], view: ArrayBufferView, expected: number[]) =>
    assert.deepEqual(Array.from(bytesToF32(dtype, bytes(view))), expected, dtype);
  same("F32", Float32Array.of(1.5, -2), [1.5, -2]);
  same("F64", Float64Array.of(0.1, -3), [Math.fround(0.1), -3]);
  same("F16", Uint16Array.of(0x3c00, 0xc000, 0x0001), [1, -2, 2 ** -24]);
  same("BF16", Uint16Array.of(0x3f80, 0xc040), [1, -3]);
  same("I64", BigInt64Array.of(49407n, -2n), [49407, -2]);
  same("I32", Int32Array.of(-7, 2 ** 30), [-7, 2 ** 30]);
  same("I16", Int16Array.of(-32768, 5), [-32768, 5]);
  same("I8", Int8Array.of(-128, 127), [-128, 127]);
  same("U8", Uint8Array.of(0, 255), [0, 255]);
  same("BOOL", Uint8Array.of(1, 0), [1, 0]);
  assert.ok(isDtype("F16") && !isDtype("f16") && !isDtype("toString"));
  assert.equal(DTYPE_SIZES.BF16, 2);
});
