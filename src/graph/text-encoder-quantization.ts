/**
 * Which text encoder layers run in int8 (see int8-layers.ts for how):
 * - "none": everything float32 (the reference numerics).
 * - "int8": the linears of every transformer layer (q/k/v/out projections, MLP fc1/fc2), all but a
 *   sliver of CLIP's FLOPs. The embeddings and LayerNorms stay float32.
 */
import type { Int8Policy } from "./int8-layers.js";

export const TEXT_ENCODER_QUANTIZATIONS = ["none", "int8"] as const;
export type TextEncoderQuantization = (typeof TEXT_ENCODER_QUANTIZATIONS)[number];

function isTransformerLinear(key: string): boolean {
  return key.includes(".encoder.layers.");
}

export function textEncoderInt8Policy(
  quantization: TextEncoderQuantization = "none",
  weightBits: 7 | 8 = 8,
): Int8Policy | undefined {
  switch (quantization) {
    case "none":
      return undefined;
    case "int8":
      return { linear: isTransformerLinear, conv: () => false, weightBits };
    default:
      throw new Error(
        `unknown text encoder quantization "${quantization}" (expected ${TEXT_ENCODER_QUANTIZATIONS.join(", ")})`,
      );
  }
}
