import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { onnxruntimeNode, physicalCoreCount } from "../src/runtime/onnxruntime-node.js";
import { ExecutionProviderError } from "../src/runtime/runtime.js";
import { mixedTypesModel } from "./helpers/mixed-types-model.js";

describe("onnxruntime-node runtime", () => {
  const runtime = onnxruntimeNode();

  it("runs float32, int32 and int64 tensors through a session and returns plain typed arrays", async () => {
    const session = await runtime.createSession(mixedTypesModel(), { intraOpNumThreads: 1 });
    try {
      assert.deepEqual(session.inputNames, ["ids", "x", "ids64"]);
      assert.deepEqual(session.outputNames, ["y", "z"]);
      const out = await session.run({
        ids: { dims: [3], data: Int32Array.of(1, 2, 49407) },
        x: { dims: [3], data: Float32Array.of(0.5, -1, 0) },
        ids64: { dims: [3], data: BigInt64Array.of(5n, -7n, 2n ** 40n) },
      });
      assert.ok(out.y.data instanceof Float32Array);
      assert.deepEqual([...out.y.data], [2.5, 3, 98814]);
      assert.ok(out.z.data instanceof BigInt64Array);
      assert.deepEqual([...out.z.data], [6n, -6n, 2n ** 40n + 1n]);
      const onlyY = await session.run(
        {
          ids: { dims: [1], data: Int32Array.of(4) },
          x: { dims: [1], data: Float32Array.of(1) },
          ids64: { dims: [1], data: BigInt64Array.of(0n) },
        },
        ["y"],
      );
      assert.deepEqual(Object.keys(onlyY), ["y"]);
      assert.deepEqual([...onlyY.y.data], [9]);
    } finally {
      await session.release();
    }
  });

  it("says which input has the wrong number of values", async () => {
    const session = await runtime.createSession(mixedTypesModel());
    await assert.rejects(
      session.run({
        ids: { dims: [2], data: Int32Array.of(1) },
        x: { dims: [2], data: Float32Array.of(1, 2) },
        ids64: { dims: [2], data: BigInt64Array.of(1n, 2n) },
      }),
      /input "ids": 1 values for dims \[2\] \(expected 2\)/,
    );
    await session.release();
  });

  it("fails with an error naming an unknown execution provider and the available ones", async () => {
    await assert.rejects(
      runtime.createSession(mixedTypesModel(), { executionProviders: ["quantum-tpu"] }),
      (err) => {
        assert.ok(err instanceof ExecutionProviderError);
        assert.equal(err.provider, "quantum-tpu");
        assert.ok(err.available.includes("cpu"), `cpu among ${err.available.join(", ")}`);
        assert.match(err.message, /execution provider "quantum-tpu" is not available .*\(available: .*cpu/);
        return true;
      },
    );
  });

  it("lists cpu among its providers and counts at least one physical core", () => {
    assert.ok(runtime.availableProviders().includes("cpu"));
    const cores = physicalCoreCount();
    assert.ok(Number.isInteger(cores) && cores >= 1, `physical cores: ${cores}`);
  });
});
