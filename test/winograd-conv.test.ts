import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ConvAlgorithm, WIDE_MIN_CHANNELS, winogradTileFor } from "../src/graph/conv-algorithm.js";
import { GraphBuilder } from "../src/graph/graph-builder.js";
import { conv2d, type LayerContext } from "../src/graph/layers.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { kronSelf, WINOGRAD_MATRICES, type WinogradTile } from "../src/graph/winograd-conv.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { WeightSource } from "../src/weights/weight-source.js";
import { lcgValues, memoryWeights } from "./helpers/test-values.js";

/** Conv2d (kernel 3, stride 1, padding 1) in float64, the reference both graphs are held against. */
function directConv(
  x: Float32Array,
  [n, c, h, w]: number[],
  weight: Float32Array,
  k: number,
  bias: Float32Array,
): Float64Array {
  const out = new Float64Array(n * k * h * w);
  for (let b = 0; b < n; b++)
    for (let o = 0; o < k; o++)
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++) {
          let s = bias[o];
          for (let ch = 0; ch < c; ch++)
            for (let u = 0; u < 3; u++)
              for (let v = 0; v < 3; v++) {
                const y = i + u - 1;
                const z = j + v - 1;
                if (y < 0 || y >= h || z < 0 || z >= w) continue;
                s += x[((b * c + ch) * h + y) * w + z] * weight[((o * c + ch) * 3 + u) * 3 + v];
              }
          out[((b * k + o) * h + i) * w + j] = s;
        }
  return out;
}

async function runConv(algorithm: ConvAlgorithm, weights: WeightSource, x: Float32Array, dims: number[]) {
  const b = new GraphBuilder("conv");
  const ctx: LayerContext = { b, weights, attention: "matmul", convAlgorithm: algorithm };
  const input = b.input("x", "float32", ["n", dims[1], "h", "w"]);
  b.output(conv2d(ctx, "conv", input), "y", "float32");
  const session = await onnxruntimeNode().createSession(serializeModel(b), { intraOpNumThreads: 1 });
  try {
    const out = await session.run({ x: { dims, data: x } });
    return { data: out.y.data as Float32Array, dims: out.y.dims, nodes: b.nodes.map((nd) => nd.opType) };
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: Float32Array, b: Float64Array): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe("Winograd F(m×m, 3×3) convolution", () => {
  it("the transform matrices reproduce a 1-D 3-tap correlation exactly: Aᵀ[(G g) ⊙ (Bᵀ d)] = d ⋆ g", () => {
    for (const m of [2, 4] as WinogradTile[]) {
      const { bt, g, at } = WINOGRAD_MATRICES[m];
      const d = Array.from(lcgValues(m + 2, 7 + m));
      const k = Array.from(lcgValues(3, 11 + m));
      const gk = g.map((row) => row.reduce((s, gi, t) => s + gi * k[t], 0));
      const bd = bt.map((row) => row.reduce((s, bi, t) => s + bi * d[t], 0));
      const y = at.map((row) => row.reduce((s, ai, p) => s + ai * gk[p] * bd[p], 0));
      for (let i = 0; i < m; i++) {
        const expected = d[i] * k[0] + d[i + 1] * k[1] + d[i + 2] * k[2];
        assert.ok(Math.abs(y[i] - expected) < 1e-12, `F(${m},3) output ${i}: ${y[i]} vs ${expected}`);
      }
    }
    const kron = kronSelf([
      [1, 2],
      [3, 4],
    ]);
    assert.deepEqual([...kron.data.subarray(0, 4)], [1, 2, 2, 4]);
  });

  // sizes that are and are not multiples of the tile, batch 2, bias
  const cases: { h: number; w: number }[] = [
    { h: 8, w: 8 },
    { h: 5, w: 7 },
    { h: 1, w: 3 },
  ];
  for (const algorithm of ["winograd-f2", "winograd-f4"] as const) {
    for (const { h, w } of cases) {
      it(`${algorithm} matches the direct conv (float64 reference) at ${h}x${w}: max |diff| ≤ 2e-5 on unit-scale data`, async () => {
        const [n, c, k] = [2, 6, 5];
        const weight = lcgValues(k * c * 9, 3, 0.5);
        const bias = lcgValues(k, 4, 0.1);
        const weights = memoryWeights({
          "conv.weight": { shape: [k, c, 3, 3], data: weight },
          "conv.bias": { shape: [k], data: bias },
        });
        const dims = [n, c, h, w];
        const x = lcgValues(n * c * h * w, 5);
        const expected = directConv(x, dims, weight, k, bias);
        const direct = await runConv("direct", weights, x, dims);
        const wino = await runConv(algorithm, weights, x, dims);
        assert.deepEqual(wino.dims, [n, k, h, w]);
        assert.ok(wino.nodes.includes("DepthToSpace"), "the Winograd graph was built");
        assert.ok(direct.nodes.includes("Conv"));
        const directErr = maxAbsDiff(direct.data, expected);
        const winoErr = maxAbsDiff(wino.data, expected);
        // the direct float32 conv is at ~1e-6 here; Winograd's transforms add a few roundings (F4 more)
        assert.ok(directErr < 2e-5, `direct conv: ${directErr}`);
        assert.ok(winoErr < 2e-5, `${algorithm}: max |diff| ${winoErr} (direct ${directErr})`);
      });
    }
  }

  it("only stride-1, padding-1 3x3 convs take Winograd; F4 only up to 960→640 channels (light: direct above)", () => {
    assert.equal(winogradTileFor("direct", [320, 320, 3, 3], 1, 1), undefined);
    assert.equal(winogradTileFor(undefined, [320, 320, 3, 3], 1, 1), undefined);
    assert.equal(winogradTileFor("winograd-f2", [320, 320, 3, 3], 1, 1), 2);
    assert.equal(winogradTileFor("winograd-f2", [320, 320, 3, 3], 2, 1), undefined);
    assert.equal(winogradTileFor("winograd-f2", [320, 320, 1, 1], 1, 0), undefined);
    assert.equal(winogradTileFor("winograd-f4", [640, 960, 3, 3], 1, 1), 4);
    assert.equal(winogradTileFor("winograd-f4", [1280, 1280, 3, 3], 1, 1), 2);
    assert.equal(winogradTileFor("winograd-f4-light", [640, 960, 3, 3], 1, 1), 4);
    assert.equal(winogradTileFor("winograd-f4-light", [1280, 1280, 3, 3], 1, 1), undefined);
    // shallow: winograd-f4's tiles, but direct at the deepest level
    assert.equal(winogradTileFor("winograd-f4-shallow", [640, 960, 3, 3], 1, 1), 4);
    assert.equal(winogradTileFor("winograd-f4-shallow", [1280, 1280, 3, 3], 1, 1), 2);
    assert.equal(winogradTileFor("winograd-f4-shallow", [1280, 1280, 3, 3], 1, 1, true), undefined);
    assert.equal(winogradTileFor("winograd-f4", [1280, 1280, 3, 3], 1, 1, true), 2);
    // wide: winograd-f4's tiles where both sides have WIDE_MIN_CHANNELS or more, else direct
    assert.equal(winogradTileFor("winograd-f4-wide", [512, 512, 3, 3], 1, 1), 4);
    assert.equal(winogradTileFor("winograd-f4-wide", [1280, 1280, 3, 3], 1, 1), 2);
    assert.equal(winogradTileFor("winograd-f4-wide", [WIDE_MIN_CHANNELS, 512, 3, 3], 1, 1), 4);
    assert.equal(winogradTileFor("winograd-f4-wide", [WIDE_MIN_CHANNELS - 1, 512, 3, 3], 1, 1), undefined);
    assert.equal(winogradTileFor("winograd-f4-wide", [512, WIDE_MIN_CHANNELS - 1, 3, 3], 1, 1), undefined);
    assert.equal(winogradTileFor("winograd-f4-wide", [64, 64, 3, 3], 1, 1), undefined);
    assert.equal(winogradTileFor("winograd-f4-wide", [512, 512, 3, 3], 2, 1), undefined);
    // and never at the image's full resolution; the other forms ignore that mark
    assert.equal(winogradTileFor("winograd-f4-wide", [512, 512, 3, 3], 1, 1, false, true), undefined);
    assert.equal(winogradTileFor("winograd-f4", [512, 512, 3, 3], 1, 1, false, true), 4);
    assert.equal(winogradTileFor("winograd-f4-shallow", [512, 512, 3, 3], 1, 1, false, true), 4);
  });
});
