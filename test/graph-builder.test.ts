import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { float, GraphBuilder } from "../src/graph/graph-builder.js";
import {
  attention,
  conv2d,
  groupNorm,
  type LayerContext,
  layerNorm,
  linear,
  MASKED_SCORE,
  resizeNearestLike,
  silu,
  upsampleNearest,
} from "../src/graph/layers.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { ProtoWriter } from "../src/graph/protobuf-writer.js";
import { writeModel } from "../src/graph/write-model.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { WeightSource } from "../src/weights/weight-source.js";
import { assertClose } from "./helpers/assert-close.js";

/** Deterministic values in [-1, 1) (a 32-bit LCG): the tests need numbers, not torch's stream. */
function pseudoRandom(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

class MemoryWeights implements WeightSource {
  readonly tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  reads = 0;
  add(name: string, shape: number[], seed: number): Float32Array {
    const data = pseudoRandom(
      shape.reduce((a, b) => a * b, 1),
      seed,
    );
    this.tensors.set(name, { shape, data });
    return data;
  }
  names(): string[] {
    return [...this.tensors.keys()];
  }
  has(name: string): boolean {
    return this.tensors.has(name);
  }
  shape(name: string): readonly number[] {
    return this.tensors.get(name)!.shape;
  }
  get(name: string): Float32Array {
    this.reads++;
    return this.tensors.get(name)!.data;
  }
}

// --- plain reference implementations (NCHW / [S, C]) ---

function refConv(
  x: Float32Array,
  [n, c, h, w]: number[],
  k: Float32Array,
  [o, , kh, kw]: number[],
  bias: Float32Array,
) {
  const pad = Math.floor(kh / 2);
  const out = new Float32Array(n * o * h * w);
  for (let b = 0; b < n; b++)
    for (let oc = 0; oc < o; oc++)
      for (let y = 0; y < h; y++)
        for (let xx = 0; xx < w; xx++) {
          let acc = bias[oc];
          for (let ic = 0; ic < c; ic++)
            for (let dy = 0; dy < kh; dy++)
              for (let dx = 0; dx < kw; dx++) {
                const iy = y + dy - pad;
                const ix = xx + dx - pad;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                acc += x[((b * c + ic) * h + iy) * w + ix] * k[((oc * c + ic) * kh + dy) * kw + dx];
              }
          out[((b * o + oc) * h + y) * w + xx] = acc;
        }
  return out;
}

function refGroupNormSilu(
  x: Float32Array,
  [n, c, h, w]: number[],
  groups: number,
  gamma: Float32Array,
  beta: Float32Array,
) {
  const out = new Float32Array(x.length);
  const per = (c / groups) * h * w;
  for (let b = 0; b < n; b++)
    for (let g = 0; g < groups; g++) {
      const start = (b * groups + g) * per;
      let mean = 0;
      for (let i = 0; i < per; i++) mean += x[start + i];
      mean /= per;
      let v = 0;
      for (let i = 0; i < per; i++) v += (x[start + i] - mean) ** 2;
      const inv = 1 / Math.sqrt(v / per + 1e-5);
      for (let i = 0; i < per; i++) {
        const ch = Math.floor((start + i) / (h * w)) % c;
        const y = (x[start + i] - mean) * inv * gamma[ch] + beta[ch];
        out[start + i] = y / (1 + Math.exp(-y));
      }
    }
  return out;
}

function refLinear(
  x: Float32Array,
  rows: number,
  inF: number,
  wt: Float32Array,
  outF: number,
  bias: Float32Array,
) {
  const out = new Float32Array(rows * outF);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < outF; o++) {
      let acc = bias[o];
      for (let i = 0; i < inF; i++) acc += x[r * inF + i] * wt[o * inF + i];
      out[r * outF + o] = acc;
    }
  return out;
}

function refLayerNorm(x: Float32Array, rows: number, c: number, gamma: Float32Array, beta: Float32Array) {
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < c; i++) mean += x[r * c + i];
    mean /= c;
    let v = 0;
    for (let i = 0; i < c; i++) v += (x[r * c + i] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / c + 1e-5);
    for (let i = 0; i < c; i++) out[r * c + i] = (x[r * c + i] - mean) * inv * gamma[i] + beta[i];
  }
  return out;
}

function refCausalAttention(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  s: number,
  c: number,
  heads: number,
) {
  const d = c / heads;
  const out = new Float32Array(s * c);
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < s; i++) {
      const scores: number[] = [];
      for (let j = 0; j <= i; j++) {
        let dot = 0;
        for (let e = 0; e < d; e++) dot += q[i * c + h * d + e] * k[j * c + h * d + e];
        scores.push(dot / Math.sqrt(d));
      }
      const max = Math.max(...scores);
      const exps = scores.map((x) => Math.exp(x - max));
      const sum = exps.reduce((a, b) => a + b, 0);
      for (let e = 0; e < d; e++) {
        let acc = 0;
        for (let j = 0; j <= i; j++) acc += (exps[j] / sum) * v[j * c + h * d + e];
        out[i * c + h * d + e] = acc;
      }
    }
  return out;
}

describe("protobuf writer", () => {
  it("encodes varints, negative int64, strings, floats and nested messages byte for byte", () => {
    assert.deepEqual([...new ProtoWriter().varint(1, 300).finish()], [0x08, 0xac, 0x02]);
    assert.deepEqual(
      [...new ProtoWriter().varint(3, -1).finish()],
      [0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    );
    assert.deepEqual([...new ProtoWriter().string(2, "hi").finish()], [0x12, 2, 0x68, 0x69]);
    assert.deepEqual([...new ProtoWriter().fixed32Float(2, 1).finish()], [0x15, 0, 0, 0x80, 0x3f]);
    const inner = new ProtoWriter().varint(1, 150);
    assert.deepEqual([...new ProtoWriter().message(3, inner).finish()], [0x1a, 3, 0x08, 0x96, 0x01]);
    // a large part bypasses the scratch buffer and must still come out in order
    const big = new Uint8Array(1000).map((_, i) => i & 0xff);
    const out = new ProtoWriter().varint(1, 1).bytes(2, big).varint(3, 2).finish();
    assert.deepEqual([...out.subarray(0, 5)], [0x08, 1, 0x12, 0xe8, 0x07]);
    assert.deepEqual(out.subarray(5, 1005), big);
    assert.deepEqual([...out.subarray(1005)], [0x18, 2]);
  });
});

describe("graph builder", () => {
  const runtime = onnxruntimeNode();

  function convGroupNormGraph(weights: MemoryWeights) {
    const b = new GraphBuilder("conv_gn");
    const ctx: LayerContext = { b, weights, attention: "matmul" };
    const x = b.input("x", "float32", ["batch", 4, 3, 5]);
    const y = silu(b, groupNorm(ctx, "norm", conv2d(ctx, "conv", x), 2, 1e-5));
    b.output(y, "y", "float32", ["batch", 6, 3, 5]);
    return b;
  }

  function convWeights() {
    const weights = new MemoryWeights();
    const kernel = weights.add("conv.weight", [6, 4, 3, 3], 1);
    const bias = weights.add("conv.bias", [6], 2);
    const gamma = weights.add("norm.weight", [6], 3);
    const beta = weights.add("norm.bias", [6], 4);
    const reference = (x: Float32Array, n: number) =>
      refGroupNormSilu(refConv(x, [n, 4, 3, 5], kernel, [6, 4, 3, 3], bias), [n, 6, 3, 5], 2, gamma, beta);
    return { weights, reference };
  }

  it("conv2d + groupNorm + SiLU match a direct computation, with a dynamic batch and chunked external data", async () => {
    const { weights, reference } = convWeights();
    const b = convGroupNormGraph(weights);
    assert.equal(weights.reads, 0, "weights are read only when the model is serialised");
    const model = serializeModel(b, { externalMinBytes: 16, maxChunkBytes: 300 });
    assert.ok(
      model.externalData.length >= 2,
      `expected several weight chunks, got ${model.externalData.length}`,
    );
    const session = await runtime.createSession(model);
    try {
      assert.deepEqual(session.inputNames, ["x"]);
      assert.deepEqual(session.outputNames, ["y"]);
      for (const n of [1, 2]) {
        const x = pseudoRandom(n * 4 * 3 * 5, 10 + n);
        const { y } = await session.run({ x: { dims: [n, 4, 3, 5], data: x } });
        assert.deepEqual(y.dims, [n, 6, 3, 5]);
        assertClose(y.data as Float32Array, reference(x, n), 1e-5, `conv+groupnorm+silu batch ${n}`);
      }
    } finally {
      await session.release();
    }
  });

  it("writes model.onnx + weight files that load by path, leaving no temporary files", async () => {
    const { weights, reference } = convWeights();
    const dir = mkdtempSync(join(tmpdir(), "sdlite-graph-"));
    try {
      const { modelPath, files } = writeModel(convGroupNormGraph(weights), dir, { externalMinBytes: 16 });
      assert.deepEqual(readdirSync(dir).sort(), [...files].sort());
      assert.ok(files.includes("weights-0.bin"));
      const session = await runtime.createSession({ path: modelPath });
      const x = pseudoRandom(4 * 3 * 5, 7);
      const { y } = await session.run({ x: { dims: [1, 4, 3, 5], data: x } });
      assertClose(y.data as Float32Array, reference(x, 1), 1e-5, "conv+groupnorm+silu loaded from disk");
      await session.release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const kind of ["matmul", "mha"] as const) {
    it(`linear + layerNorm + causal ${kind} attention match a direct computation`, async () => {
      const s = 5;
      const c = 8;
      const heads = 2;
      const weights = new MemoryWeights();
      const g = weights.add("ln.weight", [c], 1);
      const be = weights.add("ln.bias", [c], 2);
      const wq = weights.add("q.weight", [c, c], 3);
      const bq = weights.add("q.bias", [c], 4);
      const wk = weights.add("k.weight", [c, c], 5);
      const bk = weights.add("k.bias", [c], 6);
      const b = new GraphBuilder("attn");
      const ctx: LayerContext = { b, weights, attention: kind };
      const x = b.input("x", "float32", [1, s, c]);
      const h = layerNorm(ctx, "ln", x, 1e-5);
      const mask = new Float32Array(s * s);
      for (let i = 0; i < s; i++) for (let j = i + 1; j < s; j++) mask[i * s + j] = MASKED_SCORE;
      const bias = b.constFloat(mask, [1, 1, s, s]);
      const q = linear(ctx, "q", h);
      const k = linear(ctx, "k", h);
      b.output(attention(ctx, q, k, h, { heads, channels: c, bias }), "y", "float32");
      const session = await runtime.createSession(serializeModel(b));
      const xv = pseudoRandom(s * c, 99);
      const { y } = await session.run({ x: { dims: [1, s, c], data: xv } });
      await session.release();
      const hv = refLayerNorm(xv, s, c, g, be);
      const expected = refCausalAttention(
        refLinear(hv, s, c, wq, c, bq),
        refLinear(hv, s, c, wk, c, bk),
        hv,
        s,
        c,
        heads,
      );
      assert.deepEqual(y.dims, [1, s, c]);
      assertClose(y.data as Float32Array, expected, 1e-5, `layernorm+linear+${kind} attention`);
    });
  }

  it("nearest resizes follow torch: ×2, and to a skip tensor's odd size (2×3 → 3×5)", async () => {
    const b = new GraphBuilder("resize");
    const x = b.input("x", "float32", [1, 1, "h", "w"]);
    const like = b.input("like", "float32", [1, 1, "H", "W"]);
    b.output(upsampleNearest(b, x, 2), "up2", "float32");
    b.output(resizeNearestLike(b, x, like), "sized", "float32");
    const session = await runtime.createSession(serializeModel(b));
    const xv = Float32Array.of(1, 2, 3, 4, 5, 6); // [2, 3]
    const out = await session.run({
      x: { dims: [1, 1, 2, 3], data: xv },
      like: { dims: [1, 1, 3, 5], data: new Float32Array(15) },
    });
    await session.release();
    // torch: src = floor(dst · in/out)
    const nearest = (h: number, w: number, H: number, W: number) =>
      Array.from({ length: H * W }, (_, i) => {
        const sy = Math.floor((Math.floor(i / W) * h) / H);
        const sx = Math.floor(((i % W) * w) / W);
        return xv[sy * w + sx];
      });
    assert.deepEqual(out.up2.dims, [1, 1, 4, 6]);
    assert.deepEqual([...out.up2.data], nearest(2, 3, 4, 6));
    assert.deepEqual(out.sized.dims, [1, 1, 3, 5]);
    assert.deepEqual([...out.sized.data], nearest(2, 3, 3, 5));
  });

  it("refuses duplicate value names, unmarked float attributes and missing weights, naming them", () => {
    const b = new GraphBuilder("bad");
    b.input("x", "float32", [1]);
    assert.throws(() => b.input("x", "float32", [1]), /"x" is used twice/);
    assert.throws(() => b.node("LeakyRelu", ["x"], { alpha: 0.1 }), /use float\(\)/);
    assert.doesNotThrow(() => b.node("LeakyRelu", ["x"], { alpha: float(0.1) }));
    assert.throws(() => b.weight(new MemoryWeights(), "down.0.weight"), /weight "down.0.weight" is missing/);
  });
});
