/**
 * Device-resident inputs on onnxruntime-node's WebGPU provider (SwiftShader, helpers/webgpu-adapter.ts):
 * the runtime seam's DeviceTensor (made by a session's device output, fed to another session, disposed),
 * the UNet's text embeddings uploaded once per generation instead of once per step with the image
 * byte-equal to feeding them every step, no device tensor left behind over several generations, and
 * WebGPU's default of loading one network at a time. 64x64 images: SwiftShader is slow.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DeviceResidentFeeds } from "../src/engine/device-resident-feeds.js";
import { type OpenedPipeline, openPipeline } from "../src/engine/open-pipeline.js";
import { chooseSequentialLoading, KEEP_LOADED_FROM_BYTES } from "../src/engine/sequential-loading.js";
import { GraphBuilder } from "../src/graph/graph-builder.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { generate } from "../src/pipeline/generate.js";
import type { GenerationRequest } from "../src/pipeline/request.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { isDeviceTensor } from "../src/runtime/runtime.js";
import { fixturePath } from "./helpers/fixtures.js";
import { swiftShaderEnv } from "./helpers/webgpu-adapter.js";

const MODEL = fixturePath("models", "tiny-sd15");
const WEBGPU = { executionProviders: ["webgpu"] };

const request = (prompt: string, seed: number): GenerationRequest => ({
  prompt,
  negativePrompt: "blurry",
  sampler: "Euler",
  steps: 3,
  guidance: 7.5,
  seed,
  width: 64,
  height: 64,
});

/** x → x + 1 on the device: reads a device tensor back through a session with a CPU output. */
function addOneModel() {
  const g = new GraphBuilder("add_one");
  const x = g.input("x", "float32", ["n"]);
  const one = g.initializer({ name: "one", elementType: "float32", dims: [1], data: Float32Array.of(1) });
  g.output(g.node("Add", [x, one], {}), "y", "float32", ["n"]);
  return serializeModel(g);
}

describe("device-resident feeds on WebGPU (tiny SD1.5, SwiftShader)", () => {
  const runtime = onnxruntimeNode();
  let resident: OpenedPipeline;
  let plain: OpenedPipeline;
  before(async () => {
    Object.assign(process.env, swiftShaderEnv());
    // everything kept loaded: sequential loading would rebuild and recompile every network per image
    const memory = { lowMemory: false };
    resident = await openPipeline(MODEL, { runtime: { cache: false, ...WEBGPU }, memory });
    plain = await openPipeline(MODEL, {
      runtime: { cache: false, ...WEBGPU, deviceResidentFeeds: false },
      memory,
    });
  });
  after(async () => {
    await resident?.close();
    await plain?.close();
  });

  test("the runtime seam: an upload stays on the device, feeds another session exactly, and is disposed", async () => {
    assert.equal(runtime.deviceTensors?.(WEBGPU), true);
    assert.equal(runtime.deviceTensors?.({ executionProviders: ["cpu"] }), false);
    await assert.rejects(
      runtime.createSession(addOneModel(), { executionProviders: ["cpu"], deviceOutputs: ["y"] }),
      /device memory/,
    );
    const feeds = new DeviceResidentFeeds(runtime, WEBGPU);
    const reader = await runtime.createSession(addOneModel(), WEBGPU);
    const live = runtime.liveDeviceTensors?.() ?? Number.NaN;
    try {
      const values = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 1e3);
      const onDevice = await feeds.feed(values, [values.length]);
      assert.ok(isDeviceTensor(onDevice));
      assert.equal(runtime.liveDeviceTensors?.(), live + 1);
      const back = (await reader.run({ x: onDevice }, ["y"])).y.data as Float32Array;
      assert.deepEqual(
        back,
        values.map((v) => v + 1),
      );
      // the same array again is the same tensor; changed in place, it is uploaded again
      assert.equal(await feeds.feed(values, [values.length]), onDevice);
      values[5] = 42;
      const changed = await feeds.feed(values, [values.length]);
      assert.notEqual(changed, onDevice);
      assert.equal(onDevice.disposed, true);
      assert.equal(((await reader.run({ x: changed }, ["y"])).y.data as Float32Array)[5], 43);
      assert.deepEqual(feeds.stats, { uploads: 2, reuses: 1 });
      await assert.rejects(reader.run({ x: onDevice }, ["y"]), /disposed/);
    } finally {
      await feeds.release();
      await reader.release();
    }
    assert.equal(runtime.liveDeviceTensors?.(), live);
  });

  test("embeddings uploaded once per generation, image byte-equal to feeding them every step", async () => {
    assert.equal(plain.deviceFeeds, undefined);
    const want = await generate(plain.models, request("a red cube", 5));
    const got = await generate(resident.models, request("a red cube", 5));
    assert.deepEqual(got[0].image.data, want[0].image.data);
    // cond and uncond go to the UNet as one batch: one context, uploaded at step 1, reused at 2 and 3
    assert.deepEqual(resident.deviceFeeds, { uploads: 1, reuses: 2 });
  });

  test("prompt editing uploads each conditioning once; no device tensor is left over N generations", async () => {
    const live = runtime.liveDeviceTensors?.() ?? Number.NaN;
    const before = { ...resident.deviceFeeds };
    const n = 2;
    for (let k = 0; k < n; k++) {
      const want = await generate(plain.models, request("a [red:blue:1] cube", 10 + k));
      const got = await generate(resident.models, request("a [red:blue:1] cube", 10 + k));
      assert.deepEqual(got[0].image.data, want[0].image.data);
      assert.equal(runtime.liveDeviceTensors?.(), live, `generation ${k + 1} left device tensors behind`);
    }
    // A1111's [from:to:1]: "red" for steps 1-2, "blue" for step 3: two uploads and one reuse per generation
    assert.deepEqual(resident.deviceFeeds, {
      uploads: (before.uploads ?? 0) + 2 * n,
      reuses: (before.reuses ?? 0) + n,
    });
  });

  test("WebGPU loads one network at a time unless the adapter reports enough memory; the CPU keeps all", async () => {
    // sessions load on first use, so opening costs no shader compilation; SwiftShader reports no video memory
    const gpu = await openPipeline(MODEL, { runtime: { cache: false, ...WEBGPU } });
    const cpu = await openPipeline(MODEL, { runtime: { cache: false } });
    try {
      assert.deepEqual(gpu.loading, { sequential: true, reason: "webgpu: the adapter's memory is unknown" });
      assert.equal(cpu.loading.sequential, false);
      assert.equal(cpu.deviceFeeds, undefined);
    } finally {
      await gpu.close();
      await cpu.close();
    }
    const adapter = (memoryBytes?: number) => () => ({ api: "vulkan" as const, memoryBytes });
    assert.equal(chooseSequentialLoading(undefined, ["webgpu"], adapter(4 * 2 ** 30)).sequential, true);
    assert.equal(
      chooseSequentialLoading(undefined, ["webgpu"], adapter(KEEP_LOADED_FROM_BYTES)).sequential,
      false,
    );
    assert.equal(chooseSequentialLoading(false, ["webgpu"], adapter()).sequential, false);
    assert.equal(chooseSequentialLoading(true, ["cpu"], adapter()).sequential, true);
    assert.equal(chooseSequentialLoading(undefined, ["cpu"], adapter()).sequential, false);
  });
});
