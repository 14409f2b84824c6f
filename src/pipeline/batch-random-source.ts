/**
 * One generator per image (seed, seed+1, …) as AUTOMATIC1111 does, so image i of a batch equals
 * a single-image run with seed+i. A draw of shape [n, …] takes [1, …] from each image's generator.
 */
import type { RandomSource } from "../rng/random-source.js";

export class BatchRandomSource implements RandomSource {
  constructor(private readonly sources: readonly RandomSource[]) {}

  randn(shape: readonly number[]): Float32Array {
    const n = this.sources.length;
    if (shape[0] !== n) throw new RangeError(`batch draw of shape [${shape}] for ${n} generators`);
    const item = [1, ...shape.slice(1)];
    const size = item.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n * size);
    this.sources.forEach((source, i) => {
      out.set(source.randn(item), i * size);
    });
    return out;
  }
}
