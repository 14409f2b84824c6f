/**
 * fp16 compute (graph/float16-compute.ts), the WebGPU variant's graphs on an adapter with f16
 * shaders. The SwiftShader adapter most tests have runs no f16 shader (onnxruntime's WebGPU kernels
 * refuse fp16 there, shown below); Mesa's lavapipe does, and test/webgpu-fp16-lavapipe.test.ts runs
 * the fp16 graphs on it. Here the SAME fp16 graphs run on the CPU provider: onnxruntime
 * runs an fp16 op with a float16 kernel where it has one and otherwise between Casts to float32 and
 * back, so every activation is rounded to fp16 after each op and an overflow becomes an infinity
 * that reaches the output. Checked per network of the tiny SD1.5 fixture: finite, and close to the
 * float32 graph; and a tiny txt2img: a finite, non-black image close to the float32 one.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { graphVariantFor, WEBGPU_FUSED_OPS } from "../src/engine/graph-variant.js";
import { type OpenedPipeline, openPipeline } from "../src/engine/open-pipeline.js";
import { webGpuRunsF16 } from "../src/engine/webgpu-shader-f16.js";
import { toFloat16Compute } from "../src/graph/float16-compute.js";
import { ONNX_DATA_TYPE } from "../src/graph/onnx-proto.js";
import { buildUNetGraph } from "../src/graph/unet.js";
import { speedSettings } from "../src/pipeline/job-engine.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { loadModel } from "../src/weights/load-model.js";
import { fixturePath } from "./helpers/fixtures.js";
import {
  assertBelow,
  assertImageWithin,
  textEncoderDiff,
  txt2imgDiff,
  unetDiff,
  vaeDecodeDiff,
  vaeEncodeDiff,
} from "./helpers/fp16-comparison.js";
import { swiftShaderEnv } from "./helpers/webgpu-adapter.js";

const MODEL = fixturePath("models", "tiny-sd15");
/** Above this, the graph computed in fp16 (fp16 keeps 11 bits: ~5e-4 per rounding). */
const FP16_FLOOR = 1e-5;

// Measured on the tiny fixture: text encoder 3.3e-4, UNet 1.1e-3 (t=1) and 9.1e-4 (t=999), VAE
// decode and encode 1.9e-3, the image 1 level; 1e-2 leaves 5x headroom and is far below what a
// graph broken by fp16 gives (an overflow: infinity; a float16 timestep sinusoid: ~1).
const NETWORK_TOLERANCE = 1e-2;

describe("fp16 compute graphs on the CPU provider match float32 (tiny SD1.5)", () => {
  let fp32: OpenedPipeline;
  let fp16: OpenedPipeline;
  before(async () => {
    fp32 = await openPipeline(MODEL, { runtime: { cache: false, threads: 1 } });
    fp16 = await openPipeline(MODEL, { runtime: { cache: false, threads: 1 }, speed: { precision: "fp16" } });
  });
  after(async () => {
    await fp32?.close();
    await fp16?.close();
  });

  test(`text encoder within ${NETWORK_TOLERANCE} (relative to its largest value)`, async (t) => {
    assertBelow(
      t,
      "text encoder",
      await textEncoderDiff(fp32.models, fp16.models, FP16_FLOOR),
      NETWORK_TOLERANCE,
    );
  });

  test(`UNet within ${NETWORK_TOLERANCE}, at timesteps 1 and 999`, async (ctx) => {
    for (const t of [1, 999]) {
      assertBelow(
        ctx,
        `UNet t=${t}`,
        await unetDiff(fp32.models, fp16.models, t, FP16_FLOOR),
        NETWORK_TOLERANCE,
      );
    }
  });

  test(`VAE decode and encode within ${NETWORK_TOLERANCE}`, async (t) => {
    assertBelow(
      t,
      "VAE decode",
      await vaeDecodeDiff(fp32.models, fp16.models, FP16_FLOOR),
      NETWORK_TOLERANCE,
    );
    assertBelow(
      t,
      "VAE encode",
      await vaeEncodeDiff(fp32.models, fp16.models, FP16_FLOOR),
      NETWORK_TOLERANCE,
    );
  });

  test("txt2img 64x64, Euler a 4 steps: not black, within 4 levels of the float32 image", async (t) => {
    // a NaN anywhere turns the whole image black (0) after the clamp to bytes
    assertImageWithin(t, await txt2imgDiff(fp32.models, fp16.models), 4, "float32");
  });
});

describe("the fp16 compute pass", () => {
  const model = loadModel(MODEL);
  after(() => model.close());
  if (model.format === "onnx") throw new Error("tiny-sd15 is a diffusers folder");
  const { weights, config } = model.unet;

  test("UNet: float16 weights, float32 I/O, softmax, norms and timestep embedding in float32", () => {
    for (const weightStorage of ["fp32", "fp16"] as const) {
      const b = buildUNetGraph(weights, config, { weightStorage, computePrecision: "fp16" });
      const producer = new Map(b.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
      const castTo = (v: string) => {
        const n = producer.get(v);
        const to = n?.opType === "Cast" ? n.attributes.find((a) => a.name === "to") : undefined;
        return to?.type === "int" ? to.value : undefined;
      };
      assert.ok(b.inputs.every((i) => i.elementType === "float32"));
      assert.ok(
        b.outputs.every((o) => o.elementType === "float32" && castTo(o.name) === ONNX_DATA_TYPE.float32),
      );
      const inits = new Map(b.initializers.map((s) => [s.name, s]));
      // weights are float16, but for those only float32 ops read: the timestep embedding's and
      // the LayerNorms' scales
      const readers = (v: string) => b.nodes.filter((n) => n.inputs.includes(v)).map((n) => n.opType);
      let half = 0;
      for (const [name, spec] of inits) {
        if (spec.inline || !name.endsWith(".weight")) continue;
        const float32Only =
          name.startsWith("time_embedding.") || readers(name).every((op) => op === "LayerNormalization");
        // (with fp16 storage those are stored float16 too, and upcast by their Casts)
        const want = float32Only && weightStorage === "fp32" ? "float32" : "float16";
        assert.equal(spec.elementType, want, `${weightStorage} storage: ${name}`);
        if (!float32Only) half++;
      }
      assert.ok(half > 20, `${half} float16 weights`);
      for (const n of b.nodes.filter((n) => n.opType === "Softmax" || n.opType === "InstanceNormalization")) {
        assert.equal(castTo(n.inputs[0]), ONNX_DATA_TYPE.float32, `${n.name} input`);
      }
      for (const n of b.nodes.filter((n) => n.opType === "Conv" || n.opType === "MatMul")) {
        for (const i of n.inputs)
          assert.notEqual(inits.get(i)?.elementType, "float32", `${n.name} reads float32 ${i}`);
      }
      // with fp16 storage the weights' upcasts are gone, not turned into float16 → float16 Casts
      const halfToHalf = b.nodes.filter(
        (n) =>
          castTo(n.outputs[0]) === ONNX_DATA_TYPE.float16 &&
          inits.get(n.inputs[0])?.elementType === "float16",
      );
      assert.equal(halfToHalf.length, 0, `${weightStorage}: ${halfToHalf.length} float16 → float16 Casts`);
    }
  });

  test("refuses int8 layers, which have no fp16 form", () => {
    const int8 = buildUNetGraph(weights, config, { quantization: "int8", int8WeightBits: 8 });
    assert.throws(() => toFloat16Compute(int8), /does not combine with int8/);
  });

  test("--precision reaches a job's engine options only when given", () => {
    assert.equal(speedSettings(undefined, { precision: "fp16" }, undefined).speed?.precision, "fp16");
    assert.equal(speedSettings(undefined, {}, undefined).speed?.precision, undefined);
  });

  test("openPipeline: fp16 with int8 quantization is an error, an unknown precision too", async () => {
    await assert.rejects(
      openPipeline(MODEL, {
        runtime: { cache: false },
        speed: { precision: "fp16", unetQuantization: "int8" },
      }),
      /precision fp16 does not combine with int8/,
    );
    await assert.rejects(
      openPipeline(MODEL, { runtime: { cache: false }, speed: { precision: "fp8" as "fp16" } }),
      /unknown precision "fp8"/,
    );
  });
});

describe("fp16 on the WebGPU variant", () => {
  test("chosen only for an adapter with f16 shaders, never for the CPU by default", () => {
    assert.equal(graphVariantFor(["webgpu"], {}, { shaderF16: true }).computePrecision, "fp16");
    assert.equal(graphVariantFor(["webgpu"], {}, { shaderF16: false }).computePrecision, "fp32");
    assert.equal(graphVariantFor(["webgpu"], {}).computePrecision, "fp32");
    assert.equal(graphVariantFor(["cpu"], {}, { shaderF16: true }).computePrecision, "fp32");
    assert.equal(graphVariantFor(undefined, {}).computePrecision, "fp32");
    // what the user asks wins
    assert.equal(
      graphVariantFor(["webgpu"], { computePrecision: "fp32" }, { shaderF16: true }).computePrecision,
      "fp32",
    );
    assert.equal(graphVariantFor(["cpu"], { computePrecision: "fp16" }).computePrecision, "fp16");
  });

  test("fp16 leaves out BiasSplitGelu, whose WebGPU kernel fails in fp16; fp32 keeps every fused op", () => {
    const fp16 = graphVariantFor(["webgpu"], {}, { shaderF16: true }).fusedOps;
    assert.ok(!fp16.includes("biasSplitGelu"));
    assert.deepEqual([...fp16].sort(), WEBGPU_FUSED_OPS.filter((op) => op !== "biasSplitGelu").sort());
    assert.deepEqual(graphVariantFor(["webgpu"], {}, { shaderF16: false }).fusedOps, WEBGPU_FUSED_OPS);
    assert.ok(!graphVariantFor(["webgpu"], { computePrecision: "fp16" }).fusedOps.includes("biasSplitGelu"));
  });

  test("the SwiftShader adapter runs no f16 shader, so the webgpu variant stays float32 here", async () => {
    Object.assign(process.env, swiftShaderEnv());
    // When this fails, the adapter gained f16: run the fp16 graphs on WebGPU in the tests above.
    assert.equal(await webGpuRunsF16(onnxruntimeNode()), false);
  });
});
