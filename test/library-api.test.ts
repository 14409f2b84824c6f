/** The public entry point alone is enough to open a model, generate, and write a PNG with its parameters. */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  decodePngRgb,
  encodePng,
  formatInfotext,
  GenerationCancelled,
  generate,
  InvalidRequestError,
  openPipeline,
  parseInfotext,
  readPngText,
} from "../src/index.js";
import { fixturePath } from "./helpers/fixtures.js";

test("library API: openPipeline + generate + PNG with parameters, validation and cancellation", async () => {
  const pipeline = await openPipeline(fixturePath("models/tiny-sd15"), {
    runtime: { cache: false, threads: 1 },
  });
  try {
    const request = {
      prompt: "a photo of a cat",
      sampler: "Euler a",
      steps: 4,
      guidance: 7.5,
      seed: 42,
      width: 64,
      height: 64,
    };
    const [result] = await generate(pipeline.models, request);
    const text = formatInfotext({
      prompt: request.prompt,
      steps: 4,
      sampler: "Euler a",
      cfgScale: 7.5,
      seed: 42,
      width: 64,
      height: 64,
    });
    const png = encodePng({ ...result.image, channels: 3 }, { parameters: text });
    assert.deepEqual(decodePngRgb(png).image.data, result.image.data);
    assert.equal(parseInfotext(readPngText(png).parameters).parameters.Seed, 42);

    const { image: expected } = decodePngRgb(
      new Uint8Array(
        await import("node:fs").then((fs) => fs.readFileSync(fixturePath("pipelines/txt2img_euler_a_4.png"))),
      ),
    );
    let worst = 0;
    for (let i = 0; i < expected.data.length; i++)
      worst = Math.max(worst, Math.abs(expected.data[i] - result.image.data[i]));
    assert.ok(worst <= 1, `image differs from the diffusers fixture by ${worst} levels`);

    await assert.rejects(generate(pipeline.models, { ...request, width: 63 }), InvalidRequestError);
    const controller = new AbortController();
    await assert.rejects(
      generate(pipeline.models, request, {
        signal: controller.signal,
        onProgress: (p) => p.step === 2 && controller.abort(),
      }),
      GenerationCancelled,
    );
  } finally {
    await pipeline.close();
  }
});
