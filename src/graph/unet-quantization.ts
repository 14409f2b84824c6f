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

/**
 * The layout fusions an "int8" UNet is built with (int8-layers.ts INT8_FUSIONS; the same outputs, bit
 * for bit): proj_in/proj_out on the tokens, GEGLU as two products without the float Split, each 3x3
 * conv's im2col as one Gather. With ToDo, full size, 2 cores: 1.11x the step with AMX, 1.05x on
 * AVX-512 VNNI; whole server images 4–7 % faster, and a fresh `generate --fast` reaches its first
 * step 0.2–0.3 s sooner (fewer nodes: its session is created faster). docs/benchmarks.md "Session 12:
 * the int8 layout fusions". "self-qkv" stays out: its float Split costs about what it saves.
 */
export const UNET_INT8_FUSIONS: readonly Int8Fusion[] = [
  "token-projections",
  "geglu-halves",
  "gather-im2col",
];

/**
 * The UNet graph options (and cache-key part) that pick the layout fusions for this quantization:
 * UNET_INT8_FUSIONS for "int8", none otherwise (so other graphs keep their keys). The engine and the
 * profiler both build from this, so the profile counts the graph that runs.
 */
export function int8FusionOptions(quantization: UNetQuantization): { int8Fusions?: readonly Int8Fusion[] } {
  return quantization === "int8" ? { int8Fusions: UNET_INT8_FUSIONS } : {};
}

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
