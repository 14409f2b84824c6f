/**
 * The GPU memory the in-tab engine holds on WebGPU (Chromium, SwiftShader), counted by
 * test/browser/gpu-memory-page.html (every GPUBuffer from createBuffer to destroy) on the tiny
 * fp16 single-file checkpoint, once with sequential loading (the WebGPU default) and once without:
 *
 * - the accounting sees each network's weights: the stage that loads a network creates at least
 *   its float32 weights' bytes, and the peak is at least the largest network's weights;
 * - with sequential loading each network's buffers are destroyed before the next one loads (what
 *   is live when the UNet and the VAE decoder start is less than the network before them), and
 *   nothing is live after the image; without it all three networks are still held after the image;
 * - the engine says which loading it used, both make the same PNG, and dispose() leaves no buffer.
 *
 * scripts/webgpu-memory.ts runs the same page on the full-size checkpoint (docs/benchmarks.md).
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { fixturePath } from "./helpers/fixtures.js";
import {
  fp32WeightBytes,
  type GpuMemoryRun,
  type GpuStage,
  runGpuMemoryPage,
} from "./helpers/gpu-memory-page.js";
import { TINY_OVERRIDES } from "./helpers/tiny-configs.js";

const CHECKPOINT = fixturePath("single_file", "tiny-sd15-fp16.safetensors");
const REQUEST = {
  prompt: "a red ball on a table",
  negativePrompt: "blurry",
  steps: 2,
  cfgScale: 7,
  width: 64,
  height: 64,
  seed: 42,
  sampler: "Euler",
};

function stage(run: GpuMemoryRun, name: string): GpuStage {
  const s = run.stages.find((x) => x.name === name);
  assert.ok(s, `no stage "${name}" in ${run.stages.map((x) => x.name).join(", ")}`);
  return s;
}

describe("GPU memory of the in-tab engine on WebGPU (tiny SD1.5, Chromium)", () => {
  const weights = fp32WeightBytes(CHECKPOINT);
  let sequential: GpuMemoryRun;
  let together: GpuMemoryRun;

  before(async () => {
    const run = (sequentialLoading: boolean | undefined) =>
      runGpuMemoryPage({
        checkpoint: CHECKPOINT,
        overrides: TINY_OVERRIDES,
        request: REQUEST,
        sequentialLoading,
      });
    sequential = await run(undefined); // WebGPU's default

    together = await run(false);
    for (const r of [sequential, together]) {
      assert.equal(r.error, undefined, r.error);
      assert.deepEqual(r.afterDispose.deviceErrors, []);
    }
  });

  test("each network's stage creates at least its float32 weights; the peak is at least the largest network's", () => {
    for (const r of [sequential, together]) {
      assert.ok(stage(r, "text encoder: load + run").createdBytes >= weights.textEncoder);
      assert.ok(stage(r, "UNet: load + step 1").createdBytes >= weights.unet);
      assert.ok(stage(r, "VAE decoder: load + run").createdBytes >= weights.vaeDecoder);
      assert.ok(r.afterDispose.peak >= Math.max(weights.textEncoder, weights.unet, weights.vaeDecoder));
      assert.ok(r.afterDispose.heapBytes > 0 && r.afterDispose.heapBytes <= 4 * 2 ** 30);
      // the breakdown at the peak adds up to the peak
      const d = r.afterDispose.peakDetail;
      assert.ok(d && d.live <= r.afterDispose.peak && d.live >= r.afterDispose.peak / 1.01);
      assert.equal(
        Object.values(d.byUsage).reduce((a, b) => a + b, 0),
        d.live,
      );
    }
  });

  test("sequential loading (the WebGPU default): each network's buffers are gone before the next loads", () => {
    assert.deepEqual(sequential.loading, {
      sequential: true,
      reason: "webgpu: the adapter's memory is unknown",
    });
    const unet = stage(sequential, "UNet: load + step 1");
    const vae = stage(sequential, "VAE decoder: load + run");
    assert.ok(unet.startLive < weights.textEncoder, `${unet.startLive} bytes live as the UNet loads`);
    assert.ok(vae.startLive < weights.unet, `${vae.startLive} bytes live as the VAE decoder loads`);
    assert.equal(sequential.afterImage?.live, 0);
  });

  test("without it all three networks stay loaded until dispose; the same PNG either way", () => {
    assert.equal(together.loading?.sequential, false);
    const all = weights.textEncoder + weights.unet + weights.vaeDecoder;
    assert.ok((together.afterImage?.live ?? 0) >= all, `${together.afterImage?.live} live, weights ${all}`);
    assert.ok(stage(together, "VAE decoder: load + run").startLive >= weights.textEncoder + weights.unet);
    assert.deepEqual(together.png, sequential.png);
  });

  test("dispose() destroys every buffer", () => {
    for (const r of [sequential, together]) {
      assert.equal(r.afterDispose.live, 0);
      assert.equal(r.afterDispose.liveBuffers, 0);
      assert.equal(r.afterDispose.created, r.afterDispose.destroyed);
    }
  });
});
