/**
 * The op counter on small graphs built with the real layer helpers, one per op kind, against
 * figures worked out by hand (in the comments): MACs, FLOPs, weight bytes, activation bytes read
 * and written, node kinds and the peak of live activations. All tensors float32 (4 bytes).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GraphBuilder } from "../src/graph/graph-builder.js";
import { int8Conv2d, int8Linear } from "../src/graph/int8-layers.js";
import {
  type AttentionKind,
  attention,
  conv2d,
  groupNorm,
  type LayerContext,
  layerNorm,
  linear,
  silu,
  upsampleNearest,
} from "../src/graph/layers.js";
import { countGraph, type NetworkCount, type Totals } from "../src/profile/count-graph.js";
import type { OpKind } from "../src/profile/op-kinds.js";
import type { TensorMapping } from "../src/weights/key-maps/tensor-mapping.js";
import { syntheticWeightSource } from "../src/weights/synthetic-weight-source.js";

function weights(shapes: Record<string, number[]>) {
  const mappings: TensorMapping[] = Object.entries(shapes).map(([canonical, shape]) => ({
    canonical,
    shape,
    ldm: canonical,
    ldmShape: shape,
  }));
  return syntheticWeightSource(mappings);
}

function context(shapes: Record<string, number[]>, attentionKind: AttentionKind = "matmul"): LayerContext {
  return { b: new GraphBuilder("micro"), weights: weights(shapes), attention: attentionKind };
}

/** The kind's totals, with the other kinds empty (nothing is counted twice or elsewhere). */
function only(count: NetworkCount, kind: OpKind): Totals {
  for (const [k, t] of Object.entries(count.byKind)) {
    if (k !== kind) assert.equal(t.nodes, 0, `no ${k} nodes expected, found ${t.nodes}`);
  }
  return count.byKind[kind];
}

describe("op counter on hand-checked graphs", () => {
  it("conv: a padded 3x3 conv with bias, then a stride-2 conv; peak live activations", () => {
    const ctx = context({ "c.weight": [4, 3, 3, 3], "c.bias": [4], "d.weight": [4, 4, 3, 3] });
    const x = ctx.b.input("x", "float32", [1, 3, 8, 8]);
    const y = conv2d(ctx, "d", conv2d(ctx, "c", x), { stride: 2, padding: 1 });
    ctx.b.output(y, "y", "float32");
    const count = countGraph(ctx.b, { x: [1, 3, 8, 8] });
    // c: 4x8x8 = 256 outputs x 3x3x3 = 6912 MACs, 2 FLOPs each + 256 bias adds
    // d: 4x4x4 = 64 outputs x 4x3x3 = 2304 MACs, no bias
    assert.deepEqual(only(count, "conv"), {
      macs: 6912 + 2304,
      flops: 2 * 6912 + 256 + 2 * 2304,
      weightBytes: (108 + 4) * 4 + 144 * 4,
      readBytes: 192 * 4 + 256 * 4,
      writeBytes: 256 * 4 + 64 * 4,
      nodes: 2,
    });
    // while c runs its input (768 B) and output (1024 B) are live; the input dies after c
    assert.equal(count.peakActivationBytes, 768 + 1024);
    assert.equal(count.peakAt, count.nodes[0].name);
    assert.equal(count.parameters, 108 + 4 + 144);
  });

  it("matmul/linear: x @ W^T + b, the transpose folded into the weight, the bias add its epilogue", () => {
    const ctx = context({ "l.weight": [7, 6], "l.bias": [7] });
    const x = ctx.b.input("x", "float32", [1, 5, 6]);
    ctx.b.output(linear(ctx, "l", x), "y", "float32");
    const count = countGraph(ctx.b, { x: [1, 5, 6] });
    // 5 rows x 6 in x 7 out = 210 MACs; 35 bias adds
    assert.deepEqual(only(count, "matmul"), {
      macs: 210,
      flops: 420 + 35,
      weightBytes: (42 + 7) * 4,
      readBytes: 30 * 4 + 35 * 4,
      writeBytes: 35 * 4 + 35 * 4,
      nodes: 2,
    });
  });

  for (const kind of ["matmul", "mha"] as const) {
    it(`attention (${kind} form): QKᵀ and AV over 2 heads, scale and softmax`, () => {
      const ctx = context({}, kind);
      const [q, k, v] = ["q", "k", "v"].map((n) => ctx.b.input(n, "float32", [1, 4, 8]));
      ctx.b.output(attention(ctx, q, k, v, { heads: 2, channels: 8 }), "y", "float32");
      const count = countGraph(ctx.b, { q: [1, 4, 8], k: [1, 4, 8], v: [1, 4, 8] });
      // scores [1, 2, 4, 4] = 32; QKᵀ 32 x 4 (head dim) = 128 MACs, AV 32 outputs x 4 keys = 128;
      // the scale is 1 FLOP per score, the softmax 5
      const t = only(count, "attention");
      assert.equal(t.macs, 256);
      assert.equal(t.flops, 2 * 256 + 32 + 5 * 32);
      if (kind === "mha") {
        assert.deepEqual([t.readBytes, t.writeBytes, t.nodes], [3 * 128, 128, 1]);
      } else {
        // head splits (3 transposes of 128 B), the scores written by QKᵀ, scale and softmax,
        // AV's output and the head merge: every 32-float tensor is 128 B
        assert.equal(t.readBytes, 3 * 128 + 256 + 128 + 128 + 256 + 128);
        assert.equal(t.writeBytes, 3 * 128 + 4 * 128 + 128);
        assert.equal(t.nodes, 8);
      }
    });
  }

  it("norm: GroupNorm as InstanceNormalization plus its affine, and LayerNormalization", () => {
    const ctx = context({ "g.weight": [4], "g.bias": [4], "ln.weight": [4], "ln.bias": [4] });
    const x = ctx.b.input("x", "float32", [1, 4, 2, 2]);
    ctx.b.output(groupNorm(ctx, "g", x, 2, 1e-5), "y", "float32");
    const group = countGraph(ctx.b, { x: [1, 4, 2, 2] });
    // 16 elements: 7 FLOPs each in InstanceNormalization (scale/bias of 2 groups: 16 B), then the
    // per-channel multiply and add (gamma, beta: 16 B each)
    assert.deepEqual(only(group, "norm"), {
      macs: 0,
      flops: 7 * 16 + 16 + 16,
      weightBytes: 16 + 16 + 16,
      readBytes: 3 * 64,
      writeBytes: 3 * 64,
      nodes: 3,
    });

    const c2 = context({ "ln.weight": [4], "ln.bias": [4] });
    const h = c2.b.input("h", "float32", [1, 3, 4]);
    c2.b.output(layerNorm(c2, "ln", h, 1e-5), "y", "float32");
    assert.deepEqual(only(countGraph(c2.b, { h: [1, 3, 4] }), "norm"), {
      macs: 0,
      flops: 7 * 12,
      weightBytes: 32,
      readBytes: 48,
      writeBytes: 48,
      nodes: 1,
    });
  });

  it("elementwise: SiLU and an add of a constant after it (not an epilogue of anything)", () => {
    const ctx = context({});
    const x = ctx.b.input("x", "float32", [1, 2, 3, 3]);
    ctx.b.output(ctx.b.node("Add", [silu(ctx.b, x), ctx.b.constScalar(1)]), "y", "float32");
    // 18 elements: Sigmoid reads x, Mul reads x and the sigmoid, Add reads the product
    assert.deepEqual(only(countGraph(ctx.b, { x: [1, 2, 3, 3] }), "elementwise"), {
      macs: 0,
      flops: 3 * 18,
      weightBytes: 4,
      readBytes: 72 + 144 + 72,
      writeBytes: 3 * 72,
      nodes: 3,
    });
  });

  it("resample and layout: a nearest x2 upsample, a transpose and a concat move bytes, no FLOPs", () => {
    const ctx = context({});
    const x = ctx.b.input("x", "float32", [1, 2, 3, 3]);
    ctx.b.output(upsampleNearest(ctx.b, x, 2), "up", "float32");
    const resample = countGraph(ctx.b, { x: [1, 2, 3, 3] });
    // 18 floats in, 72 out; the scales constant is 4 floats
    assert.deepEqual(only(resample, "resample"), {
      macs: 0,
      flops: 0,
      weightBytes: 16,
      readBytes: 72,
      writeBytes: 288,
      nodes: 1,
    });

    const c2 = context({});
    const a = c2.b.input("a", "float32", [1, 2, 3, 3]);
    const b = c2.b.input("b", "float32", [1, 2, 3, 3]);
    const t = c2.b.node("Transpose", [a], { perm: [0, 2, 3, 1] });
    const r = c2.b.node("Reshape", [b, c2.b.constInt64([1, 3, 3, 2])]);
    c2.b.output(c2.b.node("Concat", [t, r], { axis: 3 }), "y", "float32");
    // the reshape is a view: no node counted, no bytes moved
    assert.deepEqual(only(countGraph(c2.b, { a: [1, 2, 3, 3], b: [1, 2, 3, 3] }), "layout"), {
      macs: 0,
      flops: 0,
      weightBytes: 0,
      readBytes: 72 + 144,
      writeBytes: 72 + 144,
      nodes: 2,
    });
  });

  it("int8 layers: the same MACs as float32, weights read as int8 codes plus per-row scales", () => {
    const shapes = { "c.weight": [4, 3, 3, 3], "c.bias": [4], "l.weight": [7, 6], "l.bias": [7] };
    const build = (int8: boolean) => {
      const ctx: LayerContext = {
        b: new GraphBuilder("micro"),
        weights: weights(shapes),
        attention: "matmul",
        int8: int8 ? { linear: () => true, conv: () => true, weightBits: 8 } : undefined,
      };
      const x = ctx.b.input("x", "float32", [1, 3, 8, 8]);
      const h = ctx.b.input("h", "float32", [1, 5, 6]);
      const y = int8 ? int8Conv2d(ctx, "c", x) : conv2d(ctx, "c", x);
      const z = int8 ? int8Linear(ctx, "l", h) : linear(ctx, "l", h);
      ctx.b.output(y, "y", "float32");
      ctx.b.output(z, "z", "float32");
      return countGraph(ctx.b, { x: [1, 3, 8, 8], h: [1, 5, 6] });
    };
    const float = build(false);
    const int8 = build(true);
    assert.equal(int8.byKind.conv.macs, float.byKind.conv.macs);
    assert.equal(int8.byKind.matmul.macs, float.byKind.matmul.macs);
    // conv: 108 codes + 4 scales + 4 bias floats; linear: 42 codes + 7 scales + 7 bias floats
    assert.equal(int8.byKind.conv.weightBytes, 108 + 16 + 16);
    assert.equal(int8.byKind.matmul.weightBytes, 42 + 28 + 28);
    // the conv's input is quantized (1 FLOP per element, elementwise) and gathered into im2col
    // columns (layout): to NHWC, pad, 9 shifted slices, concat, and back to NCHW
    assert.deepEqual([int8.byKind.elementwise.nodes, int8.byKind.elementwise.flops], [1, 192]);
    assert.equal(int8.byKind.layout.nodes, 1 + 1 + 9 + 1 + 1);
  });
});
