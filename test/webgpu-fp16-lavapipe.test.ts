/**
 * The WebGPU variant's fp16 graphs on a WebGPU adapter with f16 shaders: Mesa's lavapipe
 * (helpers/webgpu-adapter.ts lavapipeEnv), through onnxruntime-node's WebGPU provider, against the
 * CPU provider's float32 results. Its own file: Dawn reads VK_ICD_FILENAMES once per process, and
 * the other WebGPU tests run on SwiftShader, which has no f16 shaders (test/webgpu-fp16.test.ts).
 *
 * Tolerances, relative to the largest float32 value, measured on lavapipe (Mesa 25.0.7, LLVM 15,
 * onnxruntime-node 1.30): text encoder 2.4e-3, UNet 3.4e-3 (t=1) and 4.7e-3 (t=999), VAE decode
 * 1.2e-2 and encode 1.1e-2, the image 3 levels. That is 5-7x the same graphs on the CPU provider,
 * which computes each fp16 op in float32 and rounds only its output; WebGPU's f16 shaders compute
 * in f16 throughout. Each bound leaves about 4x headroom and stays far below what a graph broken by
 * fp16 gives (an overflow: infinity; a NaN: a black image). The float32 graphs on lavapipe are
 * within 1e-4 of the CPU (measured), so a difference above FP16_FLOOR shows fp16 really ran.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { WEBGPU_FP16_FUSED_OPS } from "../src/engine/graph-variant.js";
import { type OpenedPipeline, openPipeline } from "../src/engine/open-pipeline.js";
import { webGpuRunsF16 } from "../src/engine/webgpu-shader-f16.js";
import { withPrecision } from "../src/graph/float16-compute.js";
import type { GraphBuilder } from "../src/graph/graph-builder.js";
import type { FusedOp } from "../src/graph/layers.js";
import { buildTextEncoderGraph, TEXT_ENCODER_INPUT, TEXT_ENCODER_OUTPUT } from "../src/graph/text-encoder.js";
import { buildUNetGraph, UNET_OUTPUT } from "../src/graph/unet.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { TensorData } from "../src/runtime/runtime.js";
import { loadModel } from "../src/weights/load-model.js";
import type { LoadedWeightsModel } from "../src/weights/loaded-model.js";
import { fixturePath } from "./helpers/fixtures.js";
import {
  assertBelow,
  assertImageWithin,
  FP16_TOKEN_IDS,
  relativeDiff,
  textEncoderDiff,
  txt2imgDiff,
  unetDiff,
  vaeDecodeDiff,
  vaeEncodeDiff,
} from "./helpers/fp16-comparison.js";
import { biasAddFeeds, biasAddGraph, fusedOpUNetFeeds, runGraphOn } from "./helpers/fused-op-graphs.js";
import { lavapipeEnv } from "./helpers/webgpu-adapter.js";

const MODEL = fixturePath("models", "tiny-sd15");

const TEXT_ENCODER_TOLERANCE = 1e-2;
const UNET_TOLERANCE = 2e-2;
const VAE_TOLERANCE = 5e-2;
/** The 320-wide linear of the BiasAdd check: measured 3.3e-3. */
const LINEAR_TOLERANCE = 1e-2;
const IMAGE_LEVELS = 8;
/** fp16's rounding unit (2^-11): the fp16 graphs here differ by 2.4e-3 or more, float32 by 1e-4 or less. */
const FP16_FLOOR = 4.9e-4;

describe("fp16 on lavapipe, a WebGPU adapter with f16 shaders (tiny SD1.5)", () => {
  let cpu: OpenedPipeline;
  let gpu: OpenedPipeline;
  before(async () => {
    Object.assign(process.env, lavapipeEnv());
    cpu = await openPipeline(MODEL, { runtime: { cache: false, threads: 1 } });
    // no precision asked: the webgpu variant picks fp16 because the probe finds f16 shaders
    gpu = await openPipeline(MODEL, { runtime: { cache: false, executionProviders: ["webgpu"] } });
  });
  after(async () => {
    await cpu?.close();
    await gpu?.close();
  });

  test("the shader-f16 probe finds f16 shaders on lavapipe", async () => {
    // false here: Mesa older than 25 (Dawn refuses 22.3's lavapipe), or no WebGPU provider
    assert.equal(await webGpuRunsF16(onnxruntimeNode()), true);
  });

  test(`text encoder within ${TEXT_ENCODER_TOLERANCE}`, async (t) => {
    assertBelow(
      t,
      "text encoder",
      await textEncoderDiff(cpu.models, gpu.models, FP16_FLOOR),
      TEXT_ENCODER_TOLERANCE,
    );
  });

  test(`UNet within ${UNET_TOLERANCE}, at timesteps 1 and 999`, async (ctx) => {
    for (const t of [1, 999]) {
      assertBelow(ctx, `UNet t=${t}`, await unetDiff(cpu.models, gpu.models, t, FP16_FLOOR), UNET_TOLERANCE);
    }
  });

  test(`VAE decode and encode within ${VAE_TOLERANCE}`, async (t) => {
    assertBelow(t, "VAE decode", await vaeDecodeDiff(cpu.models, gpu.models, FP16_FLOOR), VAE_TOLERANCE);
    assertBelow(t, "VAE encode", await vaeEncodeDiff(cpu.models, gpu.models, FP16_FLOOR), VAE_TOLERANCE);
  });

  // The variant's layout is NHWC (onnxruntime's default); NCHW is the other side of a layout A/B on
  // a GPU (docs/benchmarks.md), so its fp16 convs and norms must be right too. The text encoder has
  // no layout-sensitive op.
  test(`layout NCHW: UNet within ${UNET_TOLERANCE} (t=1, 999), VAE decode and encode within ${VAE_TOLERANCE}`, async (t) => {
    const nchw = await openPipeline(MODEL, {
      runtime: { cache: false, executionProviders: ["webgpu"], webgpuLayout: "NCHW" },
    });
    try {
      for (const step of [1, 999]) {
        const d = await unetDiff(cpu.models, nchw.models, step, FP16_FLOOR);
        assertBelow(t, `NCHW UNet t=${step}`, d, UNET_TOLERANCE);
      }
      assertBelow(
        t,
        "NCHW VAE decode",
        await vaeDecodeDiff(cpu.models, nchw.models, FP16_FLOOR),
        VAE_TOLERANCE,
      );
      assertBelow(
        t,
        "NCHW VAE encode",
        await vaeEncodeDiff(cpu.models, nchw.models, FP16_FLOOR),
        VAE_TOLERANCE,
      );
    } finally {
      await nchw.close();
    }
  });

  test(`txt2img 64x64, Euler a 4 steps: not black, within ${IMAGE_LEVELS} levels of the CPU image`, async (t) => {
    // a NaN anywhere turns the whole image black (0) after the clamp to bytes
    assertImageWithin(t, await txt2imgDiff(cpu.models, gpu.models), IMAGE_LEVELS, "CPU");
  });

  test("MultiHeadAttention is wrong on lavapipe too, so the fault is onnxruntime's kernel, not SwiftShader's", async (t) => {
    // float32, so that fp16 rounding plays no part: matmul attention is within 1e-6 here (measured)
    const mha = await openPipeline(MODEL, {
      runtime: { cache: false, executionProviders: ["webgpu"] },
      speed: { attention: "mha", precision: "fp32" },
    });
    try {
      const want = await cpu.models.textEncoder.encode(FP16_TOKEN_IDS, 1, 1);
      const got = await mha.models.textEncoder.encode(FP16_TOKEN_IDS, 1, 1);
      let d = 0;
      for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(want[i] - got[i]));
      t.diagnostic(`MultiHeadAttention text encoder: ${d.toExponential(2)}`);
      // measured 8.3e-2 (SwiftShader: 1.6). When this fails, onnxruntime fixed the kernel.
      assert.ok(d > 0.01, `MultiHeadAttention on lavapipe matches the CPU (differs by ${d})`);
    } finally {
      await mha.close();
    }
  });
});

describe("fused ops in fp16 on lavapipe against the plain float32 graph on the CPU", () => {
  const runtime = onnxruntimeNode();
  let model: LoadedWeightsModel;
  before(() => {
    Object.assign(process.env, lavapipeEnv());
    const loaded = loadModel(MODEL);
    if (loaded.format === "onnx") throw new Error("tiny-sd15 is a diffusers folder");
    model = loaded;
  });
  after(() => model?.close());

  const run = (
    provider: "cpu" | "webgpu",
    graph: GraphBuilder,
    feeds: Record<string, TensorData>,
    output: string,
  ) => runGraphOn(runtime, provider, graph, feeds, output);

  const unetWith = (fusedOps: FusedOp[], computePrecision: "fp32" | "fp16") =>
    buildUNetGraph(model.unet.weights, model.unet.config, {
      attention: "matmul",
      fusedOps,
      computePrecision,
    });

  const passing = new Set<FusedOp>();

  test(`quickGelu (text encoder) within ${TEXT_ENCODER_TOLERANCE}`, async () => {
    const { weights, config } = model.textEncoder;
    const feeds = { [TEXT_ENCODER_INPUT]: { dims: [1, 77], data: FP16_TOKEN_IDS } };
    const plain = buildTextEncoderGraph(weights, config, { attention: "matmul" });
    const fused = buildTextEncoderGraph(weights, config, {
      attention: "matmul",
      fusedOps: ["quickGelu"],
      computePrecision: "fp16",
    });
    assert.ok(fused.nodes.some((n) => n.opType === "QuickGelu"));
    const d = relativeDiff(
      await run("cpu", plain, feeds, TEXT_ENCODER_OUTPUT),
      await run("webgpu", fused, feeds, TEXT_ENCODER_OUTPUT),
      FP16_FLOOR,
    );
    assert.ok(d < TEXT_ENCODER_TOLERANCE, `text encoder with QuickGelu differs by ${d}`);
    passing.add("quickGelu");
  });

  test(`skipLayerNorm (UNet) within ${UNET_TOLERANCE}`, async () => {
    const fused = unetWith(["skipLayerNorm"], "fp16");
    assert.ok(fused.nodes.some((n) => n.opType === "SkipLayerNormalization"));
    const d = relativeDiff(
      await run("cpu", unetWith([], "fp32"), fusedOpUNetFeeds(), UNET_OUTPUT),
      await run("webgpu", fused, fusedOpUNetFeeds(), UNET_OUTPUT),
      FP16_FLOOR,
    );
    assert.ok(d < UNET_TOLERANCE, `UNet with SkipLayerNormalization differs by ${d}`);
    passing.add("skipLayerNorm");
  });

  // the tiny UNet is 32 and 64 channels wide, which BiasAdd's kernel refuses: one linear at 320
  test(`biasAdd (a 320-wide linear plus residual) within ${LINEAR_TOLERANCE}`, async () => {
    const feeds = biasAddFeeds();
    const fused = withPrecision(biasAddGraph(["biasAdd"]), "fp16");
    assert.ok(fused.nodes.some((n) => n.opType === "BiasAdd"));
    const d = relativeDiff(
      await run("cpu", biasAddGraph([]), feeds, "y"),
      await run("webgpu", fused, feeds, "y"),
      FP16_FLOOR,
    );
    assert.ok(d < LINEAR_TOLERANCE, `BiasAdd differs by ${d}`);
    passing.add("biasAdd");
  });

  test("biasSplitGelu fails in fp16 (onnxruntime's WebGPU kernel), so the fp16 variant leaves it out", async () => {
    const fused = unetWith(["biasSplitGelu"], "fp16");
    assert.ok(fused.nodes.some((n) => n.opType === "BiasSplitGelu"));
    // When this fails, onnxruntime fixed the kernel: check its numbers and give it back to fp16.
    await assert.rejects(run("webgpu", fused, fusedOpUNetFeeds(), UNET_OUTPUT), /BiasSplitGelu/);
  });

  test("the fp16 WebGPU variant fuses exactly the ops that pass here", () => {
    assert.deepEqual([...WEBGPU_FP16_FUSED_OPS].sort(), [...passing].sort());
  });
});
