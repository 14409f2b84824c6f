/**
 * The tensor list of one network component, generated from its architecture config: every tensor's
 * canonical (diffusers/transformers) name and shape, and the name and shape it has in the original
 * LDM single-file layout. Loaders use it to rename and to validate; the random-checkpoint
 * generator uses it to know what to write, so the two can never disagree.
 */

export interface TensorMapping {
  /** diffusers/transformers name, e.g. "down_blocks.0.resnets.0.conv1.weight". */
  readonly canonical: string;
  readonly shape: readonly number[];
  /** LDM name without the component prefix, e.g. "input_blocks.1.0.in_layers.2.weight". */
  readonly ldm: string;
  /**
   * Same element count and order as `shape` (differs only for the VAE attention 1x1 conv kernels),
   * or, with `part`, the shape of the whole stored tensor the canonical one is cut from.
   */
  readonly ldmShape: readonly number[];
  /**
   * The canonical tensor is the `index`-th of `count` equal slices along axis 0 of the stored one
   * (OpenCLIP's fused `in_proj_weight` holds q, k and v). Absent for one-to-one tensors.
   */
  readonly part?: { readonly index: number; readonly count: number };
}

/** Collects mappings layer by layer while a generator walks the block structure. */
export class TensorMappingBuilder {
  readonly mappings: TensorMapping[] = [];

  add(canonical: string, ldm: string, shape: readonly number[], ldmShape: readonly number[] = shape): void {
    this.mappings.push({ canonical, shape: [...shape], ldm, ldmShape: [...ldmShape] });
  }

  /** Canonical tensors that are equal slices (axis 0) of one stored tensor, in storage order. */
  slices(canonicals: readonly string[], ldm: string, shape: readonly number[]): void {
    const count = canonicals.length;
    const ldmShape = [shape[0] * count, ...shape.slice(1)];
    canonicals.forEach((canonical, index) => {
      this.mappings.push({ canonical, shape: [...shape], ldm, ldmShape, part: { index, count } });
    });
  }

  /** weight + bias of a layer whose leaf names are the same in both layouts. */
  layer(canonical: string, ldm: string, weightShape: readonly number[], bias = true): void {
    this.add(`${canonical}.weight`, `${ldm}.weight`, weightShape);
    if (bias) this.add(`${canonical}.bias`, `${ldm}.bias`, [weightShape[0]]);
  }

  /** A GroupNorm/LayerNorm affine pair over `channels`. */
  norm(canonical: string, ldm: string, channels: number): void {
    this.add(`${canonical}.weight`, `${ldm}.weight`, [channels]);
    this.add(`${canonical}.bias`, `${ldm}.bias`, [channels]);
  }
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}
