/**
 * The in-tab engine (web/src/local/local-engine.ts, built) in Chromium on onnxruntime-web's wasm
 * backend (the hires fix also on WebGPU, SwiftShader's adapter, within 2 levels), against the job run of the same request on onnxruntime-node's CPU (`sdlite generate`,
 * the server): A1111's hires fix with a Latent mode and with a resampler (the second pass cut to a
 * `Hires resize` size), outpainting as the page prepares it, and textual-inversion embeddings
 * (.safetensors and .pt). Each: the same infotext and pixels within 1 level (the tolerance of
 * test/browser-engine.test.ts's wasm runs).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { outpaintCanvas } from "../src/image/outpaint-canvas.js";
import type { InpaintSettings } from "../src/pipeline/a1111-inpainting.js";
import type { JobHires } from "../src/pipeline/hires-fix.js";
import { encodeImage } from "../src/pipeline/job-image.js";
import { writeSafetensors } from "../src/weights/formats/safetensors-writer.js";
import {
  assertSameImage,
  type EnginePage,
  jobRequestOf,
  maxLevels,
  nodeRun,
  openEnginePage,
  rgba,
  runInPage,
  TINY_REQUEST,
} from "./helpers/in-tab-engine.js";
import { writeTorchPickle } from "./helpers/torch-checkpoint-writer.js";

/** The tiny model's text encoder width. */
const HIDDEN = 32;

/** The job's request for TINY_REQUEST's settings. */
const JOB_REQUEST = jobRequestOf(TINY_REQUEST);

/** A 64x48 RGB gradient to outpaint. */
const INIT = {
  width: 64,
  height: 48,
  data: Uint8Array.from({ length: 64 * 48 * 3 }, (_, i) => {
    const p = Math.floor(i / 3);
    return ((p % 64) * 4 + Math.floor(p / 64) * 3 + (i % 3) * 70) & 255;
  }),
};

describe("the in-tab engine's hires fix, outpainting and embeddings make the Node CPU's image (tiny SD1.5, Chromium, wasm and WebGPU)", () => {
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
    const result = await runInPage(engine.page, "wasm", { ...TINY_REQUEST, hires });
    assertSameImage(result, { ...node }, 1, "hires Latent x2");
    assert.deepEqual([node.width, node.height], [128, 128]);
  });

  test("hires fix, Latent ×2 on WebGPU (SwiftShader): same infotext, pixels within 2 levels (test/browser-engine.test.ts's WebGPU tolerance)", async () => {
    const hires: JobHires = { upscaler: "Latent", scale: 2, steps: 2, denoisingStrength: 0.6 };
    const node = await nodeRun({ request: JOB_REQUEST, hires });
    const result = await runInPage(engine.page, "webgpu", { ...TINY_REQUEST, hires });
    assertSameImage(result, node, 2, "hires Latent x2, WebGPU");
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
    const result = await runInPage(engine.page, "wasm", { ...TINY_REQUEST, hires });
    assertSameImage(result, node, 1, "hires Lanczos 96x72");
    assert.deepEqual([node.width, node.height], [96, 72]);
  });

  test("hires fix with an upscaler that needs a model file is refused in words", async () => {
    await assert.rejects(
      runInPage(engine.page, "wasm", { ...TINY_REQUEST, hires: { upscaler: "4x-UltraSharp", scale: 2 } }),
      /hires upscaler "4x-UltraSharp" needs a model file; in the browser: the Latent modes, None, Lanczos, Nearest/,
    );
  });

  test("outpainting as the page sends it (20 px on the left: an 88x48 canvas and its mask, mask blur 2, fill): the server's image and infotext, pixels within 1 level", async () => {
    // what InitImagePanel sends in both modes (web/src/init-image.ts): the image on its canvas
    const canvas = outpaintCanvas(INIT, { left: 20, right: 0, up: 0, down: 0 }, 2, 2);
    assert.deepEqual([canvas.image.width, canvas.image.height], [88, 48]);
    const inpaint: InpaintSettings = {
      maskBlurX: 2,
      maskBlurY: 2,
      maskedContent: "fill",
      fullRes: false,
      fullResPadding: 32,
      invertMask: false,
    };
    const sized = { ...JOB_REQUEST, width: 88, height: 48, strength: 0.75 };
    // the server's job for that body: an ordinary inpainting of the canvas
    const node = await nodeRun({
      request: {
        ...sized,
        initImage: encodeImage(canvas.image, 3),
        mask: encodeImage(canvas.mask, 1),
        inpaint,
      },
    });
    assert.match(
      node.infotext,
      /Size: 88x48, .*Denoising strength: 0\.75, .*Mask blur: 2, Masked content: fill/,
    );
    // and `sdlite generate --outpaint left=20` makes the same image from the image itself
    const cli = await nodeRun({
      request: { ...sized, initImage: encodeImage(INIT, 3), outpaint: { left: 20 }, inpaint },
    });
    assert.equal(cli.infotext, node.infotext);
    assert.equal(maxLevels(cli.pixels, node.pixels), 0);

    const result = await runInPage(engine.page, "wasm", {
      ...TINY_REQUEST,
      width: 88,
      height: 48,
      initImage: { width: 88, height: 48, data: Array.from(rgba(canvas.image.data)) },
      mask: { width: 88, height: 48, data: Array.from(rgba(canvas.mask.data, 1)) },
      denoisingStrength: 0.75,
      maskBlur: 2,
      inpaintingFill: 0,
      inpaintFullRes: false,
      inpaintFullResPadding: 32,
    });
    const pixels = assertSameImage(result, node, 1, "outpainting");
    // pasted back: the old image far from the seam is kept as it was
    for (const [x, y] of [
      [87, 0],
      [60, 40],
    ]) {
      const at = (y * 88 + x) * 3;
      const from = (y * 64 + x - 24) * 3;
      assert.deepEqual(
        [...pixels.subarray(at, at + 3)],
        [...INIT.data.subarray(from, from + 3)],
        `pixel ${x},${y}`,
      );
    }
  });

  test("textual-inversion embeddings (.safetensors and A1111's .pt), used by name in the prompt as from an embeddings folder: same TI hashes and pixels within 1 level", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sdlite-browser-embeddings-"));
    try {
      const vectors = (count: number, seed: number) =>
        Float32Array.from({ length: count * HIDDEN }, (_, i) => Math.sin(seed * 131 + i * 0.37) * 2);
      const style = vectors(2, 1);
      writeSafetensors(join(dir, "kohya-style.safetensors"), [
        { name: "emb_params", dtype: "F32", shape: [2, HIDDEN], data: style },
      ]);
      const artist = vectors(3, 2);
      writeTorchPickle(join(dir, "myartist.pt"), {
        string_to_token: { "*": 265 },
        string_to_param: {
          "*": { name: "*", dtype: "F32", shape: [3, HIDDEN], data: new Uint8Array(artist.buffer.slice(0)) },
        },
        name: "myartist",
        step: 500,
        sd_checkpoint: null,
        sd_checkpoint_name: null,
      });
      const prompt = "a red ball on a table, kohya-style, by myartist";
      const node = await nodeRun({ request: { ...JOB_REQUEST, prompt }, embeddingsDir: dir });
      const hash = (file: string) =>
        createHash("sha256")
          .update(readFileSync(join(dir, file)))
          .digest("hex")
          .slice(0, 12);
      assert.match(
        node.infotext,
        new RegExp(
          `TI hashes: "kohya-style: ${hash("kohya-style.safetensors")}, myartist: ${hash("myartist.pt")}"`,
        ),
      );
      for (const file of ["kohya-style.safetensors", "myartist.pt"]) {
        engine.server.put(`/test/${file}`, readFileSync(join(dir, file)));
      }
      const result = await runInPage(engine.page, "wasm", {
        ...TINY_REQUEST,
        prompt,
        embeddings: [
          { url: "/test/myartist.pt", fileName: "myartist.pt" },
          { url: "/test/kohya-style.safetensors", fileName: "kohya-style.safetensors" },
        ],
      });
      const pixels = assertSameImage(result, node, 1, "embeddings");
      // the embeddings change the image by more than the tolerance: an engine ignoring them would fail
      const plain = await nodeRun({ request: { ...JOB_REQUEST, prompt } });
      const changed = maxLevels(pixels, plain.pixels);
      assert.ok(changed > 1, `the embeddings changed the image by only ${changed} levels`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
