/**
 * Sliced matmul attention (graph/layers.ts headsPerSlice; the UNet's full-resolution
 * self-attention on WebGPU, engine/graph-variant.ts): the same numbers as the unsliced matmul
 * form on the CPU, for the tiny UNet against diffusers' goldens and at a 64x64 latent (4096 tokens
 * at the full-resolution level, as SD1.5 at 512x512) against the unsliced graph; and the sliced
 * graph has one Softmax per slice where the unsliced one has one per attention.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { GraphBuilder } from "../src/graph/graph-builder.js";
import { headSlices } from "../src/graph/layers.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { buildUNetGraph, UNET_INPUTS, UNET_OUTPUT } from "../src/graph/unet.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { Session } from "../src/runtime/runtime.js";
import { attentionHeadsAt } from "../src/weights/architecture/model-config.js";
import { assertClose } from "./helpers/assert-close.js";
import { golden } from "./helpers/fixtures.js";
import {
  unetCaseFeeds,
  unetCaseOut,
  unetCases,
  unetFixtureConfig,
  unetGoldenTolerance,
  withUNetFixture,
} from "./helpers/unet-goldens.js";

const cases = unetCases();
const tolerance = unetGoldenTolerance();
const MODEL = cases[0].model;

/** The tiny UNet's graph, built (and, with `use`, used) while its weights are open. */
function withGraph<T>(
  headsPerSlice: number | undefined,
  use: (graph: GraphBuilder) => T,
  computePrecision?: "fp16",
): T {
  return withUNetFixture(MODEL, (weights, config) =>
    use(
      buildUNetGraph(weights, config, {
        attention: "matmul",
        attentionHeadsPerSlice: headsPerSlice,
        computePrecision,
      }),
    ),
  );
}

async function session(headsPerSlice: number | undefined, computePrecision?: "fp16"): Promise<Session> {
  const model = withGraph(headsPerSlice, (g) => serializeModel(g), computePrecision);
  return onnxruntimeNode().createSession(model, { intraOpNumThreads: 1 });
}

it("head slices: perSlice heads each, the rest in the last; one slice when absent or not smaller", () => {
  assert.deepEqual(headSlices(8, 1), [1, 1, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual(headSlices(8, 3), [3, 3, 2]);
  assert.deepEqual(headSlices(8, undefined), [8]);
  assert.deepEqual(headSlices(8, 8), [8]);
  assert.throws(() => headSlices(8, 1.5));
});

it("slicing touches only the full-resolution self-attentions: one Softmax per slice there", () => {
  const heads = attentionHeadsAt(unetFixtureConfig(MODEL), 0);
  const softmaxes = (perSlice: number | undefined) =>
    withGraph(perSlice, (g) => g.nodes.filter((n) => n.opType === "Softmax").length);
  // the tiny UNet: 2 transformers in down_blocks.0 and 3 in the last up block, one block each
  const fullResolutionSelfAttentions = 5;
  const extra = fullResolutionSelfAttentions * (headSlices(heads, 3).length - 1);
  assert.ok(heads > 3, `the tiny UNet has ${heads} heads at full resolution`);
  assert.equal(softmaxes(3), softmaxes(undefined) + extra);
});

for (const headsPerSlice of [1, 3]) {
  describe(`UNet graph, matmul attention sliced ${headsPerSlice} head(s) at a time, vs diffusers goldens`, () => {
    let s: Session;
    before(async () => {
      s = await session(headsPerSlice);
    });
    after(async () => {
      await s.release();
    });
    for (const c of cases.filter((x) => x.model === MODEL)) {
      it(`${c.id} [${c.shape.join("x")}] within ${tolerance}`, async (t) => {
        const out = await s.run(unetCaseFeeds(c));
        const diff = assertClose(out[UNET_OUTPUT].data as Float32Array, unetCaseOut(c), tolerance, c.id);
        t.diagnostic(`max |diff| ${diff.maxAbs.toExponential(2)}`);
      });
    }
  });
}

it(`a 64x64 latent with CFG (4096 tokens at full resolution): sliced equals unsliced within ${tolerance}`, async () => {
  const [sliced, whole] = [await session(1), await session(undefined)];
  try {
    const g = golden("unet");
    const c = cases.find((x) => x.model === MODEL && x.shape[0] === 2);
    assert.ok(c, "a batch-2 (CFG) case of the tiny UNet");
    const context = g.readF32(c.encoder_hidden_states);
    const dims = [2, 4, 64, 64];
    // a deterministic, non-constant latent
    const sample = Float32Array.from({ length: 2 * 4 * 64 * 64 }, (_, i) => Math.sin(i * 0.37) * 1.3);
    const feeds = {
      [UNET_INPUTS.sample]: { dims, data: sample },
      [UNET_INPUTS.timestep]: { dims: [2], data: Float32Array.of(500, 500) },
      [UNET_INPUTS.encoderHiddenStates]: { dims: [2, 77, context.length / 2 / 77], data: context },
    };
    const a = (await sliced.run(feeds))[UNET_OUTPUT].data as Float32Array;
    const b = (await whole.run(feeds))[UNET_OUTPUT].data as Float32Array;
    assert.equal(a.length, 2 * 4 * 64 * 64);
    assertClose(a, b, tolerance, "sliced vs unsliced");
  } finally {
    await sliced.release();
    await whole.release();
  }
});

// the WebGPU variant slices its fp16 graphs too: float16-compute.ts keeps each slice's softmax in float32
it("fp16 compute: the sliced graph equals the unsliced fp16 graph within 1e-2 (test/webgpu-fp16.test.ts's tolerance) of the largest output", async () => {
  const [sliced, whole] = [await session(1, "fp16"), await session(undefined, "fp16")];
  try {
    const c = cases.find((x) => x.model === MODEL && x.shape[0] === 2);
    assert.ok(c);
    const feeds = unetCaseFeeds(c);
    const a = (await sliced.run(feeds))[UNET_OUTPUT].data as Float32Array;
    const b = (await whole.run(feeds))[UNET_OUTPUT].data as Float32Array;
    const largest = b.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    assertClose(a, b, 1e-2 * largest, "fp16 sliced vs unsliced");
  } finally {
    await sliced.release();
    await whole.release();
  }
});
