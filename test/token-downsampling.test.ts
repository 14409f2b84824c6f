/**
 * ToDo token downsampling (graph/token-downsampling.ts, UNet option todoFactor/todoMaxDepth): the
 * graph's Resize is torch's nearest-exact, index for index; factor 1 is the plain graph; the UNet
 * with ToDo stays within measured bounds of the plain one in every attention formulation; and the
 * option travels through the engine, the job settings, the CLI parser and the infotext.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { GraphCache } from "../src/cache/graph-cache.js";
import { parseTodoFactor } from "../src/cli/option-parsers.js";
import type { SpeedOptions } from "../src/engine/engine-options.js";
import { openPipeline } from "../src/engine/open-pipeline.js";
import { GraphBuilder } from "../src/graph/graph-builder.js";
import { INT8_FUSIONS } from "../src/graph/int8-layers.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import {
  downsampledSide,
  downsampleTokens,
  NEAREST_EXACT_LIKE_TORCH,
  nearestExactIndex,
} from "../src/graph/token-downsampling.js";
import { buildUNetGraph, UNET_OUTPUT, type UNetGraphOptions } from "../src/graph/unet.js";
import { buildShallowUNetGraph } from "../src/graph/unet-deepcache.js";
import { generate } from "../src/pipeline/generate.js";
import { speedEntries } from "../src/pipeline/generation-record.js";
import { speedSettings, validateJobEngine } from "../src/pipeline/job-engine.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { maxDifference } from "./helpers/assert-close.js";
import { fixturePath } from "./helpers/fixtures.js";
import { caseRequest, pipelineCases } from "./helpers/pipeline-cases.js";
import { lcgValues } from "./helpers/test-values.js";
import {
  openUNetFixtureWeights,
  TINY_UNET,
  unetCaseFeeds,
  unetCases,
  unetFixtureConfig,
  unetGraphSession,
} from "./helpers/unet-goldens.js";

/** The reference's downsampling written out: x [B, h·w, C] → [B, h'·w', C] by nearest-exact indices. */
function referenceDownsample(
  x: Float32Array,
  batch: number,
  h: number,
  w: number,
  c: number,
  factor: number,
) {
  const [oh, ow] = [downsampledSide(h, factor), downsampledSide(w, factor)];
  const out = new Float32Array(batch * oh * ow * c);
  for (let bi = 0; bi < batch; bi++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const src = (bi * h + nearestExactIndex(i, h, oh)) * w + nearestExactIndex(j, w, ow);
        out.set(x.subarray(src * c, (src + 1) * c), ((bi * oh + i) * ow + j) * c);
      }
    }
  }
  return { out, oh, ow };
}

async function runDownsample(
  x: Float32Array,
  batch: number,
  h: number,
  w: number,
  c: number,
  factor: number,
) {
  const b = new GraphBuilder("todo");
  b.input("x", "float32", ["batch", "tokens", c]);
  b.output(downsampleTokens(b, "x", b.constInt64([h]), b.constInt64([w]), factor), "y", "float32");
  const session = await onnxruntimeNode().createSession(serializeModel(b), { intraOpNumThreads: 1 });
  try {
    const out = await session.run({ x: { dims: [batch, h * w, c], data: x } });
    return { data: out.y.data as Float32Array, dims: out.y.dims };
  } finally {
    await session.release();
  }
}

describe("nearest-exact downsampling of tokens", () => {
  it("the index rule is torch's nearest-exact: centre of each output cell, floor, clamped", () => {
    // torch.nn.functional.interpolate(torch.arange(n)[None, None].float(), size=m, mode="nearest-exact")
    // reads these source indices (the rule's definition: floor((dst + 0.5) · n/m))
    const indices = (n: number, m: number) => Array.from({ length: m }, (_, d) => nearestExactIndex(d, n, m));
    assert.deepEqual(indices(8, 4), [1, 3, 5, 7]);
    assert.deepEqual(indices(5, 2), [1, 3]);
    assert.deepEqual(indices(7, 3), [1, 3, 5]);
    assert.deepEqual(indices(3, 1), [1]);
    assert.deepEqual(indices(9, 3), [1, 4, 7]);
    // int(side / factor), at least 1
    assert.deepEqual(
      [64, 65, 5, 1].map((s) => downsampledSide(s, 2)),
      [32, 32, 2, 1],
    );
    assert.equal(downsampledSide(64, 2.5), 25);
  });

  for (const [h, w] of [
    [8, 8],
    [5, 7],
    [7, 4],
    [64, 64],
    [96, 64],
    [13, 11],
  ]) {
    for (const factor of [2, 3, 2.5]) {
      it(`graph Resize equals the TypeScript transcription on ${h}x${w}, factor ${factor}`, async () => {
        const [batch, c] = [2, 3];
        const x = lcgValues(batch * h * w * c, h * 100 + w);
        const ref = referenceDownsample(x, batch, h, w, c, factor);
        const got = await runDownsample(x, batch, h, w, c, factor);
        assert.deepEqual(got.dims, [batch, ref.oh * ref.ow, c]);
        // a copy of the chosen tokens: exactly equal
        assert.deepEqual(Array.from(got.data), Array.from(ref.out));
      });
    }
  }

  it("factor 1 is the identity (no node)", () => {
    const b = new GraphBuilder("todo");
    b.input("x", "float32", ["batch", "tokens", 4]);
    assert.equal(downsampleTokens(b, "x", b.constInt64([2]), b.constInt64([2]), 1), "x");
    assert.throws(() => downsampleTokens(b, "x", b.constInt64([2]), b.constInt64([2]), 0.5), /≥ 1/);
  });
});

const tinyConfig = () => unetFixtureConfig(TINY_UNET);

async function runCases(options: UNetGraphOptions) {
  const cases = unetCases(TINY_UNET);
  assert.ok(cases.length > 0);
  const session = await unetGraphSession(TINY_UNET, options);
  try {
    const results: { id: string; shape: number[]; out: Float32Array }[] = [];
    for (const c of cases) {
      const out = await session.run(unetCaseFeeds(c));
      results.push({ id: c.id, shape: c.shape, out: out[UNET_OUTPUT].data as Float32Array });
    }
    return results;
  } finally {
    await session.release();
  }
}

/** The transformer blocks whose graph holds ToDo's Resize. */
function todoBlocks(g: GraphBuilder): string[] {
  return g.nodes
    .filter(
      (n) =>
        n.opType === "Resize" &&
        n.attributes.some(
          (a) =>
            a.name === "coordinate_transformation_mode" &&
            a.value === NEAREST_EXACT_LIKE_TORCH.coordinate_transformation_mode,
        ),
    )
    .map((n) => n.name);
}

describe("ToDo in the UNet", () => {
  it("downsamples only the blocks down to the max depth, in the full and the shallow graph; factor 1 is the plain graph", () => {
    const weights = openUNetFixtureWeights(TINY_UNET);
    try {
      const full = todoBlocks(buildUNetGraph(weights, tinyConfig(), { attention: "mha", todoFactor: 2 }));
      assert.equal(full.length, 5, full.join(", ")); // 2 down + 3 up transformer blocks at level 0
      assert.ok(
        full.every((n) => /^(down_blocks\.0|up_blocks\.3)\.attentions\.\d/.test(n)),
        full.join(", "),
      );
      const deeper = todoBlocks(
        buildUNetGraph(weights, tinyConfig(), { attention: "mha", todoFactor: 2, todoMaxDepth: 2 }),
      );
      assert.equal(deeper.length, 10, deeper.join(", "));
      assert.ok(
        deeper.every((n) => /^(down_blocks\.[01]|up_blocks\.[23])\.attentions\.\d/.test(n)),
        deeper.join(", "),
      );
      const shallow = buildShallowUNetGraph(weights, tinyConfig(), { attention: "mha", todoFactor: 2 });
      assert.equal(todoBlocks(shallow).length, 5);
      const bytes = (options: UNetGraphOptions) =>
        Buffer.from(serializeModel(buildUNetGraph(weights, tinyConfig(), options)).bytes);
      assert.equal(
        Buffer.compare(bytes({ attention: "mha", todoFactor: 1 }), bytes({ attention: "mha" })),
        0,
      );
      assert.equal(
        Buffer.compare(
          bytes({ attention: "mha", todoFactor: 1, todoMaxDepth: 2 }),
          bytes({ attention: "mha" }),
        ),
        0,
      );
      assert.throws(
        () => buildUNetGraph(weights, tinyConfig(), { todoFactor: 2, tomeRatio: 0.5 }),
        /choose one/,
      );
    } finally {
      weights.close();
    }
  });

  it("int8 with stacked self-attention q/k/v: k and v stay stacked on the downsampled tokens", () => {
    const weights = openUNetFixtureWeights(TINY_UNET);
    try {
      const options = { attention: "mha", quantization: "int8", int8Fusions: INT8_FUSIONS } as const;
      const g = buildUNetGraph(weights, tinyConfig(), { ...options, todoFactor: 2 });
      const stacked = (suffix: string) =>
        g.initializers.filter((i) => i.name.endsWith(`.attn1.${suffix}.weight.int8`)).length;
      assert.equal(stacked("to_kv"), 5);
      assert.equal(
        stacked("to_qkv"),
        weights.names().filter((n) => n.endsWith(".attn1.to_q.weight")).length - 5,
      );
    } finally {
      weights.close();
    }
  });

  // the tiny fixture UNet's outputs are ~1 in size; max |diff| to the plain UNet over every case
  // (5x7 included), measured: depth 1 0.029-0.070, depth 2 0.046-0.104, in all three formulations
  const bounds = { 1: 0.1, 2: 0.15 };
  for (const [label, base] of [
    ["fused MultiHeadAttention", { attention: "mha" }],
    ["MatMul-Softmax-MatMul", { attention: "matmul" }],
    [
      "int8 layers and int8 attention products",
      { attention: "matmul", quantization: "int8", attentionQuantization: "int8" },
    ],
  ] as [string, UNetGraphOptions][]) {
    it(`factor 2 with ${label}: finite, changed, within the measured bound`, async (t) => {
      const plain = await runCases(base);
      for (const depth of [1, 2] as const) {
        const todo = await runCases({ ...base, todoFactor: 2, todoMaxDepth: depth });
        let largest = 0;
        for (let i = 0; i < plain.length; i++) {
          assert.ok(todo[i].out.every(Number.isFinite), `${todo[i].id}: not finite`);
          const d = maxDifference(todo[i].out, plain[i].out);
          t.diagnostic(
            `depth ${depth} ${plain[i].id} ${plain[i].shape}: max |diff| ${d.maxAbs.toExponential(2)}`,
          );
          largest = Math.max(largest, d.maxAbs);
        }
        assert.ok(largest > 1e-4, `depth ${depth}: ToDo must change the output`);
        assert.ok(largest < bounds[depth], `depth ${depth}: max |diff| ${largest} over ${bounds[depth]}`);
      }
    });
  }
});

function psnr(a: Uint8Array | Uint8ClampedArray, b: Uint8Array | Uint8ClampedArray): number {
  let squares = 0;
  for (let i = 0; i < a.length; i++) squares += (a[i] - b[i]) ** 2;
  return squares === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / (squares / a.length));
}

describe("ToDo with the WebGPU variant's graph forms (run on the CPU)", () => {
  it("fp16 compute and head-sliced matmul attention: finite, the same with and without slicing", async () => {
    const base = { attention: "matmul", computePrecision: "fp16", todoFactor: 2 } as const;
    const whole = await runCases(base);
    const sliced = await runCases({ ...base, attentionHeadsPerSlice: 1 });
    for (let i = 0; i < whole.length; i++) {
      assert.ok(whole[i].out.every(Number.isFinite), whole[i].id);
      // slicing computes the same heads one at a time
      assert.ok(maxDifference(sliced[i].out, whole[i].out).maxAbs < 1e-3, whole[i].id);
    }
  });
});

describe("through the pipeline (tiny-sd15, fixture txt2img cases)", () => {
  it("todoFactor 2: images near the exact ones (PSNR reported)", async (t) => {
    const open = (speed: SpeedOptions) =>
      openPipeline(fixturePath("models/tiny-sd15"), { runtime: { cache: false, threads: 1 }, speed });
    const [exact, todo] = [await open({}), await open({ todoFactor: 2 })];
    try {
      for (const c of pipelineCases("txt2img")) {
        const request = caseRequest(c);
        const [reference] = await generate(exact.models, request);
        const [image] = await generate(todo.models, request);
        const db = psnr(image.image.data, reference.image.data);
        t.diagnostic(`${c.id}: image PSNR ${db.toFixed(1)} dB`);
        // measured 39.6-50.7 dB over the four cases (ToMe 0.5: 37-47 dB); finite: ToDo must change them
        assert.ok(db > 35 && db < Number.POSITIVE_INFINITY, `${c.id}: image PSNR ${db.toFixed(1)} dB`);
      }
    } finally {
      await exact.close();
      await todo.close();
    }
  });
});

describe("todoFactor and todoMaxDepth as engine options and settings", () => {
  const root = mkdtempSync(join(tmpdir(), "sdlite-todo-"));
  after(() => rmSync(root, { recursive: true, force: true }));
  const unetEntries = async (label: string, speed: SpeedOptions) => {
    const cache = new GraphCache(join(root, label));
    const p = await openPipeline(fixturePath("models/tiny-sd15"), { runtime: { cache, threads: 1 }, speed });
    try {
      const [image] = await generate(p.models, {
        prompt: "a cat",
        sampler: "Euler",
        steps: 2,
        guidance: 7.5,
        seed: 1,
        width: 64,
        height: 64,
      });
      assert.ok(image.image.data.length > 0);
    } finally {
      await p.close();
    }
    return readdirSync(cache.dir).filter((n) => n.startsWith("unet"));
  };

  it("factor 2 builds its own UNet graphs (DeepCache's pair too); factor 1 keeps the plain key", async () => {
    const plain = await unetEntries("plain", {});
    const off = await unetEntries("off", { todoFactor: 1, todoMaxDepth: 2 });
    const todo = await unetEntries("todo", { todoFactor: 2 });
    const depth2 = await unetEntries("depth2", { todoFactor: 2, todoMaxDepth: 2 });
    const deepCache = await unetEntries("deepcache", { todoFactor: 2, deepCacheInterval: 2 });
    assert.deepEqual(off, plain);
    const all = [...plain, ...todo, ...depth2];
    assert.equal(new Set(all).size, 3, all.join(", "));
    assert.equal(deepCache.length, 2, deepCache.join(", "));
  });

  it("refuses factors below 1, depths other than 1 and 2, ToDo with ToMe, and ONNX folders", async () => {
    const tiny = fixturePath("models/tiny-sd15");
    for (const todoFactor of [0.5, 0, Number.NaN, Number.POSITIVE_INFINITY]) {
      await assert.rejects(
        openPipeline(tiny, { runtime: { cache: false }, speed: { todoFactor } }),
        /ToDo factor/,
      );
    }
    await assert.rejects(
      openPipeline(tiny, { runtime: { cache: false }, speed: { todoFactor: 2, todoMaxDepth: 3 } }),
      /ToDo max depth 3/,
    );
    await assert.rejects(
      openPipeline(tiny, { runtime: { cache: false }, speed: { todoFactor: 2, tomeRatio: 0.5 } }),
      /choose one/,
    );
    await assert.rejects(
      openPipeline(fixturePath("models/tiny-sd15-onnx"), {
        runtime: { cache: false },
        speed: { todoFactor: 2 },
      }),
      /ONNX pipeline folder/,
    );
  });

  it("the CLI factor parser takes numbers >= 1", () => {
    assert.equal(parseTodoFactor("2"), 2);
    assert.equal(parseTodoFactor("1.5"), 1.5);
    assert.equal(parseTodoFactor("1"), 1);
    for (const bad of ["0.5", "-2", "two", ""]) assert.throws(() => parseTodoFactor(bad), /factor|number/);
  });

  it("job settings: checked like the other speed fields; off stays unset", () => {
    assert.deepEqual(validateJobEngine({ speed: { todoFactor: 2, todoMaxDepth: 2 } }).speed, {
      todoFactor: 2,
      todoMaxDepth: 2,
    });
    assert.throws(() => validateJobEngine({ speed: { todoFactor: 0.5 } }), />= 1/);
    assert.throws(() => validateJobEngine({ speed: { todoMaxDepth: 3 } }), /one of 1, 2/);
    assert.deepEqual(speedSettings(undefined, { todoFactor: 2, todoMaxDepth: 2 }, undefined).speed, {
      todoFactor: 2,
      todoMaxDepth: 2,
    });
    assert.deepEqual(speedSettings(undefined, { todoFactor: 2, todoMaxDepth: 1 }, undefined).speed, {
      todoFactor: 2,
    });
    assert.deepEqual(speedSettings(undefined, { todoFactor: 1, todoMaxDepth: 2 }, undefined).speed, {});
  });

  it("infotext: the A1111 extension's keys, only when on", () => {
    assert.deepEqual(speedEntries({ todoFactor: 2 }), { "ToDo factor": 2, "ToDo max depth": 1 });
    assert.deepEqual(speedEntries({ todoFactor: 2.5, todoMaxDepth: 2 }), {
      "ToDo factor": 2.5,
      "ToDo max depth": 2,
    });
    assert.deepEqual(speedEntries({ todoFactor: 1, todoMaxDepth: 2 }), {});
  });
});
