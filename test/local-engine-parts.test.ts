/**
 * The in-tab engine's browser-side parts that Node can run too (Blob, Web Crypto): the checkpoint
 * read from a Blob gives the tensors the file reader gives, only after they were loaded; the graph
 * store's keys are the Node graph cache's; the streamed SHA-256 is node:crypto's.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { graphCacheKey } from "../src/cache/graph-cache.js";
import { SafetensorsFile } from "../src/weights/formats/safetensors.js";
import { BlobSafetensors } from "../web/src/local/blob-safetensors.js";
import { blobSha256 } from "../web/src/local/blob-sha256.js";
import { browserGraphKey } from "../web/src/local/store-graph-sessions.js";
import { fixturePath } from "./helpers/fixtures.js";

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
});
