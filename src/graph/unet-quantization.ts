/**
 * Which UNet layers run in int8 (see int8-layers.ts for how):
 * - "none": everything float32 (the reference numerics).
 * - "int8-linear": the transformer linears (attention q/k/v/out, GEGLU feed-forward, and proj_in/out
 *   where the model uses linear projections), about a third of SD1.5's UNet FLOPs.
 * - "int8": those and every convolution except conv_in and conv_out, which see the 4-channel latents
 *   directly and cost little.
 * The time-embedding linears stay float32: they act on one row per image, so int8 saves nothing there.
 */
import type { Int8Fusion, Int8Policy } from "./int8-layers.js";

/** The attention products (q·k^T, probabilities·v) in int8, with matmul attention: "none" or "int8". */
export const ATTENTION_QUANTIZATIONS = ["none", "int8"] as const;
export type AttentionQuantization = (typeof ATTENTION_QUANTIZATIONS)[number];

export const UNET_QUANTIZATIONS = ["none", "int8-linear", "int8"] as const;
export type UNetQuantization = (typeof UNET_QUANTIZATIONS)[number];

function isTransformerLinear(key: string): boolean {
  return key.includes(".transformer_blocks.") || /\.attentions\.\d+\.proj_(in|out)$/.test(key);
}

const FLOAT_CONVS = new Set(["conv_in", "conv_out"]);

export function unetInt8Policy(
  quantization: UNetQuantization = "none",
  weightBits: 7 | 8 = 8,
  fusions: readonly Int8Fusion[] = [],
): Int8Policy | undefined {
  const fuse = new Set(fusions);
  // one per graph build: the gathered im2col's indices, per resolution level
  const im2colWindows = new Map<number, string>();
  switch (quantization) {
    case "none":
      return undefined;
    case "int8-linear":
      return { linear: isTransformerLinear, conv: () => false, weightBits, fusions: fuse, im2colWindows };
    case "int8":
      return {
        linear: isTransformerLinear,
        conv: (key) => !FLOAT_CONVS.has(key),
        weightBits,
        fusions: fuse,
        im2colWindows,
      };
    default:
      throw new Error(
        `unknown UNet quantization "${quantization}" (expected ${UNET_QUANTIZATIONS.join(", ")})`,
      );
  }
}
