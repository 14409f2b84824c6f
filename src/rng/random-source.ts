/** The seam between samplers/pipelines and a concrete generator (torch CPU or Philox "NV"). */
export interface RandomSource {
  /** Standard normal samples for a tensor of this shape; successive calls continue the stream. */
  randn(shape: readonly number[]): Float32Array;
}
