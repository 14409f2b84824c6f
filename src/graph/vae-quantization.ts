/**
 * Which VAE decoder layers run in int8 (see int8-layers.ts for how):
 * - "none": everything float32 (the reference numerics).
 * - "int8": every convolution of the decoder's mid and up blocks (resnet convs, 1x1 shortcuts,
 *   upsampler convs), nearly all of the decode's FLOPs. post_quant_conv, conv_in and conv_out see
 *   the 4-channel latents or write the 3 image channels directly and cost little, and the mid
 *   block's single attention runs once at the lowest resolution: they stay float32.
 * The encoder is never quantized (img2img's latents stay exact).
 */
import type { Int8Policy } from "./int8-layers.js";

export const VAE_QUANTIZATIONS = ["none", "int8"] as const;
export type VaeQuantization = (typeof VAE_QUANTIZATIONS)[number];

function isDecoderBlockConv(key: string): boolean {
  return key.startsWith("decoder.mid_block.") || key.startsWith("decoder.up_blocks.");
}

export function vaeDecoderInt8Policy(
  quantization: VaeQuantization = "none",
  weightBits: 7 | 8 = 8,
): Int8Policy | undefined {
  switch (quantization) {
    case "none":
      return undefined;
    case "int8":
      return { linear: () => false, conv: isDecoderBlockConv, weightBits };
    default:
      throw new Error(
        `unknown VAE quantization "${quantization}" (expected ${VAE_QUANTIZATIONS.join(", ")})`,
      );
  }
}
