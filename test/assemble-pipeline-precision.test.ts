/**
 * assemblePipeline checks the compute precision for every caller, the browser engine
 * (web/src/local/local-engine.ts) included, not only openPipeline: an unknown precision and fp16
 * with int8 layers are refused before any network is built, with openPipeline's messages.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { assemblePipeline, checkedPrecision } from "../src/engine/assemble-pipeline.js";
import type { EngineOptions } from "../src/engine/engine-options.js";
import { mergeLoadedLoras } from "../src/engine/lora-merged-weights.js";
import type { NetworkContext } from "../src/engine/networks/network-factory.js";
import type { ClipTokenizer } from "../src/tokenizer/clip-tokenizer.js";
import { loadModel } from "../src/weights/load-model.js";
import type { LoadedWeightsModel } from "../src/weights/loaded-model.js";
import { fixturePath } from "./helpers/fixtures.js";

describe("assemblePipeline checks the precision (the browser engine's path too)", () => {
  const model = loadModel(fixturePath("models/tiny-sd15")) as LoadedWeightsModel;
  after(() => model.close());
  // never reached: the checks come first, so a context nothing can run on is enough
  const ctx = {} as NetworkContext;
  const tokenizer = {} as ClipTokenizer;
  const assemble = (options: EngineOptions) =>
    assemblePipeline(model, ctx, tokenizer, mergeLoadedLoras(model, []), options);

  test("an unknown precision is refused, naming the choices", () => {
    assert.throws(
      () => assemble({ speed: { precision: "fp8" as "fp16" } }),
      /unknown precision "fp8" \(expected fp32, fp16\)/,
    );
  });

  test("fp16 with int8 layers is refused", () => {
    assert.throws(
      () => assemble({ speed: { precision: "fp16", unetQuantization: "int8" } }),
      /precision fp16 does not combine with int8 quantization/,
    );
  });

  test("checkedPrecision: unset stays unset, int8 layers make it fp32, a valid choice is kept", () => {
    assert.equal(checkedPrecision({}), undefined);
    assert.equal(checkedPrecision({ speed: { precision: "fp16" } }), "fp16");
    assert.equal(checkedPrecision({ speed: { precision: "fp32" } }), "fp32");
    assert.equal(checkedPrecision({ speed: { vaeQuantization: "int8" } }), "fp32");
  });
});
