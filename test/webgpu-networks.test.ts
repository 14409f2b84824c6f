/**
 * Every network of the tiny SD1.5 fixture on onnxruntime-node's WebGPU provider (SwiftShader, see
 * helpers/webgpu-adapter.ts) against the CPU provider, and the reason the WebGPU variant uses
 * matmul attention: the fused MultiHeadAttention is wrong on this adapter. SwiftShader compiles
 * shaders slowly, so the inputs are the smallest the model takes (8x8 latents, 64x64 pixels).
 * Each network runs in both of the provider's layouts (SessionOptions.webgpuLayout): NHWC, the WebGPU
 * variant's and onnxruntime's default, and NCHW, the other side of a layout A/B on a GPU.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type OpenedPipeline, openPipeline } from "../src/engine/open-pipeline.js";
import { GraphBuilder } from "../src/graph/graph-builder.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { WEBGPU_LAYOUTS, type WebGpuLayout } from "../src/runtime/runtime.js";
import { fixturePath } from "./helpers/fixtures.js";
import { lcg31Values } from "./helpers/test-values.js";
import { swiftShaderEnv } from "./helpers/webgpu-adapter.js";

const MODEL = fixturePath("models", "tiny-sd15");
const SHAPE = [1, 4, 8, 8] as const;

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

const ids = Int32Array.from({ length: 77 }, (_, i) => (i === 0 ? 49406 : i < 6 ? 320 + i * 17 : 49407));

describe("WebGPU networks match the CPU (tiny SD1.5, SwiftShader)", () => {
  let cpu: OpenedPipeline;
  before(async () => {
    Object.assign(process.env, swiftShaderEnv());
    cpu = await openPipeline(MODEL, { runtime: { cache: false, threads: 1 } });
  });
  after(async () => {
    await cpu?.close();
  });

  for (const layout of WEBGPU_LAYOUTS) {
    describe(`layout ${layout}`, () => {
      let gpu: OpenedPipeline;
      before(async () => {
        gpu = await openPipeline(MODEL, {
          runtime: { cache: false, executionProviders: ["webgpu"], webgpuLayout: layout },
        });
      });
      after(async () => {
        await gpu?.close();
      });

      test("text encoder: hidden states within 1e-4", async () => {
        const want = await cpu.models.textEncoder.encode(ids, 1, 1);
        const got = await gpu.models.textEncoder.encode(ids, 1, 1);
        const d = maxDiff(want, got);
        assert.ok(d < 1e-4, `text encoder differs by ${d}`);
      });

      test("UNet: noise prediction within 1e-4", async () => {
        const input = {
          sample: lcg31Values(1 * 4 * 8 * 8, 1),
          shape: SHAPE,
          timestep: Float32Array.of(500),
          context: lcg31Values(77 * 32, 2),
          tokens: 77,
        };
        const want = await cpu.models.unet.predict(input);
        const got = await gpu.models.unet.predict(input);
        const d = maxDiff(want, got);
        assert.ok(d < 1e-4, `UNet differs by ${d}`);
      });

      // The VAE's GroupNorms sum over whole images in another order on the GPU: measured 2.0e-4 on a
      // [-1, 1] image, so 1e-3 (0.13 of an 8-bit level) for both directions.
      test("VAE decode and encode (mean) within 1e-3", async () => {
        const latents = lcg31Values(1 * 4 * 8 * 8, 3);
        const d = maxDiff(
          await cpu.models.vae.decode(latents, SHAPE),
          await gpu.models.vae.decode(latents, SHAPE),
        );
        assert.ok(d < 1e-3, `VAE decode differs by ${d}`);
        const image = lcg31Values(1 * 3 * 64 * 64, 4);
        const want = await cpu.models.vae.encode(image, [1, 3, 64, 64]);
        const got = await gpu.models.vae.encode(image, [1, 3, 64, 64]);
        const e = maxDiff(want.mean, got.mean);
        assert.ok(e < 1e-3, `VAE encode differs by ${e}`);
      });
    });
  }

  test("why WebGPU gets matmul attention: the fused MultiHeadAttention text encoder is wrong here", async () => {
    const mha = await openPipeline(MODEL, {
      runtime: { cache: false, executionProviders: ["webgpu"] },
      speed: { attention: "mha" },
    });
    try {
      const want = await cpu.models.textEncoder.encode(ids, 1, 1);
      const d = maxDiff(want, await mha.models.textEncoder.encode(ids, 1, 1));
      // When this fails, onnxruntime fixed the kernel: give webgpu MultiHeadAttention again (graph-variant.ts).
      assert.ok(d > 0.01, `MultiHeadAttention on WebGPU now matches the CPU (differs by ${d})`);
    } finally {
      await mha.close();
    }
  });
});

describe("webgpuLayout reaches onnxruntime-node's WebGPU provider (SwiftShader)", () => {
  before(() => {
    Object.assign(process.env, swiftShaderEnv());
  });

  // test/webgpu-layout.test.ts sees the option handed over; here onnxruntime's own parser answers
  test("a layout it does not know is refused by the provider itself; both known ones run", async () => {
    const b = new GraphBuilder("add-one");
    const x = b.input("x", "float32", [2]);
    b.output(b.node("Add", [x, b.constScalar(1)]), "y", "float32", [2]);
    const model = serializeModel(b);
    const runtime = onnxruntimeNode();
    await assert.rejects(
      runtime.createSession(model, { executionProviders: ["webgpu"], webgpuLayout: "nhwc" as WebGpuLayout }),
      /Invalid preferred layout: nhwc/,
    );
    for (const webgpuLayout of WEBGPU_LAYOUTS) {
      const session = await runtime.createSession(model, { executionProviders: ["webgpu"], webgpuLayout });
      try {
        const out = await session.run({ x: { dims: [2], data: Float32Array.of(1, 2) } });
        assert.deepEqual([...out.y.data], [2, 3], webgpuLayout);
      } finally {
        await session.release();
      }
    }
  });
});
