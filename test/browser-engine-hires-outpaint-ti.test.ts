/**
 * The in-tab engine (web/src/local/local-engine.ts, built) in Chromium on onnxruntime-web's wasm
 * backend, against the job run of the same request on onnxruntime-node's CPU (`sdlite generate`,
 * the server): A1111's hires fix with a Latent mode and with a resampler (the second pass cut to a
 * `Hires resize` size), outpainting as the page prepares it, and textual-inversion embeddings
 * (.safetensors and .pt). Each: the same infotext and pixels within 1 level (the tolerance of
 * test/browser-engine.test.ts's wasm runs).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { JobHires } from "../src/pipeline/hires-fix.js";
import {
  assertSameImage,
  type EnginePage,
  nodeRun,
  openEnginePage,
  type PageRequest,
  runInPage,
} from "./helpers/in-tab-engine.js";

const REQUEST: PageRequest = {
  prompt: "a red ball on a table",
  negativePrompt: "blurry",
  steps: 3,
  cfgScale: 7,
  width: 64,
  height: 64,
  seed: 42,
  sampler: "Euler a",
};

/** The job's request for REQUEST's settings. */
const JOB_REQUEST = {
  prompt: REQUEST.prompt,
  negativePrompt: REQUEST.negativePrompt,
  steps: REQUEST.steps,
  guidance: REQUEST.cfgScale,
  width: REQUEST.width,
  height: REQUEST.height,
  seed: REQUEST.seed,
  sampler: REQUEST.sampler,
};

describe("the in-tab engine's hires fix, outpainting and embeddings make the Node CPU's image (tiny SD1.5, Chromium, wasm)", () => {
  let engine: EnginePage;

  before(async () => {
    engine = await openEnginePage();
  });
  after(async () => {
    await engine?.close();
  });

  test("hires fix, Latent ×2 (2 second-pass steps, strength 0.6): 128x128, same infotext with its Hires entries, pixels within 1 level", async () => {
    const hires: JobHires = { upscaler: "Latent", scale: 2, steps: 2, denoisingStrength: 0.6 };
    const node = await nodeRun({ request: JOB_REQUEST, hires });
    assert.match(
      node.infotext,
      /Denoising strength: 0\.6, .*Hires upscale: 2, Hires steps: 2, Hires upscaler: Latent/,
    );
    const result = await runInPage(engine.page, "wasm", { ...REQUEST, hires });
    assertSameImage(result, { ...node }, 1, "hires Latent x2");
    assert.deepEqual([node.width, node.height], [128, 128]);
  });

  test("hires fix, Lanczos to 96x72 (enlarged to 96x96, cut to 96x72): same infotext, pixels within 1 level", async () => {
    const hires: JobHires = {
      upscaler: "Lanczos",
      resizeX: 96,
      resizeY: 72,
      steps: 2,
      denoisingStrength: 0.5,
    };
    const node = await nodeRun({ request: JOB_REQUEST, hires });
    assert.match(node.infotext, /Hires resize: 96x72, Hires steps: 2, Hires upscaler: Lanczos/);
    const result = await runInPage(engine.page, "wasm", { ...REQUEST, hires });
    assertSameImage(result, node, 1, "hires Lanczos 96x72");
    assert.deepEqual([node.width, node.height], [96, 72]);
  });

  test("hires fix with an upscaler that needs a model file is refused in words", async () => {
    await assert.rejects(
      runInPage(engine.page, "wasm", { ...REQUEST, hires: { upscaler: "4x-UltraSharp", scale: 2 } }),
      /hires upscaler "4x-UltraSharp" needs a model file; in the browser: the Latent modes, None, Lanczos, Nearest/,
    );
  });
});
