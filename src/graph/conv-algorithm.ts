/**
 * How a graph computes its stride-1 3x3 convolutions (the UNet's bulk of multiply-adds): onnxruntime's
 * Conv ("direct", exact default) or Winograd in the graph (winograd-conv.ts):
 * - "winograd-f2": F(2×2, 3×3) everywhere (transformed weights 16/9 the direct kernel's bytes: +1.6 GB
 *   of float32 for SD1.5's UNet);
 * - "winograd-f4": F(4×4, 3×3) where the kernel has at most F4_MAX_WEIGHTS weights (4x the bytes; the
 *   320/640-channel convs) and F(2×2, 3×3) elsewhere (+2.0 GB for SD1.5);
 * - "winograd-f4-light": F(4×4, 3×3) on those small kernels only, the 1280-channel convs direct (+0.55 GB);
 * - "winograd-f4-shallow": "winograd-f4" except at the UNet's deepest level (8x8 latents at 512 px),
 *   where the convs stay direct: that level holds half of SD1.5's 3x3 conv weights (251 M of 522 M)
 *   but does 8 % of their multiply-adds, so its transformed weights cost 0.78 GB for little time
 *   (+1.25 GB for SD1.5 in all);
 * - "winograd-f4-wide": "winograd-f4" on convs with at least WIDE_MIN_CHANNELS input and output
 *   channels below the image's full resolution, all other convs direct. In the graph, Winograd's
 *   layout work (input-transform Conv, Transpose, DepthToSpace, Slice) grows with C·H·W and its MatMul
 *   with K·C·H·W, so on narrow convs the layout work outweighs the saved multiply-adds: one 512x512
 *   conv took 0.66x (64 channels, TAESD) and 0.84x (128, the VAE's last level) the direct conv's
 *   time, 1.5x at 256 and 2-2.75x at 512 channels. At full resolution (the VAE's layers at the
 *   image's size, LayerContext.fullResolution) its intermediates, 2.25x the activation each, are the
 *   largest of the network: the 512x512 VAE decode peaked at 3.9 GB with F4 everywhere against 1.5 GB
 *   direct (docs/benchmarks.md, "Winograd in the image decoders"). The UNet has no full-resolution
 *   layers and only wide convs (320+), so there it is "winograd-f4".
 */
import type { WinogradTile } from "./winograd-conv.js";

export type ConvAlgorithm =
  | "direct"
  | "winograd-f2"
  | "winograd-f4"
  | "winograd-f4-light"
  | "winograd-f4-shallow"
  | "winograd-f4-wide";
export const CONV_ALGORITHMS: readonly ConvAlgorithm[] = [
  "direct",
  "winograd-f2",
  "winograd-f4",
  "winograd-f4-light",
  "winograd-f4-shallow",
  "winograd-f4-wide",
];

/** "winograd-f4-wide" takes Winograd from this many input and output channels (see above). */
export const WIDE_MIN_CHANNELS = 256;

/** SD1.5's 320- and 640-channel 3x3 convs (up to 960→640 in the up blocks); not the 1280-channel ones. */
const F4_MAX_WEIGHTS = 960 * 640 * 9;

/**
 * The Winograd tile for a conv of weight shape [K, C, kh, kw] at `stride`, or undefined for a direct
 * Conv; `deepest`: the conv runs at the network's lowest resolution (LayerContext.deepestLevel);
 * `fullResolution`: at the image's own size (LayerContext.fullResolution).
 */
export function winogradTileFor(
  algorithm: ConvAlgorithm | undefined,
  weightDims: readonly number[],
  stride: number,
  padding: number,
  deepest = false,
  fullResolution = false,
): WinogradTile | undefined {
  if (!algorithm || algorithm === "direct") return undefined;
  if (algorithm === "winograd-f4-shallow" && deepest) return undefined;
  if (algorithm === "winograd-f4-wide" && fullResolution) return undefined;
  const [k, c, kh, kw] = weightDims;
  if (kh !== 3 || kw !== 3 || stride !== 1 || padding !== 1) return undefined;
  if (algorithm === "winograd-f4-wide" && Math.min(k, c) < WIDE_MIN_CHANNELS) return undefined;
  const small = k * c * 9 <= F4_MAX_WEIGHTS;
  if (algorithm === "winograd-f2") return 2;
  if (small) return 4;
  return algorithm === "winograd-f4-light" ? undefined : 2;
}
