/** Seeds as users give them: JS numbers (safe integers) or bigints, normalised to torch's uint64. */

export type Seed = number | bigint;

const TWO_POW_63 = 1n << 63n;
const TWO_POW_64 = 1n << 64n;

/**
 * The seed as the unsigned 64-bit value torch's `manual_seed` stores: negative seeds wrap
 * (two's complement), as torch does for Python ints in [-2^63, 2^64).
 */
export function seedToUint64(seed: Seed): bigint {
  let value: bigint;
  if (typeof seed === "bigint") {
    value = seed;
  } else {
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(
        `seed ${seed} is not a safe integer; pass seeds above 2^53 as a bigint so no bits are lost`,
      );
    }
    value = BigInt(seed);
  }
  if (value < -TWO_POW_63 || value >= TWO_POW_64) {
    throw new RangeError(`seed ${value} is outside [-2^63, 2^64)`);
  }
  return BigInt.asUintN(64, value);
}
