/**
 * Sliced attention on WebGPU in the browser (Chromium, SwiftShader; test/browser/gpu-memory-page.html
 * counts every GPUBuffer): the tiny SD1.5 at 256x256 with CFG, where the full-resolution
 * self-attention's scores dominate the GPU memory (2 × 8 heads × 1024² float32 = 64 MiB per tensor;
 * one level down 4 MiB), once unsliced and once one head at a time (the WebGPU default):
 *
 * - arithmetic: a scores tensor and its softmax are live together, so slicing removes at least
 *   2 × (S − S/8) bytes from the peak, S being one unsliced scores tensor; the largest live buffer
 *   at the peak is at least S unsliced and at most one head's S/8 sliced;
 * - both images are the Node CPU's within 2 levels (test/browser-engine.test.ts's WebGPU tolerance).
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { type GpuMemoryRun, runGpuMemoryPage } from "./helpers/gpu-memory-page.js";
import {
  assertWithinLevels,
  jobRequestOf,
  nodeRun,
  pagePixels,
  TINY_CHECKPOINT,
} from "./helpers/in-tab-engine.js";
import { TINY_OVERRIDES } from "./helpers/tiny-configs.js";

const REQUEST = {
  prompt: "a red ball on a table",
  negativePrompt: "blurry",
  steps: 1,
  cfgScale: 7,
  width: 256,
  height: 256,
  seed: 42,
  sampler: "Euler",
};
/** One unsliced full-resolution scores tensor: CFG's batch 2 × heads × tokens² × 4 bytes. */
const TOKENS = (REQUEST.width / 8) * (REQUEST.height / 8);
const HEADS = TINY_OVERRIDES.unet.attentionHeads;
const SCORES_BYTES = 2 * HEADS * TOKENS ** 2 * 4;
/** test/browser-engine.test.ts's tolerance for WebGPU against the CPU. */
const LEVELS = 2;

describe("sliced attention on WebGPU (tiny SD1.5, 256x256, Chromium)", () => {
  let whole: GpuMemoryRun;
  let sliced: GpuMemoryRun;
  let cpuPixels: Uint8Array;

  before(async () => {
    const run = (attentionSlicing: boolean | undefined) =>
      runGpuMemoryPage({
        checkpoint: TINY_CHECKPOINT,
        overrides: TINY_OVERRIDES,
        request: REQUEST,
        sequentialLoading: undefined,
        attentionSlicing,
      });
    whole = await run(false);
    sliced = await run(undefined); // the WebGPU default
    for (const r of [whole, sliced]) {
      assert.equal(r.error, undefined, r.error);
      assert.deepEqual(r.afterDispose.deviceErrors, []);
    }
    cpuPixels = (await nodeRun({ request: jobRequestOf(REQUEST) })).pixels;
  });

  test("the peak falls by at least 2 × 7/8 of a full-resolution scores tensor", (t) => {
    const saved = whole.afterDispose.peak - sliced.afterDispose.peak;
    t.diagnostic(
      `peak ${whole.afterDispose.peak} → ${sliced.afterDispose.peak} bytes (−${saved}); scores tensor ${SCORES_BYTES}`,
    );
    assert.ok(saved >= 2 * (SCORES_BYTES - SCORES_BYTES / HEADS), `saved ${saved} bytes`);
    const largest = (r: GpuMemoryRun) => r.afterDispose.peakDetail?.largest[0] ?? 0;
    assert.ok(largest(whole) >= SCORES_BYTES, `unsliced: largest buffer ${largest(whole)}`);
    assert.ok(largest(sliced) <= SCORES_BYTES / HEADS, `sliced: largest buffer ${largest(sliced)}`);
  });

  test(`both images are the CPU's within ${LEVELS} levels`, (t) => {
    for (const [label, r] of [
      ["unsliced", whole],
      ["sliced", sliced],
    ] as const) {
      assert.ok(r.png, `${label}: no image`);
      assertWithinLevels(pagePixels(r.png), cpuPixels, LEVELS, label, (line) => t.diagnostic(line));
    }
  });
});
