/**
 * The exact default's conv algorithm (engine/conv-algorithm-choice.ts): what was asked for stands;
 * unset, Winograd only for a float32 UNet on the CPU with the RAM for it, direct everywhere else.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type ConvAlgorithmContext,
  chooseConvAlgorithm,
  DEFAULT_WINOGRAD,
  WINOGRAD_FROM_BYTES,
} from "../src/engine/conv-algorithm-choice.js";

const GIB = 2 ** 30;
const bigCpu: ConvAlgorithmContext = {
  executionProviders: undefined,
  unetQuantization: "none",
  attentionQuantization: "none",
  precision: undefined,
  totalMemoryBytes: 24 * GIB,
};

describe("chooseConvAlgorithm", () => {
  it("takes Winograd for a float UNet on the CPU with 16 GiB or more, and says why", () => {
    assert.deepEqual(chooseConvAlgorithm(undefined, bigCpu), {
      algorithm: DEFAULT_WINOGRAD,
      reason: "24.0 GiB of RAM",
    });
    assert.equal(DEFAULT_WINOGRAD, "winograd-f4-shallow");
    const cpuNamed = { ...bigCpu, executionProviders: ["cpu"], precision: "fp32" as const };
    assert.equal(chooseConvAlgorithm(undefined, cpuNamed).algorithm, DEFAULT_WINOGRAD);
    const atThreshold = { ...bigCpu, totalMemoryBytes: WINOGRAD_FROM_BYTES };
    assert.equal(chooseConvAlgorithm(undefined, atThreshold).algorithm, DEFAULT_WINOGRAD);
  });

  it("stays direct below 16 GiB, on other providers, for int8 and for fp16", () => {
    const cases: [Partial<ConvAlgorithmContext>, RegExp][] = [
      [{ totalMemoryBytes: WINOGRAD_FROM_BYTES - 1 }, /16\.0 GiB of RAM/],
      [{ totalMemoryBytes: 8 * GIB }, /8\.0 GiB of RAM/],
      [{ executionProviders: ["webgpu", "cpu"] }, /webgpu/],
      [{ executionProviders: ["dml"] }, /dml/],
      [{ unetQuantization: "int8" }, /int8/],
      [{ unetQuantization: "int8-linear" }, /int8/],
      [{ attentionQuantization: "int8" }, /int8/],
      [{ precision: "fp16" }, /fp16/],
    ];
    for (const [change, reason] of cases) {
      const choice = chooseConvAlgorithm(undefined, { ...bigCpu, ...change });
      assert.equal(choice.algorithm, "direct", JSON.stringify(change));
      assert.match(choice.reason, reason);
    }
  });

  it("keeps what was asked for, whatever the machine", () => {
    for (const asked of ["direct", "winograd-f2", "winograd-f4"] as const) {
      for (const ctx of [
        bigCpu,
        { ...bigCpu, totalMemoryBytes: 4 * GIB },
        { ...bigCpu, unetQuantization: "int8" },
      ]) {
        assert.deepEqual(chooseConvAlgorithm(asked, ctx), { algorithm: asked, reason: "asked for" });
      }
    }
  });
});
