/**
 * The WebGPU provider's layout (SessionOptions.webgpuLayout, onnxruntime's `preferredLayout`) from
 * the engine option through the graph variant to each session, and from the Runtime seam into
 * onnxruntime's session options (Node and web). No adapter here: whether onnxruntime acts on it is
 * test/webgpu-networks.test.ts's (both layouts against the CPU, and a layout onnxruntime refuses).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { openPipeline } from "../src/engine/open-pipeline.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { OnnxruntimeWeb, type OrtWebModule } from "../src/runtime/onnxruntime-web.js";
import {
  executionProviderConfigs,
  type ModelSource,
  type Runtime,
  type Session,
  type SessionOptions,
  type WebGpuLayout,
} from "../src/runtime/runtime.js";
import { fixturePath } from "./helpers/fixtures.js";

const MODEL = fixturePath("models", "tiny-sd15");
const ids = Int32Array.from({ length: 77 }, (_, i) => (i === 0 ? 49406 : i < 6 ? 320 + i * 17 : 49407));

describe("the Runtime seam hands webgpuLayout to onnxruntime as preferredLayout", () => {
  it("executionProviderConfigs (onnxruntime-node and -web): on the webgpu provider only; absent, the provider keeps its default", () => {
    assert.deepEqual(executionProviderConfigs(["webgpu", "cpu"], "NCHW"), [
      { name: "webgpu", preferredLayout: "NCHW" },
      "cpu",
    ]);
    assert.deepEqual(executionProviderConfigs(["webgpu"], "NHWC"), [
      { name: "webgpu", preferredLayout: "NHWC" },
    ]);
    assert.deepEqual(executionProviderConfigs(["webgpu", "cpu"]), ["webgpu", "cpu"]);
    assert.deepEqual(executionProviderConfigs(["cpu"], "NCHW"), ["cpu"]);
  });

  it("onnxruntime-web: the session options InferenceSession.create gets", async () => {
    const created: unknown[] = [];
    const fakeSession = { inputNames: [], outputNames: [], release: async () => {} };
    const ort = {
      env: { wasm: {} },
      Tensor: class {},
      InferenceSession: {
        create: async (_bytes: Uint8Array, options: unknown) => {
          created.push(options);
          return fakeSession;
        },
      },
    } as unknown as OrtWebModule;
    const runtime = new OnnxruntimeWeb(ort);
    const model = { bytes: new Uint8Array(1) };
    for (const webgpuLayout of ["NCHW", "NHWC", undefined] as const)
      await runtime.createSession(model, { executionProviders: ["webgpu", "wasm"], webgpuLayout });
    await runtime.createSession(model, { executionProviders: ["wasm"], webgpuLayout: "NCHW" });
    const providers = created.map((o) => (o as { executionProviders: unknown }).executionProviders);
    assert.deepEqual(providers, [
      [{ name: "webgpu", preferredLayout: "NCHW" }, "wasm"],
      [{ name: "webgpu", preferredLayout: "NHWC" }, "wasm"],
      ["webgpu", "wasm"],
      ["wasm"],
    ]);
  });
});

/**
 * Says it has "webgpu" and runs every session on onnxruntime-node's CPU provider, keeping the
 * options each session was asked for.
 */
class WebGpuOnCpuRuntime implements Runtime {
  readonly name = "webgpu on the cpu";
  readonly asked: SessionOptions[] = [];

  availableProviders(): string[] {
    return ["cpu", "webgpu"];
  }

  createSession(model: ModelSource, options: SessionOptions = {}): Promise<Session> {
    this.asked.push(options);
    return onnxruntimeNode().createSession(model, {
      ...options,
      executionProviders: ["cpu"],
      webgpuLayout: undefined,
      intraOpNumThreads: 1,
    });
  }
}

describe("the pipeline's sessions get the WebGPU variant's layout", () => {
  async function askedLayouts(
    executionProviders: string[],
    webgpuLayout?: string,
  ): Promise<(WebGpuLayout | undefined)[]> {
    const backend = new WebGpuOnCpuRuntime();
    const pipeline = await openPipeline(MODEL, {
      runtime: {
        backend,
        cache: false,
        executionProviders,
        webgpuLayout: webgpuLayout as WebGpuLayout | undefined,
      },
      // no adapter to ask about f16 shaders or memory
      speed: { precision: "fp32" },
      memory: { lowMemory: false },
    });
    try {
      // the text encoder's WebGPU graph (matmul attention, QuickGelu) also runs on the CPU
      await pipeline.models.textEncoder.encode(ids, 1, 1);
    } finally {
      await pipeline.close();
    }
    assert.ok(backend.asked.length > 0, "a session was created");
    return backend.asked.map((o) => o.webgpuLayout);
  }

  it("NHWC by default on webgpu (onnxruntime's own default, stated); NCHW when asked", async () => {
    const byDefault = await askedLayouts(["webgpu"]);
    assert.deepEqual(new Set(byDefault), new Set(["NHWC"]));
    const asked = await askedLayouts(["webgpu", "cpu"], "NCHW");
    assert.deepEqual(new Set(asked), new Set(["NCHW"]));
  });

  it("no layout on the CPU, whatever is asked (the CPU provider has none to choose)", async () => {
    const asked = await askedLayouts(["cpu"], "NCHW");
    assert.deepEqual(new Set(asked), new Set([undefined]));
  });

  it("refuses a layout onnxruntime does not know before creating any session", async () => {
    const backend = new WebGpuOnCpuRuntime();
    await assert.rejects(
      openPipeline(MODEL, {
        runtime: {
          backend,
          cache: false,
          executionProviders: ["webgpu"],
          webgpuLayout: "nhwc" as WebGpuLayout,
        },
        speed: { precision: "fp32" },
        memory: { lowMemory: false },
      }),
      /webgpuLayout must be NCHW or NHWC, not "nhwc"/,
    );
    assert.equal(backend.asked.length, 0);
  });
});
