import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GraphBuilder } from "../src/graph/graph-builder.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { tokenMerging } from "../src/graph/token-merging.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { assertClose } from "./helpers/assert-close.js";
import { lcgValues } from "./helpers/test-values.js";

/**
 * tomesd's bipartite_soft_matching_random2d(no_rand=True, sx=sy=2) written out plainly on [B, N, C]:
 * returns merge(x) and unmerge(merged) for one batch.
 */
function referenceMerge(x: Float32Array, batch: number, h: number, w: number, c: number, ratio: number) {
  const n = h * w;
  const isDst = (t: number) =>
    Math.floor(t / w) % 2 === 0 &&
    (t % w) % 2 === 0 &&
    Math.floor(t / w) < Math.floor(h / 2) * 2 &&
    t % w < Math.floor(w / 2) * 2;
  const dst = [...Array(n).keys()].filter(isDst);
  const src = [...Array(n).keys()].filter((t) => !isDst(t));
  const r = Math.min(Math.floor(n * ratio), src.length);
  const merged = new Float32Array(batch * (n - r) * c);
  const unmerged = new Float32Array(batch * n * c);
  for (let bi = 0; bi < batch; bi++) {
    const row = (t: number) => x.subarray((bi * n + t) * c, (bi * n + t + 1) * c);
    const norm = (v: Float32Array) => Math.hypot(...v);
    const best = src.map((s) => {
      let max = -Infinity;
      let arg = 0;
      dst.forEach((d, j) => {
        let dot = 0;
        for (let k = 0; k < c; k++) dot += row(s)[k] * row(d)[k];
        const sim = dot / norm(row(s)) / norm(row(d));
        if (sim > max) [max, arg] = [sim, j];
      });
      return { max, arg };
    });
    const edge = [...src.keys()].sort((a, b2) => best[b2].max - best[a].max);
    const kept = edge.slice(r);
    const out = merged.subarray(bi * (n - r) * c, (bi + 1) * (n - r) * c);
    kept.forEach((e, i) => {
      out.set(row(src[e]), i * c);
    });
    const counts = dst.map(() => 1);
    dst.forEach((d, j) => {
      out.set(row(d), (kept.length + j) * c);
    });
    for (const e of edge.slice(0, r)) {
      const j = best[e].arg;
      counts[j]++;
      for (let k = 0; k < c; k++) out[(kept.length + j) * c + k] += row(src[e])[k];
    }
    counts.forEach((m, j) => {
      for (let k = 0; k < c; k++) out[(kept.length + j) * c + k] /= m;
    });
    // unmerge of the merged tokens themselves
    const back = unmerged.subarray(bi * n * c, (bi + 1) * n * c);
    kept.forEach((e, i) => {
      back.set(out.subarray(i * c, (i + 1) * c), src[e] * c);
    });
    dst.forEach((d, j) => {
      back.set(out.subarray((kept.length + j) * c, (kept.length + j + 1) * c), d * c);
    });
    for (const e of edge.slice(0, r)) {
      const j = best[e].arg;
      back.set(out.subarray((kept.length + j) * c, (kept.length + j + 1) * c), src[e] * c);
    }
  }
  return { merged, unmerged, r };
}

async function runMerge(x: Float32Array, batch: number, h: number, w: number, c: number, ratio: number) {
  const b = new GraphBuilder("tome");
  b.input("x", "float32", ["batch", "tokens", c]);
  const plan = tokenMerging(b, "x", b.constInt64([h]), b.constInt64([w]), ratio);
  const merged = plan.merge("x");
  b.output(merged, "merged", "float32");
  b.output(plan.unmerge(merged), "unmerged", "float32");
  const session = await onnxruntimeNode().createSession(serializeModel(b), { intraOpNumThreads: 1 });
  try {
    const out = await session.run({ x: { dims: [batch, h * w, c], data: x } });
    return { merged: out.merged, unmerged: out.unmerged };
  } finally {
    await session.release();
  }
}

describe("token merging (ToMe for SD) graph", () => {
  for (const [h, w, ratio] of [
    [8, 8, 0.5],
    [6, 10, 0.3],
    [7, 5, 0.5], // odd sides: the last row/column holds sources only
    [4, 4, 0.9], // more than the sources: capped at N − N/4
  ] as const) {
    it(`${h}×${w} tokens, ratio ${ratio}: N − floor(N·ratio) tokens after merging, as tomesd merges and unmerges`, async () => {
      const batch = 2;
      const c = 6;
      const x = lcgValues(batch * h * w * c, h * 100 + w);
      const expected = referenceMerge(x, batch, h, w, c, ratio);
      const got = await runMerge(x, batch, h, w, c, ratio);
      const cells = Math.floor(h / 2) * Math.floor(w / 2);
      assert.equal(expected.r, Math.min(Math.floor(h * w * ratio), h * w - cells));
      assert.deepEqual(got.merged.dims, [batch, h * w - expected.r, c]);
      assert.deepEqual(got.unmerged.dims, [batch, h * w, c]);
      assertClose(got.merged.data as Float32Array, expected.merged, 1e-6, "merged tokens");
      assertClose(got.unmerged.data as Float32Array, expected.unmerged, 1e-6, "unmerged tokens");
    });
  }

  it("ratio 0 merges nothing: unmerge(merge(x)) is x exactly", async () => {
    const x = lcgValues(1 * 36 * 4, 3);
    const got = await runMerge(x, 1, 6, 6, 4, 0);
    assert.deepEqual(got.merged.dims, [1, 36, 4]);
    assert.deepEqual([...(got.unmerged.data as Float32Array)], [...x]);
  });
});
