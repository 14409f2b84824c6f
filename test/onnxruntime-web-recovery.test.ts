/**
 * The browser runtime's recovery from a failed WebGPU session creation (src/runtime/onnxruntime-web.ts),
 * in Node against a stand-in for onnxruntime-web 1.30 that keeps its "being created" mark as its wasm
 * glue does (post-webgpu.js): set when a WebGPU creation prepares its options, cleared after every
 * `_OrtCreateSession` that returns (failed ones included), left set by a creation that throws in between.
 * The real module in Chromium: test/browser-runtime.test.ts and test/browser-engine.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OnnxruntimeWeb, type OrtWebModule } from "../src/runtime/onnxruntime-web.js";

/** Model bytes whose creation throws out of the "wasm module" (a bare number, as a C++ exception). */
const THROWS = Uint8Array.of(1);
const MODEL = Uint8Array.of(2);

class FakeOrtWeb {
  marked = false;
  readonly calls: { bytes: Uint8Array; providers: unknown[] }[] = [];

  module(): OrtWebModule {
    const create = async (bytes: Uint8Array, options: { executionProviders: unknown[] }) => {
      this.calls.push({ bytes, providers: options.executionProviders });
      const webgpu = options.executionProviders.some(
        (p) => p === "webgpu" || (p as { name?: string }).name === "webgpu",
      );
      if (webgpu) {
        if (this.marked) throw new Error("another WebGPU EP inference session is being created.");
        this.marked = true;
      }
      if (bytes === THROWS) throw 5246024; // out before the mark is cleared
      this.marked = false; // webgpuOnCreateSession, after _OrtCreateSession returned
      if (bytes !== MODEL) throw new Error("Can't create a session. ERROR_CODE: 7, protobuf parsing failed.");
      return { inputNames: [], outputNames: [], release: async () => {} };
    };
    return { env: { wasm: {} }, Tensor: class {}, InferenceSession: { create } } as unknown as OrtWebModule;
  }
}

describe("onnxruntime-web runtime: a failed WebGPU creation does not stop later ones", () => {
  it("after a creation that threw, the next WebGPU session is created; the error is one line", async () => {
    const ort = new FakeOrtWeb();
    const runtime = new OnnxruntimeWeb(ort.module());
    await assert.rejects(
      runtime.createSession({ bytes: THROWS }, { executionProviders: ["webgpu"] }),
      /^Error: onnxruntime-web failed inside its wasm module \(C\+\+ exception 5246024;/,
    );
    assert.equal(ort.marked, false, "the mark was cleared");
    const clearing = ort.calls[1];
    assert.deepEqual(clearing.providers, ["wasm"], "cleared by a wasm-only creation");
    assert.notEqual(clearing.bytes, MODEL);
    const session = await runtime.createSession({ bytes: MODEL }, { executionProviders: ["webgpu"] });
    await session.release();
    assert.equal(ort.calls.length, 3);
  });

  it("a mark left by another caller: cleared and the creation tried once more", async () => {
    const ort = new FakeOrtWeb();
    ort.marked = true;
    const runtime = new OnnxruntimeWeb(ort.module());
    await runtime.createSession({ bytes: MODEL }, { executionProviders: ["webgpu", "wasm"] });
    assert.deepEqual(
      ort.calls.map((c) => (c.bytes === MODEL ? "model" : "clearing")),
      ["model", "clearing", "model"],
    );
  });

  it("a failure of the model itself is not retried; wasm-only failures clear nothing", async () => {
    const ort = new FakeOrtWeb();
    const runtime = new OnnxruntimeWeb(ort.module());
    await assert.rejects(
      runtime.createSession({ bytes: Uint8Array.of(3) }, { executionProviders: ["webgpu"] }),
      /protobuf parsing failed/,
    );
    assert.equal(ort.calls.length, 2, "the creation and the clearing, no retry");
    await assert.rejects(
      runtime.createSession({ bytes: THROWS }, { executionProviders: ["wasm"] }),
      /C\+\+ exception 5246024/,
    );
    assert.equal(ort.calls.length, 3, "no clearing after a wasm-only creation");
  });
});
