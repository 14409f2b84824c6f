/**
 * Which TAESD decoder convs run in int8 (see int8-layers.ts for how):
 * - "none": everything float32 (the reference numerics).
 * - "int8": every 64→64 conv of the decoder (the blocks' 3x3 convs and the convs after each
 *   upsample), nearly all of its ~140 GFLOP at 512x512. The first conv (reads the 4 latent
 *   channels) and the last (writes the 3 image channels directly) cost little and stay float32, so
 *   the latents enter and the pixels leave unquantized.
 * The encoder is never quantized (img2img's latents stay exact).
 */
import type { Int8Policy } from "./int8-layers.js";

export const TAESD_QUANTIZATIONS = ["none", "int8"] as const;
export type TaesdQuantization = (typeof TAESD_QUANTIZATIONS)[number];

/** The decoder's convs past the first, except the last (the one with `lastLayer`'s index). */
function isInnerDecoderConv(key: string, lastLayer: number): boolean {
  const m = /^decoder\.layers\.(\d+)(\.|$)/.exec(key);
  if (!m) return false;
  const layer = Number(m[1]);
  return layer > 0 && layer < lastLayer;
}

/** `lastLayer`: the index of the decoder's last conv (`decoder.layers.N`), which stays float32. */
export function taesdDecoderInt8Policy(
  quantization: TaesdQuantization = "none",
  lastLayer: number,
  weightBits: 7 | 8 = 8,
): Int8Policy | undefined {
  switch (quantization) {
    case "none":
      return undefined;
    case "int8":
      return { linear: () => false, conv: (key) => isInnerDecoderConv(key, lastLayer), weightBits };
    default:
      throw new Error(
        `unknown TAESD quantization "${quantization}" (expected ${TAESD_QUANTIZATIONS.join(", ")})`,
      );
  }
}
