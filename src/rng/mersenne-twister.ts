/**
 * MT19937, the 32-bit Mersenne Twister that backs torch's CPU generator (`at::mt19937`).
 * Standard `init_genrand` seeding and tempering; one 624-word state refilled in bulk.
 */

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

export class MersenneTwister19937 {
  private readonly state = new Uint32Array(N);
  private index = N;

  /** `seed32` is taken modulo 2^32, as `init_genrand` does with a uint32 argument. */
  constructor(seed32: number) {
    const mt = this.state;
    mt[0] = seed32 >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      // 1812433253 * prev + i modulo 2^32; Math.imul keeps the product exact in 32 bits
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  /** Next 32-bit output as an unsigned number in [0, 2^32). */
  nextUint32(): number {
    if (this.index >= N) this.twist();
    let y = this.state[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const mt = this.state;
    for (let i = 0; i < N; i++) {
      const y = (mt[i] & UPPER_MASK) | (mt[(i + 1) % N] & LOWER_MASK);
      mt[i] = mt[(i + M) % N] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    this.index = 0;
  }
}
