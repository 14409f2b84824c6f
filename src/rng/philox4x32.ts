/**
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"), the counter-based
 * generator behind torch's CUDA randn. Pure 32-bit integer arithmetic on plain numbers.
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two uint32s, with every intermediate exact in a double. */
export function mulHi32(a: number, b: number): number {
  const low = a * (b & 0xffff); // < 2^48
  const high = a * (b >>> 16) + Math.floor(low / 65536); // < 2^49
  return Math.floor(high / 65536) >>> 0;
}

/**
 * Ten Philox rounds of the counter (c0, c1, c2, c3) under the key (k0, k1), written to `out`.
 * All inputs are uint32 values.
 */
export function philox4x32(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
): void {
  for (let round = 0; round < 10; round++) {
    const hi0 = mulHi32(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulHi32(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}
