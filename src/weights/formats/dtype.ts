/** safetensors dtypes and conversions to float32. */

export const DTYPE_SIZES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
} as const;

export type Dtype = keyof typeof DTYPE_SIZES;

export function isDtype(value: unknown): value is Dtype {
  return typeof value === "string" && Object.hasOwn(DTYPE_SIZES, value);
}

let f16Table: Float32Array | undefined;

/** All 65536 half-precision values, built once: conversion is then one table lookup per element. */
function halfToFloatTable(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) table[h] = sign * frac * 2 ** -24;
    else if (exp === 31) table[h] = frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
    else table[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  f16Table = table;
  return table;
}

export function f16ToF32(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  const table = halfToFloatTable();
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
  return out;
}

export function bf16ToF32(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** Round-to-nearest-even float32 -> float16 bits (as numpy/torch do). */
export function f32ToF16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  // a carry out of the mantissa correctly bumps the exponent (up to infinity)
  return sign | h;
}

export function f32ToF16(src: Float32Array, out = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) out[i] = f32ToF16Bits(src[i]);
  return out;
}

/** Converts raw little-endian bytes of any numeric dtype to float32 (BOOL as 0/1, I64 through Number). */
export function bytesToF32(dtype: Dtype, bytes: Uint8Array): Float32Array {
  const n = bytes.byteLength / DTYPE_SIZES[dtype];
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  const buf = aligned.buffer;
  const off = aligned.byteOffset;
  switch (dtype) {
    case "F32":
      return new Float32Array(buf.slice(off, off + n * 4));
    case "F16":
      return f16ToF32(new Uint16Array(buf, off, n));
    case "BF16":
      return bf16ToF32(new Uint16Array(buf, off, n));
    case "F64":
      return Float32Array.from(new Float64Array(buf, off, n));
    case "I64":
      return Float32Array.from(new BigInt64Array(buf, off, n), (v) => Number(v));
    case "I32":
      return Float32Array.from(new Int32Array(buf, off, n));
    case "I16":
      return Float32Array.from(new Int16Array(buf, off, n));
    case "I8":
      return Float32Array.from(new Int8Array(buf, off, n));
    case "U8":
    case "BOOL":
      return Float32Array.from(aligned.subarray(0, n));
  }
}
