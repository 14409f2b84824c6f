/** The public entry point alone is enough to upscale an image and write it with A1111's postprocess infotext. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  decodePng,
  encodePng,
  formatPostprocessInfo,
  openUpscaler,
  postprocessTextChunks,
  upscaleBy,
  upscaleTargetSize,
} from "../src/index.js";
import { tinyCompactWeights, writeTinySafetensors } from "./helpers/tiny-upscalers.js";

test("library API: openUpscaler (resampler and model file) + upscaleBy + PNG with the postprocess infotext", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sdlite-library-upscale-"));
  try {
    const image = { width: 20, height: 12, data: Uint8Array.from({ length: 720 }, (_, i) => (i * 5) % 256) };
    const lanczos = openUpscaler("Lanczos");
    const out = await upscaleBy(lanczos, image, 3);
    assert.deepEqual([out.width, out.height], [56, 32]);
    assert.deepEqual(upscaleTargetSize(20, 12, 3), { width: 56, height: 32 });

    const model = join(dir, "compact-x2.safetensors");
    writeTinySafetensors(model, tinyCompactWeights(4, 1, 2));
    const upscaler = openUpscaler(model, { cache: false, threads: 1 });
    const tiles: number[] = [];
    let big: Awaited<ReturnType<typeof upscaleBy>>;
    try {
      assert.equal(upscaler.scale, 2);
      big = await upscaleBy(upscaler, image, 2, { onProgress: (p) => tiles.push(p.tile) });
    } finally {
      await upscaler.close();
    }
    assert.deepEqual([big.width, big.height], [40, 24]);
    assert.deepEqual(tiles, [1]);
    const info = formatPostprocessInfo([
      ["Postprocess upscale by", 2],
      ["Postprocess upscaler", upscaler.name],
    ]);
    const png = encodePng({ ...big, channels: 3 }, postprocessTextChunks({ parameters: "a cat" }, info));
    const text = decodePng(png).text;
    assert.equal(text.parameters, "a cat");
    assert.equal(text.postprocessing, "Postprocess upscale by: 2, Postprocess upscaler: compact-x2");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
