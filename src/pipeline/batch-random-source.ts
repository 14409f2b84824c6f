/**
 * One generator per image (seed, seed+1, …) as AUTOMATIC1111 does, so image i of a batch equals
 * a single-image run with seed+i. A draw for the whole batch takes an equal share of the elements
 * from each image's generator, in batch order (the generators depend on the element count only).
 */
import type { RandomSource } from "../rng/random-source.js";

export class BatchRandomSource implements RandomSource {
  constructor(private readonly sources: readonly RandomSource[]) {}

  randn(shape: readonly number[]): Float32Array {
    const n = this.sources.length;
    const total = shape.reduce((a, b) => a * b, 1);
    if (n === 1) return this.sources[0].randn(shape);
    if (total % n !== 0) throw new RangeError(`a draw of ${total} values cannot be split over ${n} images`);
    const size = total / n;
    const out = new Float32Array(total);
    this.sources.forEach((source, i) => {
      out.set(source.randn([size]), i * size);
    });
    return out;
  }
}
