/**
 * Token downsampling (ToDo, Smith et al. 2024, arXiv 2402.13573) as an ONNX subgraph: a
 * self-attention keeps its queries at full resolution but takes its keys and values from the
 * block's normed tokens downsampled as an image, so the scores shrink by the square of the factor
 * and to_k/to_v run on fewer tokens. Neighbouring latent tokens are nearly equal, so the keys lose
 * little (the paper's point against ToMe: no similarity search, no merge/unmerge).
 *
 * The downsampling is what the reference implementations do (ethansmith2000's ImprovedTokenMerge,
 * the A1111 extension): torch `F.interpolate(x, size=(int(h / f), int(w / f)), mode="nearest-exact")`
 * on the [B, C, h, w] image of the tokens. nearest-exact reads source index
 * min(floor((dst + 0.5) · in/out), in − 1), which is ONNX Resize's nearest with half_pixel
 * coordinates rounded half up (round_prefer_ceil): round((dst + 0.5) · in/out − 0.5) clamped.
 * `nearestExactIndex` is that rule in plain TypeScript (the tests hold the graph's Resize to it).
 */
import type { GraphBuilder } from "./graph-builder.js";

const INT64 = 7;
const DOUBLE = 11;

/** ONNX Resize attributes equal to torch's interpolate(mode="nearest-exact"). */
export const NEAREST_EXACT_LIKE_TORCH = {
  mode: "nearest",
  coordinate_transformation_mode: "half_pixel",
  nearest_mode: "round_prefer_ceil",
} as const;

/**
 * torch's nearest-exact source index for output index `dst` when resizing `inSize` → `outSize`,
 * as its CPU kernel computes it: scale = in/out in float32, floorf((dst + 0.5) · scale), clamped.
 */
export function nearestExactIndex(dst: number, inSize: number, outSize: number): number {
  const f = Math.fround;
  const scale = f(inSize / outSize);
  return Math.min(Math.floor(f(f(dst + 0.5) * scale)), inSize - 1);
}

/** ToDo's downsampled grid side: int(side / factor) as the reference computes it, at least 1. */
export function downsampledSide(side: number, factor: number): number {
  return Math.max(1, Math.floor(side / factor));
}

/**
 * Tokens `x` [B, h·w, C] laid out row-major on a `height` × `width` grid (int64 [1] tensors),
 * resized nearest-exact to floor(h / factor) × floor(w / factor) (at least 1 × 1, where torch
 * would fail on an empty size): [B, h'·w', C]. Works on the token layout itself ([B, h, w, C]), so
 * no transposes. `factor` ≥ 1; 1 returns `x`.
 */
export function downsampleTokens(
  b: GraphBuilder,
  x: string,
  height: string,
  width: string,
  factor: number,
): string {
  if (!(factor >= 1) || !Number.isFinite(factor))
    throw new Error(`ToDo factor ${factor} is not a number ≥ 1`);
  if (factor === 1) return x;
  const i64 = (values: number[]) => b.constInt64(values);
  const shape = b.node("Shape", [x]);
  const batch = b.node("Slice", [shape, i64([0]), i64([1])]);
  const channels = b.node("Slice", [shape, i64([2]), i64([3])]);
  // int(side / factor) in float64, like Python's
  const side = (v: string) =>
    b.node("Max", [
      b.node(
        "Cast",
        [b.node("Floor", [b.node("Div", [b.node("Cast", [v], { to: DOUBLE }), b.constFloat64([factor])])])],
        {
          to: INT64,
        },
      ),
      i64([1]),
    ]);
  const grid = b.node("Reshape", [x, b.node("Concat", [batch, height, width, channels], { axis: 0 })]);
  const sizes = b.node("Concat", [batch, side(height), side(width), channels], { axis: 0 });
  const resized = b.node("Resize", [grid, "", "", sizes], NEAREST_EXACT_LIKE_TORCH);
  return b.node("Reshape", [resized, b.node("Concat", [batch, i64([-1]), channels], { axis: 0 })]);
}
