/** The cheap latent → RGB preview (A1111 "Approx cheap"): values, clamping, batch item, shape checks. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { latentPreview } from "../src/server/latent-preview.js";

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
