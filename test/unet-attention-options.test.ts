/**
 * The UNet's two attention speed options: int8 attention products (attentionQuantization) and ToMe
 * token merging (tomeRatio). Each builds the ops it promises where it promises them, leaves the
 * graph alone where it should, and keeps the tiny UNet and pipeline within measured bounds.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { GraphCache } from "../src/cache/graph-cache.js";
import { parseTomeRatio } from "../src/cli/option-parsers.js";
import type { SpeedOptions } from "../src/engine/engine-options.js";
import { type OpenedPipeline, openPipeline } from "../src/engine/open-pipeline.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { buildUNetGraph, UNET_OUTPUT, type UNetGraphOptions } from "../src/graph/unet.js";
import { buildShallowUNetGraph } from "../src/graph/unet-deepcache.js";
import { generate } from "../src/pipeline/generate.js";
import { speedEntries } from "../src/pipeline/generation-record.js";
import { speedSettings, validateJobEngine } from "../src/pipeline/job-engine.js";
import { assertClose, maxDifference } from "./helpers/assert-close.js";
import { fixturePath } from "./helpers/fixtures.js";
import { caseRequest, pipelineCases } from "./helpers/pipeline-cases.js";
import {
  openUNetFixtureWeights,
  TINY_UNET,
  type UNetCase,
  unetCaseFeeds,
  unetCaseOut,
  unetCases,
  unetFixtureConfig,
  unetGraphSession,
} from "./helpers/unet-goldens.js";

const tinyConfig = () => unetFixtureConfig(TINY_UNET);
const openWeights = () => openUNetFixtureWeights(TINY_UNET);

/** Runs every fixture UNet case of tiny-sd15 through a graph built with `options`. */
async function runCases(options: UNetGraphOptions): Promise<{ c: UNetCase; out: Float32Array }[]> {
  const cases = unetCases(TINY_UNET);
  assert.ok(cases.length > 0);
  const session = await unetGraphSession(TINY_UNET, options);
  const results: { c: UNetCase; out: Float32Array }[] = [];
  try {
    for (const c of cases) {
      const out = await session.run(unetCaseFeeds(c));
      results.push({ c, out: out[UNET_OUTPUT].data as Float32Array });
    }
  } finally {
    await session.release();
  }
  return results;
}

function psnr(a: Uint8Array | Uint8ClampedArray, b: Uint8Array | Uint8ClampedArray): number {
  let squares = 0;
  for (let i = 0; i < a.length; i++) squares += (a[i] - b[i]) ** 2;
  return squares === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / (squares / a.length));
}

describe("int8 attention products", () => {
  it("matmul attention: two MatMulIntegerToFloat per attention, no float attention MatMul left", () => {
    const weights = openWeights();
    try {
      const plain = buildUNetGraph(weights, tinyConfig(), { attention: "matmul" });
      const g = buildUNetGraph(weights, tinyConfig(), { attention: "matmul", attentionQuantization: "int8" });
      const count = (graph: typeof g, op: string) => graph.nodes.filter((n) => n.opType === op).length;
      const attentions = count(plain, "Softmax");
      assert.equal(attentions, 32); // 16 transformer blocks × (self + cross)
      assert.equal(count(g, "MatMulIntegerToFloat"), 2 * attentions);
      // q, k, probabilities, v of every attention
      assert.equal(count(g, "DynamicQuantizeLinear"), 4 * attentions);
      assert.equal(count(plain, "MatMul") - count(g, "MatMul"), 2 * attentions);
      // the fused op is float: with "mha" the option changes nothing
      const mha = buildUNetGraph(weights, tinyConfig(), { attention: "mha", attentionQuantization: "int8" });
      assert.equal(count(mha, "MatMulIntegerToFloat"), 0);
      const shallow = buildShallowUNetGraph(weights, tinyConfig(), {
        attention: "matmul",
        attentionQuantization: "int8",
      });
      assert.ok(count(shallow as typeof g, "MatMulIntegerToFloat") > 0);
    } finally {
      weights.close();
    }
  });

  it("tiny UNet within 0.1 of the diffusers goldens on every case", async (t) => {
    let worst = 0;
    for (const { c, out } of await runCases({ attention: "matmul", attentionQuantization: "int8" })) {
      // outputs have RMS ≈ 0.31; a wrong scale or zero point costs errors of the output's size
      worst = Math.max(worst, assertClose(out, unetCaseOut(c), 0.1, `int8 attention ${c.id}`).maxAbs);
    }
    t.diagnostic(`int8 attention: worst max |diff| vs goldens ${worst.toExponential(2)}`);
  });
});

describe("ToMe token merging in the UNet", () => {
  it("merges only in the full-resolution transformers (down_blocks.0, up_blocks.3), one plan per block", () => {
    const weights = openWeights();
    try {
      const g = buildUNetGraph(weights, tinyConfig(), { attention: "mha", tomeRatio: 0.5 });
      const topK = g.nodes.filter((n) => n.opType === "TopK").map((n) => n.name);
      assert.equal(topK.length, 5); // 2 down + 3 up transformer blocks at level 0
      assert.ok(
        topK.every((n) => /^(down_blocks\.0|up_blocks\.3)\.attentions\.\d/.test(n)),
        topK.join(", "),
      );
      const shallow = buildShallowUNetGraph(weights, tinyConfig(), { attention: "mha", tomeRatio: 0.5 });
      assert.equal(shallow.nodes.filter((n) => n.opType === "TopK").length, 5);
      // ratio 0 is off: the very same graph as without the option
      const bytes = (options: UNetGraphOptions) =>
        Buffer.from(serializeModel(buildUNetGraph(weights, tinyConfig(), options)).bytes);
      assert.equal(Buffer.compare(bytes({ attention: "mha", tomeRatio: 0 }), bytes({ attention: "mha" })), 0);
    } finally {
      weights.close();
    }
  });

  it("a ratio that merges no token (floor(N·ratio) = 0) gives the plain UNet's output", async () => {
    // the 5×7 fixture case: 35 · 0.02 < 1, yet the merge/unmerge path runs
    const plain = await runCases({ attention: "mha" });
    const merged = await runCases({ attention: "mha", tomeRatio: 0.02 });
    for (let i = 0; i < plain.length; i++) {
      const tokens = plain[i].c.shape[2] * plain[i].c.shape[3];
      if (Math.floor(tokens * 0.02) > 0) continue;
      // a permutation of the tokens around each self-attention: the sums run in another order
      assertClose(merged[i].out, plain[i].out, 1e-5, `ratio 0.02 ${plain[i].c.id}`);
    }
    assert.ok(plain.some((p) => Math.floor(p.c.shape[2] * p.c.shape[3] * 0.02) === 0));
  });

  it("ratio 0.5 changes the output, boundedly", async (t) => {
    const plain = await runCases({ attention: "mha" });
    const merged = await runCases({ attention: "mha", tomeRatio: 0.5 });
    for (let i = 0; i < plain.length; i++) {
      const d = maxDifference(merged[i].out, plain[i].out);
      t.diagnostic(`${plain[i].c.id} ${plain[i].c.shape}: max |diff| ${d.maxAbs.toExponential(2)}`);
      assert.ok(Number.isFinite(d.maxAbs) && d.maxAbs < 1, `${plain[i].c.id}: ${d.maxAbs}`);
    }
    assert.ok(
      merged.some((m, i) => maxDifference(m.out, plain[i].out).maxAbs > 1e-4),
      "ToMe must change something",
    );
  });
});

describe("through the pipeline (tiny-sd15, fixture txt2img cases)", () => {
  const opened: OpenedPipeline[] = [];
  const open = async (speed: NonNullable<Parameters<typeof openPipeline>[1]>["speed"]) => {
    const p = await openPipeline(fixturePath("models/tiny-sd15"), {
      runtime: { cache: false, threads: 1 },
      speed,
    });
    opened.push(p);
    return p;
  };
  after(async () => {
    for (const p of opened) await p.close();
  });

  it("attentionQuantization int8 and tomeRatio 0.5: images near the exact ones (PSNR reported)", async (t) => {
    const reference = await open({});
    const variants = {
      "int8 attention": await open({ attentionQuantization: "int8" }),
      "ToMe 0.5": await open({ tomeRatio: 0.5 }),
    };
    for (const c of pipelineCases("txt2img")) {
      const request = caseRequest(c);
      const [exact] = await generate(reference.models, request);
      for (const [name, p] of Object.entries(variants)) {
        const [image] = await generate(p.models, request);
        const db = psnr(image.image.data, exact.image.data);
        t.diagnostic(`${c.id} ${name}: image PSNR ${db.toFixed(1)} dB`);
        assert.ok(db > 30, `${c.id} ${name}: image PSNR ${db.toFixed(1)} dB`);
      }
    }
  });

  it("infotext keys name the options", () => {
    assert.deepEqual(speedEntries({ attentionQuantization: "int8", tomeRatio: 0.5 }), {
      "Attention quantization": "int8",
      "ToMe ratio": 0.5,
    });
    assert.deepEqual(speedEntries({ attentionQuantization: "none", tomeRatio: 0 }), {});
  });
});

describe("engine options attentionQuantization and tomeRatio", () => {
  const root = mkdtempSync(join(tmpdir(), "sdlite-attention-options-"));
  after(() => rmSync(root, { recursive: true, force: true }));
  const unetEntries = async (label: string, speed: SpeedOptions) => {
    const cache = new GraphCache(join(root, label));
    const p = await openPipeline(fixturePath("models/tiny-sd15"), { runtime: { cache, threads: 1 }, speed });
    try {
      await generate(p.models, {
        prompt: "a cat",
        sampler: "Euler",
        steps: 1,
        guidance: 7.5,
        seed: 1,
        width: 64,
        height: 64,
      });
    } finally {
      await p.close();
    }
    return readdirSync(cache.dir).filter((n) => n.startsWith("unet"));
  };

  it("each builds its own UNet graph; their defaults keep the plain graph's key", async () => {
    const plain = await unetEntries("plain", {});
    const defaults = await unetEntries("defaults", { attentionQuantization: "none", tomeRatio: 0 });
    const int8 = await unetEntries("int8", { attentionQuantization: "int8" });
    const tome = await unetEntries("tome", { tomeRatio: 0.5 });
    const both = await unetEntries("both", { attentionQuantization: "int8", tomeRatio: 0.5 });
    assert.deepEqual(defaults, plain);
    const all = [...plain, ...int8, ...tome, ...both];
    assert.equal(all.length, 4);
    assert.equal(new Set(all).size, 4, all.join(", "));
  });

  it("refuses ratios outside [0, 1), unknown attention quantizations, and both on ONNX folders", async () => {
    const tiny = fixturePath("models/tiny-sd15");
    for (const tomeRatio of [1, -0.1, Number.NaN]) {
      await assert.rejects(
        openPipeline(tiny, { runtime: { cache: false }, speed: { tomeRatio } }),
        /token merging ratio/,
      );
    }
    await assert.rejects(
      // biome-ignore lint/suspicious/noExplicitAny: a value from untyped input (CLI, JSON)
      openPipeline(tiny, { runtime: { cache: false }, speed: { attentionQuantization: "int4" as any } }),
      /unknown attention quantization "int4"/,
    );
    const onnx = fixturePath("models/tiny-sd15-onnx");
    for (const speed of [{ tomeRatio: 0.5 }, { attentionQuantization: "int8" as const }]) {
      await assert.rejects(openPipeline(onnx, { runtime: { cache: false }, speed }), /ONNX pipeline folder/);
    }
  });
});

describe("--tome and --quantize-attention as settings", () => {
  it("the CLI ratio parser takes [0, 1) only", () => {
    assert.equal(parseTomeRatio("0.5"), 0.5);
    assert.equal(parseTomeRatio("0"), 0);
    for (const bad of ["1", "-0.2", "half", ""]) assert.throws(() => parseTomeRatio(bad), /ratio|number/);
  });

  it("job settings: checked like the other speed fields; defaults stay unset", () => {
    assert.deepEqual(validateJobEngine({ speed: { tomeRatio: 0.5, attentionQuantization: "int8" } }).speed, {
      tomeRatio: 0.5,
      attentionQuantization: "int8",
    });
    assert.throws(() => validateJobEngine({ speed: { tomeRatio: 1.5 } }), /\[0, 1\)/);
    assert.throws(() => validateJobEngine({ speed: { attentionQuantization: "int4" } }), /"int8"/);
    assert.deepEqual(
      speedSettings(undefined, { tomeRatio: 0.5, attentionQuantization: "int8" }, undefined).speed,
      {
        attentionQuantization: "int8",
        tomeRatio: 0.5,
      },
    );
    assert.deepEqual(
      speedSettings(undefined, { tomeRatio: 0, attentionQuantization: "none" }, undefined).speed,
      {},
    );
    // --conv-algorithm: passed on as given ("direct" too, so an explicit choice survives a changed default)
    for (const convAlgorithm of ["direct", "winograd-f4-shallow"] as const) {
      assert.deepEqual(
        speedSettings("fast", { convAlgorithm }, undefined).speed?.convAlgorithm,
        convAlgorithm,
      );
    }
    assert.equal(speedSettings(undefined, {}, undefined).speed?.convAlgorithm, undefined);
  });
});
