/**
 * The seam between checkpoint loading and graph building: float32 tensors under the canonical
 * diffusers/transformers names (e.g. "down_blocks.0.attentions.0.proj_in.weight"), per component.
 * Loaders map every format (single file, diffusers folder, fp16/bf16) into this name space.
 */
export interface WeightSource {
  names(): string[];
  has(name: string): boolean;
  shape(name: string): readonly number[];
  /** Read on demand so a large model is never fully resident before its graph is built. */
  get(name: string): Float32Array;
}
