import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GraphBuilder, MS_DOMAIN } from "../src/graph/graph-builder.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import {
  BLOCKWISE_ZERO_POINT,
  convWeightToColumns,
  INT7_MAX,
  quantizeBlockwiseUint8,
  quantizeRowsInt8,
  transposeInt8,
} from "../src/graph/quantize.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { assertClose, maxAbs } from "./helpers/assert-close.js";
import { dequantizeBlockwiseUint8, dequantizeRowsInt8 } from "./helpers/dequantize.js";

/** Deterministic values in ±scale·(row-dependent magnitude), so rows get very different scales. */
function matrix(rows: number, cols: number, seed = 1): Float32Array {
  const out = new Float32Array(rows * cols);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const row = Math.floor(i / cols);
    out[i] = ((s / 2 ** 32) * 2 - 1) * 10 ** ((row % 5) - 3);
  }
  return out;
}

describe("per-row symmetric int8", () => {
  it("round trip: every weight within half a step of its row's grid; the row maximum hits ±127 exactly", () => {
    const rows = 37;
    const cols = 300;
    const w = matrix(rows, cols);
    const q = quantizeRowsInt8(w, rows, cols);
    const back = dequantizeRowsInt8(q);
    for (let r = 0; r < rows; r++) {
      const s = q.scales[r];
      let maxAbs = 0;
      let worst = 0;
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        maxAbs = Math.max(maxAbs, Math.abs(w[i]));
        worst = Math.max(worst, Math.abs(w[i] - back[i]));
        assert.ok(q.values[i] >= -127 && q.values[i] <= 127, `row ${r} col ${c}: code ${q.values[i]}`);
      }
      // half a step, plus the float32 rounding of scale and product
      assert.ok(worst <= s * 0.5 * (1 + 1e-5), `row ${r}: max |w − dq| ${worst} > scale/2 = ${s / 2}`);
      assert.ok(Math.abs(maxAbs / s - 127) < 1e-4, `row ${r}: max |w| / scale = ${maxAbs / s}, expected 127`);
      const relative = worst / maxAbs;
      assert.ok(relative <= 0.5 / 127 + 1e-6, `row ${r}: relative error ${relative}`);
    }
  });

  it("7-bit (reduced range): codes within ±63, every weight within half of the coarser step", () => {
    const rows = 9;
    const cols = 200;
    const w = matrix(rows, cols, 5);
    const q = quantizeRowsInt8(w, rows, cols, INT7_MAX);
    const back = dequantizeRowsInt8(q);
    let maxCode = 0;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        maxCode = Math.max(maxCode, Math.abs(q.values[i]));
        const d = Math.abs(w[i] - back[i]);
        assert.ok(
          d <= q.scales[r] * 0.5 * (1 + 1e-5),
          `row ${r} col ${c}: |w − dq| ${d} > ${q.scales[r] / 2}`,
        );
      }
    }
    assert.equal(maxCode, 63);
    // the u8s8 pair sum of vpmaddubsw stays inside int16
    assert.ok(255 * INT7_MAX * 2 <= 32767 && 255 * 127 * 2 > 32767);
  });

  it("an all-zero row quantizes to zeros with a finite scale; negation negates the codes", () => {
    const w = Float32Array.of(0, 0, 0, 1.5, -0.6, 0.3);
    const q = quantizeRowsInt8(w, 2, 3);
    assert.deepEqual([...q.values.subarray(0, 3)], [0, 0, 0]);
    assert.ok(Number.isFinite(q.scales[0]) && q.scales[0] > 0);
    const halfway = Float32Array.of(1, 0.5, -0.5, 63.5 / 127); // exact ties of the grid (scale 1/127)
    const neg = quantizeRowsInt8(
      Float32Array.from([...w, ...halfway, 0, 0], (v) => -v),
      3,
      4,
    );
    const pos = quantizeRowsInt8(Float32Array.from([...w, ...halfway, 0, 0]), 3, 4);
    assert.deepEqual(
      [...neg.values],
      [...pos.values].map((v) => (v === 0 ? 0 : -v)),
    );
    assert.deepEqual([...q.values.subarray(3)], [127, -51, 25]); // −0.6/1.5·127 = −50.8, 0.3/1.5·127 = 25.4
  });

  it("transposeInt8 swaps the axes of [rows, cols]", () => {
    const v = Int8Array.from({ length: 6 }, (_, i) => i + 1); // [[1,2,3],[4,5,6]]
    assert.deepEqual([...transposeInt8(v, 2, 3)], [1, 4, 2, 5, 3, 6]);
  });

  it("convWeightToColumns orders K as (ky, kx, c) and puts output channels last", () => {
    const [m, c, kh, kw] = [3, 2, 2, 3];
    const v = Int8Array.from({ length: m * c * kh * kw }, (_, i) => i - 18);
    const cols = convWeightToColumns(v, m, c, kh, kw);
    for (let o = 0; o < m; o++)
      for (let ch = 0; ch < c; ch++)
        for (let y = 0; y < kh; y++)
          for (let x = 0; x < kw; x++) {
            const k = (y * kw + x) * c + ch;
            assert.equal(
              cols[k * m + o],
              v[((o * c + ch) * kh + y) * kw + x],
              `m ${o} c ${ch} y ${y} x ${x}`,
            );
          }
  });
});

describe("blockwise uint8 (MatMulNBits layout)", () => {
  it("round trip within half a step per block; the padded tail of the last block holds the zero point", () => {
    const rows = 5;
    const cols = 100; // not a multiple of 32: the last block is padded
    const w = matrix(rows, cols, 7);
    const q = quantizeBlockwiseUint8(w, rows, cols, 32);
    assert.equal(q.blocks, 4);
    assert.equal(q.values.length, rows * 4 * 32);
    const back = dequantizeBlockwiseUint8(q);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const s = q.scales[r * q.blocks + Math.floor(c / 32)];
        const d = Math.abs(w[r * cols + c] - back[r * cols + c]);
        assert.ok(d <= s * 0.5 * (1 + 1e-5), `row ${r} col ${c}: |w − dq| ${d} > ${s / 2}`);
      }
      for (let t = 100 - 96; t < 32; t++) {
        assert.equal(q.values[(r * q.blocks + 3) * 32 + t], BLOCKWISE_ZERO_POINT, `row ${r} pad ${t}`);
      }
    }
  });

  it("rejects block sizes MatMulNBits does not take", () => {
    assert.throws(() => quantizeBlockwiseUint8(new Float32Array(64), 1, 64, 24), /power of two/);
  });
});

describe("the layouts are what onnxruntime's int8 ops expect", () => {
  const [M, K, N] = [7, 96, 40];
  const x = matrix(M, K, 3).map((v, i) => v * 10 ** (3 - (Math.floor(i / K) % 5)) * 0.5);
  const w = matrix(N, K, 11);

  /** x @ W^T in float64. */
  function reference(weights: Float32Array): Float64Array {
    const y = new Float64Array(M * N);
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += x[m * K + k] * weights[n * K + k];
        y[m * N + n] = acc;
      }
    return y;
  }

  async function run(build: (b: GraphBuilder) => string): Promise<Float32Array> {
    const b = new GraphBuilder("q");
    b.input("x", "float32", [M, K]);
    b.output(build(b), "y", "float32");
    const s = await onnxruntimeNode().createSession(serializeModel(b), { intraOpNumThreads: 1 });
    try {
      return (await s.run({ x: { dims: [M, K], data: x } })).y.data as Float32Array;
    } finally {
      await s.release();
    }
  }

  it("MatMulNBits (bits 8, block 32, implicit zero point) computes x @ dequantized(W)^T", async () => {
    const q = quantizeBlockwiseUint8(w, N, K, 32);
    const y = await run((b) =>
      b.node(
        "MatMulNBits",
        [
          "x",
          b.initializer({ name: "q", elementType: "uint8", dims: [N, q.blocks, 32], data: q.values }),
          b.initializer({ name: "s", elementType: "float32", dims: [N * q.blocks], data: q.scales }),
        ],
        { K, N, bits: 8, block_size: 32 },
        { domain: MS_DOMAIN },
      ),
    );
    const expected = reference(dequantizeBlockwiseUint8(q));
    // float32 accumulation over K = 96 terms: a few ulps of the largest output, not a quantization step
    const tolerance = 1e-6 * maxAbs(expected);
    assertClose(y, expected, tolerance, "MatMulNBits vs x @ dq(W)^T");
  });

  it("DynamicQuantizeMatMul with per-column int8 B (transposed rows) approximates x @ W^T within the activation step", async () => {
    const q = quantizeRowsInt8(w, N, K);
    const y = await run((b) =>
      b.node(
        "DynamicQuantizeMatMul",
        [
          "x",
          b.initializer({
            name: "q",
            elementType: "int8",
            dims: [K, N],
            data: new Uint8Array(transposeInt8(q.values, N, K).buffer),
          }),
          b.initializer({ name: "s", elementType: "float32", dims: [N], data: q.scales }),
        ],
        {},
        { domain: MS_DOMAIN },
      ),
    );
    // activations are quantized per tensor to uint8: error ≤ (range/255)/2 per element, times Σ|dq(W)|
    const dq = dequantizeRowsInt8(q);
    let lo = 0;
    let hi = 0;
    for (const v of x) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const step = (hi - lo) / 255;
    const exact = reference(dq);
    for (let n = 0; n < N; n++) {
      let l1 = 0;
      for (let k = 0; k < K; k++) l1 += Math.abs(dq[n * K + k]);
      for (let m = 0; m < M; m++) {
        const d = Math.abs(y[m * N + n] - exact[m * N + n]);
        assert.ok(
          d <= (step / 2) * l1 * 1.001 + 1e-5,
          `y[${m}, ${n}]: |diff| ${d} > bound ${(step / 2) * l1}`,
        );
      }
    }
  });
});
