/** Batches, seeds and generators: image i of a batch is the single-image run with seed + i, for both RNGs. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type OpenedPipeline, openPipeline } from "../src/engine/open-pipeline.js";
import { generate } from "../src/pipeline/generate.js";
import type { GenerationRequest } from "../src/pipeline/request.js";
import { fixturePath } from "./helpers/fixtures.js";

let pipeline: OpenedPipeline;
before(async () => {
  pipeline = await openPipeline(fixturePath("models/tiny-sd15"), { runtime: { cache: false, threads: 1 } });
});
after(async () => pipeline?.close());

const base: GenerationRequest = {
  prompt: "a photo of a cat",
  sampler: "Euler a", // stochastic: step noise must come from each image's own generator
  steps: 3,
  guidance: 7.5,
  seed: 10,
  width: 64,
  height: 64,
};

describe("batches", () => {
  for (const rng of ["cpu", "nv"] as const) {
    it(`rng ${rng}: batch size 2 x count 2 gives seeds 10..13, each equal to its single run`, async () => {
      const batch = await generate(pipeline.models, { ...base, rng, batchSize: 2, batchCount: 2 });
      assert.deepEqual(
        batch.map((b) => b.seed),
        [10, 11, 12, 13],
      );
      for (const item of batch) {
        const [single] = await generate(pipeline.models, { ...base, rng, seed: item.seed });
        assert.deepEqual(item.image.data, single.image.data, `seed ${item.seed}`);
      }
      assert.notDeepEqual(batch[0].image.data, batch[1].image.data);
    });
  }

  it("the NV (Philox) generator gives a different image than the CPU one for the same seed", async () => {
    const [cpu] = await generate(pipeline.models, { ...base, rng: "cpu" });
    const [nv] = await generate(pipeline.models, { ...base, rng: "nv" });
    assert.notDeepEqual(cpu.image.data, nv.image.data);
  });
});
