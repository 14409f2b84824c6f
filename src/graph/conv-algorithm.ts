/**
 * How a graph computes its stride-1 3x3 convolutions (the UNet's bulk of multiply-adds): onnxruntime's
 * Conv ("direct", exact default) or Winograd in the graph (winograd-conv.ts). "winograd-f4" uses
 * F(4×4, 3×3) where the kernel has at most F4_MAX_WEIGHTS weights (its transformed weights take 4x the
 * direct kernel's bytes) and F(2×2, 3×3) (16/9x) elsewhere.
 */
import type { WinogradTile } from "./winograd-conv.js";

export type ConvAlgorithm = "direct" | "winograd-f2" | "winograd-f4";
export const CONV_ALGORITHMS: readonly ConvAlgorithm[] = ["direct", "winograd-f2", "winograd-f4"];

/** SD1.5's 320- and 640-channel 3x3 convs (up to 960→640 in the up blocks); not the 1280-channel ones. */
const F4_MAX_WEIGHTS = 960 * 640 * 9;

/** The Winograd tile for a conv of weight shape [K, C, kh, kw] at `stride`, or undefined for a direct Conv. */
export function winogradTileFor(
  algorithm: ConvAlgorithm | undefined,
  weightDims: readonly number[],
  stride: number,
  padding: number,
): WinogradTile | undefined {
  if (!algorithm || algorithm === "direct") return undefined;
  const [k, c, kh, kw] = weightDims;
  if (kh !== 3 || kw !== 3 || stride !== 1 || padding !== 1) return undefined;
  if (algorithm === "winograd-f4" && k * c * 9 <= F4_MAX_WEIGHTS) return 4;
  return 2;
}
