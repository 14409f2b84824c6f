/**
 * The com.microsoft fused ops the WebGPU variant may emit (graph/layers.ts FusedOp), each on
 * onnxruntime-node's WebGPU provider (SwiftShader, helpers/webgpu-adapter.ts) against the plain
 * float32 graph on the CPU provider, one op per graph so a failure names its op. The WebGPU
 * variant (engine/graph-variant.ts) turns on exactly the ops that pass here.
 * Tolerance 1e-4, as test/webgpu-networks.test.ts for the plain graphs (measured there within 2e-5).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { WEBGPU_FUSED_OPS } from "../src/engine/graph-variant.js";
import type { FusedOp } from "../src/graph/layers.js";
import { buildTextEncoderGraph, TEXT_ENCODER_INPUT, TEXT_ENCODER_OUTPUT } from "../src/graph/text-encoder.js";
import { buildUNetGraph, UNET_OUTPUT } from "../src/graph/unet.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { loadModel } from "../src/weights/load-model.js";
import type { LoadedWeightsModel } from "../src/weights/loaded-model.js";
import { fixturePath } from "./helpers/fixtures.js";
import { biasAddFeeds, biasAddGraph, fusedOpUNetFeeds, runGraphOn } from "./helpers/fused-op-graphs.js";
import { swiftShaderEnv } from "./helpers/webgpu-adapter.js";

const TOLERANCE = 1e-4;

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

describe("WebGPU fused ops against the plain graph on the CPU (tiny SD1.5, SwiftShader)", () => {
  const runtime = onnxruntimeNode();
  let model: LoadedWeightsModel;
  const ids = Int32Array.from({ length: 77 }, (_, i) => (i === 0 ? 49406 : i < 6 ? 320 + i * 17 : 49407));
  before(() => {
    Object.assign(process.env, swiftShaderEnv());
    const loaded = loadModel(fixturePath("models", "tiny-sd15"));
    if (loaded.format === "onnx") throw new Error("tiny-sd15 is a diffusers folder");
    model = loaded;
  });
  after(() => model?.close());

  const passing = new Set<FusedOp>();

  test(`quickGelu (text encoder) within ${TOLERANCE}`, async () => {
    const { weights, config } = model.textEncoder;
    const feeds = { [TEXT_ENCODER_INPUT]: { dims: [1, 77], data: ids } };
    const plain = buildTextEncoderGraph(weights, config, { attention: "matmul" });
    const fused = buildTextEncoderGraph(weights, config, { attention: "matmul", fusedOps: ["quickGelu"] });
    assert.ok(fused.nodes.some((n) => n.opType === "QuickGelu"));
    const d = maxDiff(
      await runGraphOn(runtime, "cpu", plain, feeds, TEXT_ENCODER_OUTPUT),
      await runGraphOn(runtime, "webgpu", fused, feeds, TEXT_ENCODER_OUTPUT),
    );
    assert.ok(d < TOLERANCE, `text encoder with QuickGelu differs by ${d}`);
    passing.add("quickGelu");
  });

  for (const op of ["biasSplitGelu", "skipLayerNorm"] as const) {
    test(`${op} (UNet) within ${TOLERANCE}`, async () => {
      const { weights, config } = model.unet;
      const feeds = fusedOpUNetFeeds();
      const plain = buildUNetGraph(weights, config, { attention: "matmul" });
      const fused = buildUNetGraph(weights, config, { attention: "matmul", fusedOps: [op] });
      const opType = op === "biasSplitGelu" ? "BiasSplitGelu" : "SkipLayerNormalization";
      assert.ok(fused.nodes.some((n) => n.opType === opType));
      const d = maxDiff(
        await runGraphOn(runtime, "cpu", plain, feeds, UNET_OUTPUT),
        await runGraphOn(runtime, "webgpu", fused, feeds, UNET_OUTPUT),
      );
      assert.ok(d < TOLERANCE, `UNet with ${opType} differs by ${d}`);
      passing.add(op);
    });
  }

  // the tiny UNet is 32 and 64 channels wide, which BiasAdd's kernel refuses: one linear at 320
  test(`biasAdd (a 320-wide linear plus residual) within ${TOLERANCE}`, async () => {
    const feeds = biasAddFeeds();
    const fused = biasAddGraph(["biasAdd"]);
    assert.ok(fused.nodes.some((n) => n.opType === "BiasAdd"));
    const d = maxDiff(
      await runGraphOn(runtime, "cpu", biasAddGraph([]), feeds, "y"),
      await runGraphOn(runtime, "webgpu", fused, feeds, "y"),
    );
    assert.ok(d < TOLERANCE, `BiasAdd differs by ${d}`);
    passing.add("biasAdd");
  });

  test("the WebGPU variant fuses exactly the ops that pass here", () => {
    assert.deepEqual([...WEBGPU_FUSED_OPS].sort(), [...passing].sort());
  });
});
