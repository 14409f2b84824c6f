/**
 * The in-tab engine's browser-side parts that Node can run too (Blob, Web Crypto): the checkpoint
 * read from a Blob gives the tensors the file reader gives, only after they were loaded; the graph
 * store's keys are the Node graph cache's; the streamed SHA-256 is node:crypto's; a LoRA Blob reads
 * as readLoraFile reads the file (modules, hashes); an engine request with A1111's inpainting fields
 * prepares as the job's `inpaint` does (request, infotext entries, paste-back).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { graphCacheKey } from "../src/cache/graph-cache.js";
import { readLoraFile } from "../src/lora/lora-file.js";
import { A1111_UI_INPAINT } from "../src/pipeline/a1111-inpainting.js";
import { prepareJobRequest } from "../src/pipeline/generation-job.js";
import { encodeImage } from "../src/pipeline/job-image.js";
import { SafetensorsFile } from "../src/weights/formats/safetensors.js";
import { readLoraBlob } from "../web/src/local/blob-lora.js";
import { BlobSafetensors } from "../web/src/local/blob-safetensors.js";
import { blobSha256 } from "../web/src/local/blob-sha256.js";
import { inpaintSettings, preparedRequest } from "../web/src/local/local-engine.js";
import { browserGraphKey } from "../web/src/local/store-graph-sessions.js";
import { fixturePath } from "./helpers/fixtures.js";
import { openTinyLoraModel } from "./helpers/tiny-lora-model.js";

const CHECKPOINT = fixturePath("single_file", "tiny-sd15-fp16.safetensors");

describe("in-tab engine parts", () => {
  it("BlobSafetensors: same names, shapes and values as SafetensorsFile, once loaded; unload frees them", async () => {
    const bytes = readFileSync(CHECKPOINT);
    const blob = await BlobSafetensors.open(new Blob([bytes]), "tiny.safetensors");
    const file = SafetensorsFile.open(CHECKPOINT);
    try {
      assert.deepEqual(blob.names().sort(), file.names().sort());
      const unet = (n: string) => n.startsWith("model.diffusion_model.");
      const name = file.names().find(unet) as string;
      assert.throws(() => blob.readF32(name), /not read from the Blob yet/);
      await blob.load(unet);
      for (const n of file.names().filter(unet)) {
        assert.deepEqual(blob.info(n).shape, file.info(n).shape);
        assert.deepEqual(blob.readF32(n), file.readF32(n));
      }
      const vae = file.names().find((n) => n.startsWith("first_stage_model.")) as string;
      assert.throws(() => blob.readF32(vae), /not read from the Blob yet/);
      blob.unload();
      assert.throws(() => blob.readF32(name), /not read from the Blob yet/);
    } finally {
      file.close();
      blob.close();
    }
  });

  it("BlobSafetensors refuses a truncated file with the reader's message", async () => {
    const bytes = readFileSync(CHECKPOINT);
    await assert.rejects(
      BlobSafetensors.open(new Blob([bytes.subarray(0, bytes.length - 100)]), "cut.safetensors"),
      /is the file truncated\?|tensors cover/,
    );
  });

  it("graph store keys equal the Node graph cache's for the same parts", async () => {
    const parts = {
      kind: "unet",
      weights: [{ path: "model.safetensors", size: 123, mtimeMs: 456 }],
      config: { config: { a: 1, b: [2, 3] }, loras: "" },
      options: { attention: "matmul", weightStorage: "fp16" },
    };
    assert.equal(await browserGraphKey(parts), graphCacheKey(parts));
    assert.notEqual(await browserGraphKey({ ...parts, kind: "vae_decoder" }), graphCacheKey(parts));
  });

  it("blobSha256 equals node:crypto's SHA-256 across block boundaries and slices", async () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 1000, 100_003]) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 255);
      assert.equal(
        await blobSha256(new Blob([bytes])),
        createHash("sha256").update(bytes).digest("hex"),
        `${n} bytes`,
      );
    }
    const odd = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 255);
    const want = createHash("sha256").update(odd).digest("hex");
    for (const slice of [1, 7, 63, 64, 65])
      assert.equal(await blobSha256(new Blob([odd]), undefined, slice), want);
    const file = readFileSync(CHECKPOINT);
    assert.equal(await blobSha256(new Blob([file])), createHash("sha256").update(file).digest("hex"));
  });

  it("readLoraBlob: the LoRA file's modules, unmatched keys and hashes, as readLoraFile reads them", async () => {
    const model = openTinyLoraModel();
    try {
      for (const file of ["tiny-sd15-kohya.safetensors", "tiny-sd15-diffusers-peft.safetensors"]) {
        const path = fixturePath("lora", file);
        const want = readLoraFile(path, model);
        const got = await readLoraBlob(new Blob([readFileSync(path)]), path, model);
        assert.ok(want.modules.length > 0, file);
        assert.deepEqual(got, want, file);
      }
      const notLora = await readLoraBlob(new Blob([readFileSync(CHECKPOINT)]), "ckpt", model).then(
        () => "read",
        (err: Error) => err.message,
      );
      assert.match(notLora, /not a LoRA file: it is a full Stable Diffusion checkpoint/);
    } finally {
      model.unet.close();
      model.textEncoder.close();
    }
  });

  it("an engine request with A1111's inpainting fields prepares as the job's `inpaint`: request, infotext, paste-back", () => {
    const w = 32;
    const h = 24;
    const rgb = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 13) & 255);
    const gray = Uint8Array.from({ length: w * h }, (_, p) =>
      p % w >= 8 && p % w < 20 && p >= w * 6 ? 255 : 0,
    );
    const rgba = (data: Uint8Array, channels: number) =>
      Uint8ClampedArray.from({ length: w * h * 4 }, (_, i) =>
        i % 4 === 3 ? 255 : data[Math.floor(i / 4) * channels + (channels === 1 ? 0 : i % 4)],
      );
    const base = { prompt: "a <lora:x:0.5> cat", steps: 2, width: w, height: h, seed: 3, sampler: "Euler" };
    const local = preparedRequest({
      ...base,
      cfgScale: 7,
      initImage: { width: w, height: h, data: rgba(rgb, 3) },
      mask: { width: w, height: h, data: rgba(gray, 1) },
      denoisingStrength: 0.6,
      maskBlur: 2,
      inpaintingFill: 0,
      inpaintFullRes: true,
    });
    const inpaint = {
      ...A1111_UI_INPAINT,
      maskBlurX: 2,
      maskBlurY: 2,
      maskedContent: "fill" as const,
      fullRes: true,
    };
    const job = prepareJobRequest({
      ...base,
      guidance: 7,
      strength: 0.6,
      initImage: encodeImage({ width: w, height: h, data: rgb }, 3),
      mask: encodeImage({ width: w, height: h, data: gray }, 1),
      inpaint,
    });
    assert.deepEqual(local.request, job.request);
    assert.deepEqual(local.infotext, job.infotext);
    assert.equal(local.infotext["Mask blur"], 2);
    const generated = { width: w, height: h, data: Uint8Array.from(rgb, (v) => 255 - v) };
    const pasted = local.finish(generated);
    assert.deepEqual(pasted, job.finish(generated));
    assert.notDeepEqual(pasted.data, generated.data, "the original is pasted back outside the mask");
    // none of the fields: the mask as it is, no paste-back (diffusers' inpainting)
    assert.equal(inpaintSettings({ ...base, cfgScale: 7 }), undefined);
    assert.throws(() => inpaintSettings({ ...base, cfgScale: 7, maskBlur: 4 }), /need a mask/);
  });
});
