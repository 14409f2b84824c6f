/**
 * torch's pixel_shuffle / pixel_unshuffle as ONNX subgraphs on NCHW.
 *
 * pixel_shuffle: out[c, h·r+i, w·r+j] = in[c·r²+i·r+j, h, w] — exactly DepthToSpace in "CRD" mode
 * (reshape to [N, C, r, r, H, W], transpose to [N, C, H, r, W, r]); the default "DCR" mode reads
 * channel (i·r+j)·C+c instead.
 * pixel_unshuffle (BasicSR's, used by RealESRGAN_x2plus): out[c·r²+i·r+j, h, w] = in[c, h·r+i, w·r+j].
 * SpaceToDepth has only the DCR order ((i·r+j)·C+c), so this is Reshape → Transpose → Reshape, as
 * BasicSR writes it: view(b, c, h, r, w, r).permute(0, 1, 3, 5, 2, 4).
 */
import type { GraphBuilder } from "../graph/graph-builder.js";

export function pixelShuffle(b: GraphBuilder, x: string, factor: number): string {
  return b.node("DepthToSpace", [x], { blocksize: factor, mode: "CRD" });
}

/** `channels` is the input's channel count (static), H and W must be multiples of `factor`. */
export function pixelUnshuffle(b: GraphBuilder, x: string, channels: number, factor: number): string {
  const spatial = b.node("Slice", [b.node("Shape", [x]), b.constInt64([2]), b.constInt64([4])]);
  const reduced = b.node("Div", [spatial, b.constInt64([factor, factor])]);
  const [h, w] = b.nodeOutputs("Split", [reduced, b.constInt64([1, 1])], { axis: 0 }, { outputCount: 2 });
  const r = b.constInt64([factor]);
  // [N, C, H/r, r, W/r, r]; Reshape's 0 copies N and C from the input
  const split = b.node("Concat", [b.constInt64([0, 0]), h, r, w, r], { axis: 0 });
  const blocks = b.node("Transpose", [b.node("Reshape", [x, split])], { perm: [0, 1, 3, 5, 2, 4] });
  const merged = b.node("Concat", [b.constInt64([0, channels * factor * factor]), h, w], { axis: 0 });
  return b.node("Reshape", [blocks, merged]);
}
