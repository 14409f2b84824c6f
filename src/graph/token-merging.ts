/**
 * Token merging for Stable Diffusion (ToMe for SD, Bolya & Hoffman 2023) as ONNX subgraphs: before a
 * self-attention, the tokens most similar to another are averaged into it, so the attention (whose
 * cost grows with the square of the token count) runs on fewer tokens; after it, every token takes
 * the output of the token it was merged into.
 *
 * The plan follows tomesd's bipartite soft matching with sx = sy = 2 and its deterministic variant
 * (`use_rand=False`): in every 2×2 cell of the latent grid the top-left token is a destination, the
 * other three are sources. Each source's best destination is the one of highest cosine similarity
 * on the block's input; the r = floor(N·ratio) sources with the highest best similarity (capped at
 * the number of sources) merge into their destinations (mean, the destination included), the rest
 * stay. Everything is computed in the graph from the tensor shapes, so one graph serves every size.
 *
 * All of it reduces to one index per token, `positions` [B, N]: the token's row in the merged
 * sequence (unmerged sources first, in descending similarity, then the destinations). Merging is a
 * ScatterElements(add) by it divided by the counts, unmerging a GatherElements by it.
 */
import type { GraphBuilder } from "./graph-builder.js";

export interface TokenMerge {
  /** [B, N, C] → [B, N − r, C]: merged tokens are the mean of their members. */
  merge(x: string): string;
  /** [B, N − r, C] → [B, N, C]: each token takes its merged row. */
  unmerge(x: string): string;
  /** [B, N] int64: each token's row in the merged sequence. */
  readonly positions: string;
}

const INT64 = 7;
const DOUBLE = 11;

/**
 * The merge plan for tokens `x` [B, N, C] laid out row-major on a `height` × `width` grid (int64 [1]
 * tensors), merging floor(N·ratio) of them. `ratio` in [0, 1).
 */
export function tokenMerging(
  b: GraphBuilder,
  x: string,
  height: string,
  width: string,
  ratio: number,
): TokenMerge {
  if (!(ratio >= 0 && ratio < 1)) throw new Error(`token merging ratio ${ratio} is not in [0, 1)`);
  const i64 = (values: number[]) => b.constInt64(values);
  const scalar = (v: string) => b.node("Squeeze", [v, i64([0])]);
  const range = (start: string, end: string) =>
    b.node("Range", [scalar(start), scalar(end), b.node("Squeeze", [i64([1]), i64([0])])]);
  const fill = (shape: string, value: number, elementType: "int64" | "float32") =>
    b.node("ConstantOfShape", [shape], {
      value: {
        tensor: {
          elementType,
          dims: [1],
          data: elementType === "int64" ? BigInt64Array.of(BigInt(value)) : Float32Array.of(value),
        },
      },
    });

  const shape = b.node("Shape", [x]);
  const batch = b.node("Slice", [shape, i64([0]), i64([1])]);
  const tokens = b.node("Slice", [shape, i64([1]), i64([2])]);
  const channels = b.node("Slice", [shape, i64([2]), i64([3])]);

  // destinations: the top-left token of every whole 2×2 cell (rows 2i, columns 2j)
  const two = i64([2]);
  const cellRows = range(i64([0]), b.node("Div", [height, two]));
  const cellCols = range(i64([0]), b.node("Div", [width, two]));
  const rowStarts = b.node("Mul", [cellRows, b.node("Mul", [width, two])]);
  const dst = b.node("Reshape", [
    b.node("Add", [
      b.node("Unsqueeze", [rowStarts, i64([1])]),
      b.node("Unsqueeze", [b.node("Mul", [cellCols, two]), i64([0])]),
    ]),
    i64([-1]),
  ]);
  const dstCount = b.node("Shape", [dst]);
  const isDst = b.node("ScatterElements", [fill(tokens, 0, "int64"), dst, fill(dstCount, 1, "int64")], {
    axis: 0,
  });
  // sources: every other token, in ascending order
  const src = b.node("Reshape", [b.node("NonZero", [b.node("Equal", [isDst, i64([0])])]), i64([-1])]);
  const srcCount = b.node("Shape", [src]);

  // cosine similarity of every source with every destination, on the block's input
  const unit = b.node("Div", [x, b.node("ReduceL2", [x], { axes: [-1], keepdims: 1 })]);
  const scores = b.node("MatMul", [
    b.node("Gather", [unit, src], { axis: 1 }),
    b.node("Transpose", [b.node("Gather", [unit, dst], { axis: 1 })], { perm: [0, 2, 1] }),
  ]);
  const best = b.node("ReduceMax", [scores], { axes: [2], keepdims: 0 });
  const bestDst = b.node("ArgMax", [scores], { axis: 2, keepdims: 0 });

  // r = min(floor(N · ratio), sources), in float64 like Python's int(N * ratio)
  const scaled = b.node("Mul", [b.node("Cast", [tokens], { to: DOUBLE }), b.constFloat64([ratio])]);
  const r = b.node("Min", [b.node("Cast", [b.node("Floor", [scaled])], { to: INT64 }), srcCount]);
  const kept = b.node("Sub", [srcCount, r]);

  // sources by descending similarity: the first r merge, the others stay
  const [, order] = b.nodeOutputs(
    "TopK",
    [best, srcCount],
    { axis: 1, largest: 1, sorted: 1 },
    {
      outputCount: 2,
    },
  );
  const end = i64([Number.MAX_SAFE_INTEGER]);
  const mergedRank = b.node("Slice", [order, i64([0]), r, i64([1])]);
  const keptRank = b.node("Slice", [order, r, end, i64([1])]);
  const keptTokens = b.node("Gather", [src, keptRank]);
  const mergedTokens = b.node("Gather", [src, mergedRank]);
  const mergedInto = b.node("GatherElements", [bestDst, mergedRank], { axis: 1 });

  const byBatch = (v: string, count: string) =>
    b.node("Expand", [b.node("Unsqueeze", [v, i64([0])]), b.node("Concat", [batch, count], { axis: 0 })]);
  const indices = b.node("Concat", [keptTokens, byBatch(dst, dstCount), mergedTokens], { axis: 1 });
  const rows = b.node(
    "Concat",
    [
      byBatch(range(i64([0]), kept), kept),
      byBatch(b.node("Add", [range(i64([0]), dstCount), kept]), dstCount),
      b.node("Add", [mergedInto, kept]),
    ],
    { axis: 1 },
  );
  const batchTokens = b.node("Concat", [batch, tokens], { axis: 0 });
  const positions = b.node("ScatterElements", [fill(batchTokens, 0, "int64"), indices, rows], { axis: 1 });

  const mergedCount = b.node("Sub", [tokens, r]);
  const positions3 = b.node("Unsqueeze", [positions, i64([2])]);
  const perChannel = b.node("Expand", [positions3, shape]);
  const one = i64([1]);
  const counts = b.node(
    "ScatterElements",
    [
      fill(b.node("Concat", [batch, mergedCount, one], { axis: 0 }), 0, "float32"),
      positions3,
      fill(b.node("Concat", [batchTokens, one], { axis: 0 }), 1, "float32"),
    ],
    { axis: 1, reduction: "add" },
  );
  return {
    positions,
    merge: (v) => {
      const sums = b.node(
        "ScatterElements",
        [fill(b.node("Concat", [batch, mergedCount, channels], { axis: 0 }), 0, "float32"), perChannel, v],
        { axis: 1, reduction: "add" },
      );
      return b.node("Div", [sums, counts]);
    },
    unmerge: (v) => b.node("GatherElements", [v, perChannel], { axis: 1 }),
  };
}
