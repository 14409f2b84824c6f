/**
 * The masked-content modes on pixels and latents, before any denoising: "fill" (A1111's
 * masking.fill: Pillow Gaussian blurs of the unmasked part composited over each other), "original"
 * (the image as it is), "latent noise" (the seed's own noise under the mask) and "latent nothing"
 * (zeros under the mask). Also Pillow's GaussianBlur and alpha composite it is built from, and the
 * paste-back of the original over the generated image.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { alphaCompositeInto } from "../src/image/alpha-composite.js";
import { pasteOverlay } from "../src/image/mask-overlay.js";
import { fillMaskedArea } from "../src/image/masked-fill.js";
import { boxRadiusForGaussian, pilGaussianBlur } from "../src/image/pil-gaussian-blur.js";
import { A1111_UI_INPAINT, prepareInpainting } from "../src/pipeline/a1111-inpainting.js";
import { fillLatents } from "../src/pipeline/latent-fill.js";
import { createRandomSource } from "../src/rng/index.js";
import { inpaintRequest } from "./helpers/inpaint-request.js";

// An 8x6 image and mask, and what Pillow 11.3 makes of them (A1111's masking.fill as written in
// modules/masking.py; Image.filter(GaussianBlur(1.5)) of the RGBA bytes), computed once with Pillow.
const W = 8;
const H = 6;
const IMAGE = Uint8Array.from({ length: W * H * 3 }, (_, i) => (i * 37 + 11) % 256);
const MASK = new Uint8Array(W * H);
for (let y = 1; y < 4; y++) MASK.fill(255, y * W + 3, y * W + 7);
MASK[4 * W + 3] = 128;
const PILLOW_FILL = [
  11, 48, 85, 122, 159, 196, 233, 14, 51, 88, 125, 162, 199, 236, 17, 54, 91, 128, 165, 202, 239, 20, 57, 94,
  131, 168, 205, 242, 23, 60, 97, 134, 171, 135, 123, 121, 126, 127, 125, 114, 127, 132, 103, 121, 137, 140,
  177, 214, 251, 32, 69, 106, 143, 180, 217, 254, 35, 136, 125, 124, 129, 127, 130, 120, 125, 136, 112, 119,
  140, 4, 41, 78, 115, 152, 189, 226, 7, 44, 81, 118, 155, 136, 130, 130, 130, 128, 137, 124, 124, 140, 123,
  117, 144, 124, 161, 198, 235, 16, 53, 90, 127, 164, 201, 238, 19, 95, 114, 132, 167, 204, 241, 22, 59, 96,
  133, 170, 207, 244, 25, 62, 99, 136, 173, 210, 247, 28, 65, 102, 139, 176, 213, 250, 31, 68, 105, 142, 179,
  216, 253, 34, 71, 108, 145, 182,
];
const PILLOW_BLUR_1_5 = [
  130, 99, 125, 6, 138, 107, 119, 22, 143, 123, 111, 50, 140, 139, 109, 82, 128, 147, 119, 105, 112, 144, 133,
  106, 96, 132, 147, 88, 87, 124, 153, 70, 142, 101, 122, 8, 145, 111, 116, 26, 145, 128, 110, 61, 138, 142,
  108, 99, 125, 147, 119, 126, 110, 142, 133, 126, 96, 130, 146, 105, 90, 121, 151, 83, 155, 106, 119, 9, 152,
  117, 114, 30, 146, 134, 109, 69, 134, 145, 111, 111, 121, 146, 122, 140, 110, 137, 135, 140, 101, 125, 145,
  116, 98, 117, 149, 92, 159, 112, 115, 8, 154, 124, 112, 27, 143, 139, 112, 62, 129, 146, 117, 98, 119, 143,
  129, 123, 113, 131, 139, 120, 112, 119, 144, 99, 114, 112, 145, 78, 156, 123, 113, 6, 150, 132, 113, 20,
  138, 143, 118, 44, 125, 146, 128, 68, 119, 139, 139, 84, 120, 126, 144, 80, 126, 114, 145, 65, 133, 108,
  143, 51, 151, 130, 112, 4, 145, 139, 115, 13, 134, 147, 124, 28, 123, 146, 136, 42, 120, 137, 146, 50, 125,
  122, 148, 46, 137, 112, 145, 36, 146, 105, 141, 27,
];

test("Pillow's GaussianBlur: three box passes of the variance-matched radius, x then y", () => {
  // sigma² = 2.25/3 = 0.75, L = √10 = 3.162, l = 1, a = 3·(2 − 2.25)/(6·(0.75 − 4)) = 0.03846
  assert.ok(Math.abs(boxRadiusForGaussian(1.5) - 1.0384616) < 1e-6);
  const rgba = new Uint8Array(W * H * 4);
  for (let i = 0; i < W * H; i++) {
    rgba.set(IMAGE.subarray(i * 3, i * 3 + 3), i * 4);
    rgba[i * 4 + 3] = MASK[i];
  }
  assert.deepEqual([...pilGaussianBlur(rgba, W, H, 4, 1.5)], PILLOW_BLUR_1_5);
  // a flat image stays flat at any radius (edges repeat the outermost pixel)
  const flat = new Uint8Array(5 * 3 * 4).fill(77);
  assert.ok(pilGaussianBlur(flat, 5, 3, 4, 256).every((v) => v === 77));
});

test("alpha composite: opaque source wins, transparent source leaves the destination", () => {
  const dst = Uint8Array.from([10, 20, 30, 255, 10, 20, 30, 255, 0, 0, 0, 0]);
  alphaCompositeInto(dst, Uint8Array.from([200, 100, 50, 255, 1, 2, 3, 0, 90, 80, 70, 128]));
  assert.deepEqual([...dst.subarray(0, 8)], [200, 100, 50, 255, 10, 20, 30, 255]);
  // over transparent black the colour is kept and the alpha too
  assert.deepEqual([...dst.subarray(8)], [90, 80, 70, 128]);
});

test("fill: Pillow's bytes; unmasked pixels unchanged; a hole in one colour is filled with it", () => {
  const filled = fillMaskedArea({ width: W, height: H, data: IMAGE }, { width: W, height: H, data: MASK });
  assert.deepEqual([...filled.data], PILLOW_FILL);
  for (let i = 0; i < W * H; i++) {
    if (MASK[i] === 0)
      assert.deepEqual([...filled.data.subarray(i * 3, i * 3 + 3)], [...IMAGE.subarray(i * 3, i * 3 + 3)]);
  }
  const side = 32;
  const red = new Uint8Array(side * side * 3);
  for (let i = 0; i < side * side; i++) red.set([200, 30, 60], i * 3);
  const hole = new Uint8Array(side * side);
  for (let y = 8; y < 24; y++) hole.fill(255, y * side + 8, y * side + 24);
  // what is under the mask does not matter
  for (let i = 0; i < side * side; i++) if (hole[i]) red.set([0, 255, 0], i * 3);
  const out = fillMaskedArea(
    { width: side, height: side, data: red },
    { width: side, height: side, data: hole },
  );
  for (let i = 0; i < side * side; i++) {
    const px = [...out.data.subarray(i * 3, i * 3 + 3)];
    // Pillow's 8-bit premultiplied blurs and truncating un-premultiply drift a few levels
    assert.ok(
      Math.abs(px[0] - 200) <= 6 && Math.abs(px[1] - 30) <= 6 && Math.abs(px[2] - 60) <= 6,
      `pixel ${i}: ${px}`,
    );
  }
});

test("fill takes the colours of the nearer side", () => {
  const w = 48;
  const h = 8;
  const data = new Uint8Array(w * h * 3);
  const mask = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      data.set(x < w / 2 ? [250, 0, 0] : [0, 0, 250], (y * w + x) * 3);
      if (x >= 16 && x < 32) mask[y * w + x] = 255;
    }
  }
  const out = fillMaskedArea({ width: w, height: h, data }, { width: w, height: h, data: mask }).data;
  const at = (x: number) => [...out.subarray((3 * w + x) * 3, (3 * w + x) * 3 + 3)];
  assert.ok(at(17)[0] > at(17)[2], `next to the red side: ${at(17)}`);
  assert.ok(at(30)[2] > at(30)[0], `next to the blue side: ${at(30)}`);
});

test("original keeps the image; fill changes only the masked area (prepareInpainting)", () => {
  const request = inpaintRequest(
    W,
    H,
    { width: W, height: H, data: IMAGE },
    { width: W, height: H, data: MASK },
  );
  const plain = { ...A1111_UI_INPAINT, maskBlurX: 0, maskBlurY: 0 };
  const original = prepareInpainting(request, plain);
  assert.deepEqual([...original.request.initImage!.data], [...IMAGE]);
  assert.equal(original.request.latentFill, undefined);
  const fill = prepareInpainting(request, { ...plain, maskedContent: "fill" });
  assert.deepEqual([...fill.request.initImage!.data], PILLOW_FILL);
  assert.equal(fill.infotext["Masked content"], "fill");
  const noise = prepareInpainting(request, { ...plain, maskedContent: "latent-noise" });
  assert.equal(noise.request.latentFill, "noise");
  assert.equal(
    prepareInpainting(request, { ...plain, maskedContent: "latent-nothing" }).request.latentFill,
    "nothing",
  );
});

test("latent noise puts each image's seed noise under the mask, latent nothing zeros", () => {
  const shape = [2, 4, 3, 5] as const;
  const plane = 15;
  const latents = Float32Array.from({ length: 2 * 4 * plane }, (_, i) => i / 10 + 0.05);
  const mask = new Float32Array(plane);
  mask[6] = 1;
  mask[7] = 1;
  mask[14] = 1;
  const seeds = [42, 43];
  const noise = fillLatents(latents, mask, "noise", "cpu", seeds, [...shape]);
  const zeros = fillLatents(latents, mask, "nothing", "cpu", seeds, [...shape]);
  for (let b = 0; b < 2; b++) {
    const own = createRandomSource("cpu", seeds[b]).randn([1, 4, 3, 5]);
    for (let c = 0; c < 4; c++) {
      for (let p = 0; p < plane; p++) {
        const i = (b * 4 + c) * plane + p;
        if (mask[p]) {
          assert.equal(noise[i], own[c * plane + p]);
          assert.equal(zeros[i], 0);
        } else {
          assert.equal(noise[i], latents[i]);
          assert.equal(zeros[i], latents[i]);
        }
      }
    }
  }
});

test("paste-back: the original wherever the overlay mask is black, the generated image where white", () => {
  const generated = { width: W, height: H, data: new Uint8Array(W * H * 3).fill(9) };
  const out = pasteOverlay(
    generated,
    { width: W, height: H, data: IMAGE },
    { width: W, height: H, data: MASK },
  );
  for (let i = 0; i < W * H; i++) {
    const px = [...out.data.subarray(i * 3, i * 3 + 3)];
    if (MASK[i] === 0) assert.deepEqual(px, [...IMAGE.subarray(i * 3, i * 3 + 3)]);
    if (MASK[i] === 255) assert.deepEqual(px, [9, 9, 9]);
  }
});
