/**
 * The cheap latent → RGB preview (A1111 "Approx cheap"): values, clamping, batch item, shape checks;
 * and LivePreview's choice of steps (TAESD at most one decode at a time, fallbacks).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PreviewDecoder } from "../src/engine/preview-decoder.js";
import { latentPreview } from "../src/server/latent-preview.js";
import { LivePreview } from "../src/server/live-preview.js";

describe("latentPreview", () => {
  it("maps each latent pixel through the SD1.5 4→3 matrix, (x + 1) / 2, clamped", () => {
    // 2 batch items, 4 channels, 1×3 latents; item 1 is the one previewed
    const h = 1;
    const w = 3;
    const plane = h * w;
    const latents = new Float32Array(2 * 4 * plane);
    const item1 = 4 * plane;
    latents[item1 + 0 * plane + 1] = 1; // pixel 1: channel 0 = 1
    latents[item1 + 3 * plane + 2] = 10; // pixel 2: channel 3 = 10 → far below 0 in every colour
    latents.fill(5, 0, item1); // item 0 must not leak into the preview
    const image = latentPreview(latents, [2, 4, h, w], 1);
    assert.deepEqual([image.width, image.height], [3, 1]);
    // pixel 0: all zero → 127.5 → 128; pixel 1: row 0 of the matrix (0.298, 0.207, 0.208)
    const expected = [
      [128, 128, 128],
      [
        Math.round(((0.298 + 1) / 2) * 255),
        Math.round(((0.207 + 1) / 2) * 255),
        Math.round(((0.208 + 1) / 2) * 255),
      ],
      [0, 0, 0],
    ].flat();
    assert.deepEqual([...image.data], expected);
  });

  it("refuses shapes that do not fit", () => {
    assert.throws(() => latentPreview(new Float32Array(12), [1, 3, 2, 2]), /4 latent channels/);
    assert.throws(() => latentPreview(new Float32Array(15), [1, 4, 2, 2]), /do not fill/);
    assert.throws(() => latentPreview(new Float32Array(16), [1, 4, 2, 2], 1), /batch item 1 of 1/);
  });
});

describe("LivePreview: which steps get a preview", () => {
  const shape = [1, 4, 2, 2] as const;
  const step = (n: number, total = 12) => ({
    step: n,
    totalSteps: total,
    latents: new Float32Array(16).fill(n / 100),
    latentShape: shape,
  });
  /** A TAESD stand-in whose decodes finish when the test says so. */
  function slowDecoder() {
    const pending: { resolve: () => void; reject: (e: Error) => void }[] = [];
    const decoded: number[] = [];
    const decoder: PreviewDecoder = {
      decode: (latents) =>
        new Promise((resolve, reject) => {
          decoded.push(Math.round(latents[0] * 100));
          pending.push({
            resolve: () => resolve({ width: 16, height: 16, data: new Uint8Array(16 * 16 * 3) }),
            reject,
          });
        }),
      release: async () => {},
    };
    return { decoder, pending, decoded };
  }

  it("taesd: every N-th step, never while a decode runs, and no extra one at the last step", async () => {
    const { decoder, pending, decoded } = slowDecoder();
    const published: [number, number][] = [];
    const live = new LivePreview({ mode: "taesd", every: 2 }, decoder, (image, n) =>
      published.push([n, image.width]),
    );
    for (const n of [1, 2, 3, 4, 5]) live.step(step(n, 7)); // 2 starts a decode; 4 finds it busy
    assert.deepEqual(decoded, [2]);
    pending[0].resolve();
    await live.settled();
    for (const n of [6, 7]) live.step(step(n, 7)); // 6 decodes; 7 is the last but not due
    pending[1].resolve();
    await live.settled();
    assert.deepEqual(decoded, [2, 6]);
    assert.deepEqual(published, [
      [2, 16],
      [6, 16],
    ]);
  });

  it("taesd: a failing decode falls back to the cheap preview and says why", async () => {
    const { decoder, pending } = slowDecoder();
    const published: [number, number][] = [];
    const live = new LivePreview({ mode: "taesd", every: 1 }, decoder, (image, n) =>
      published.push([n, image.width]),
    );
    live.step(step(1));
    pending[0].reject(new Error("out of memory"));
    await live.settled();
    live.step(step(2));
    assert.equal(pending.length, 1, "no TAESD decode after the failure");
    assert.deepEqual(published, [
      [1, 2],
      [2, 2],
    ]);
    assert.match(live.failure ?? "", /TAESD preview failed.*out of memory/);
  });

  it("approx: every N-th step and the last; none, or a period of 0 or -1: nothing", () => {
    const run = (mode: "approx" | "none" | "taesd", every: number, decoder?: PreviewDecoder) => {
      const steps: number[] = [];
      const live = new LivePreview({ mode, every }, decoder, (_image, n) => steps.push(n));
      for (let n = 1; n <= 7; n++) live.step(step(n, 7));
      return { steps, failure: live.failure };
    };
    assert.deepEqual(run("approx", 3).steps, [3, 6, 7]);
    assert.deepEqual(run("none", 3).steps, []);
    assert.deepEqual(run("approx", -1).steps, []);
    assert.deepEqual(run("taesd", 0, slowDecoder().decoder).steps, []);
    // TAESD asked for but no decoder (a model without TAESD weights): the cheap preview, with a note
    const fallback = run("taesd", 3);
    assert.deepEqual(fallback.steps, [3, 6, 7]);
    assert.match(fallback.failure ?? "", /TAESD weights/);
  });
});
