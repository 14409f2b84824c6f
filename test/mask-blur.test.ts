/**
 * A1111's mask blur (cv2.GaussianBlur along x with sigma mask_blur_x, then along y) against kernels
 * and sums worked out by hand from OpenCV's rules: kernel size 2·int(2.5σ + 0.5) + 1, the Gaussian
 * in 1/256 steps with the rounding error carried inwards, (Σ v·k + 128) >> 8, BORDER_REFLECT_101.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { blurMask, gaussianKernelFixed, maskBlurKernelSize, reflect101 } from "../src/image/mask-blur.js";

const row = (values: number[]) => ({ width: values.length, height: 1, data: Uint8Array.from(values) });

test("kernel size is A1111's 2·int(2.5·sigma + 0.5) + 1", () => {
  assert.equal(maskBlurKernelSize(1), 7);
  assert.equal(maskBlurKernelSize(4), 21);
  assert.equal(maskBlurKernelSize(0.5), 3);
  assert.equal(maskBlurKernelSize(64), 321);
});

test("sigma 1: exp(-x²/2) normalised, in 1/256 with the error carried, is [1, 14, 62, 102, 62, 14, 1]", () => {
  // 256·[0.004432, 0.053991, 0.241971, 0.398943] = 1.1346, 13.8217, 61.9446: 1 (+0.1346 carried),
  // 13.956 → 14 (−0.044 carried), 61.90 → 62; the centre takes 256 − 2·77 = 102
  assert.deepEqual([...gaussianKernelFixed(7, 1)], [1, 14, 62, 102, 62, 14, 1]);
  for (const sigma of [0.5, 2, 4, 16]) {
    const k = gaussianKernelFixed(maskBlurKernelSize(sigma), sigma);
    assert.equal(
      k.reduce((a, b) => a + b, 0),
      256,
      `sigma ${sigma} sums to exactly 1`,
    );
  }
});

test("an impulse of 255 spreads as 255·k/256, rounded", () => {
  const impulse = row([0, 0, 0, 0, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0]);
  const out = blurMask(impulse, 1, 0).data;
  // (255·102 + 128) >> 8 = 102, (255·62 + 128) >> 8 = 62, (255·14 + 128) >> 8 = 14, (255 + 128) >> 8 = 1
  assert.deepEqual([...out], [0, 0, 0, 0, 1, 14, 62, 102, 62, 14, 1, 0, 0, 0, 0]);
  assert.deepEqual([...blurMask(impulse, 0, 0).data], [...impulse.data], "blur 0 changes nothing");
});

test("the border reflects without repeating the edge (BORDER_REFLECT_101)", () => {
  assert.deepEqual(
    [-3, -2, -1, 0, 1, 2, 3, 4, 5].map((i) => reflect101(i, 3)),
    [1, 2, 1, 0, 1, 2, 1, 0, 1],
  );
  // [255, 0, 0], taps at offsets −3..3: pixel 0 reads index 0 only at offset 0 (±3 reflect to 1);
  // pixel 1 at −1 and at +3 (index 4 reflects to 0): 62 + 1; pixel 2 at −2 and at +2: 14 + 14
  const out = blurMask(row([255, 0, 0]), 1, 0).data;
  assert.deepEqual([...out], [(255 * 102 + 128) >> 8, (255 * 63 + 128) >> 8, (255 * 28 + 128) >> 8]);
});

test("x then y, each pass rounded to 8 bits", () => {
  const size = 15;
  const data = new Uint8Array(size * size);
  data[7 * size + 7] = 255;
  const out = blurMask({ width: size, height: size, data }, 1, 1).data;
  // centre: x pass (255·102 + 128) >> 8 = 102, then y pass (102·102 + 128) >> 8 = 41
  assert.equal(out[7 * size + 7], 41);
  // (7, 6): x pass gives 102 at (7, 7) only in that column: (102·62 + 128) >> 8 = 25
  assert.equal(out[6 * size + 7], 25);
  // a corner of the kernel: x pass 1 at (8, 7) → y (1·1 + 128) >> 8 = 0; (8, 6): 62 → (62·62 + 128) >> 8 = 15
  assert.equal(out[6 * size + 8], 15);
  const xOnly = blurMask({ width: size, height: size, data }, 2, 0).data;
  assert.ok(
    xOnly.every((v, i) => Math.floor(i / size) === 7 || v === 0),
    "x only spreads along rows",
  );
});

test("a small mask blurred with sigma 2 along x and 3 along y gives OpenCV 4.14's bytes", () => {
  // made once with cv2.GaussianBlur(m, (11, 1), 2) then cv2.GaussianBlur(·, (1, 17), 3), as A1111 calls it
  const OPENCV = [
    28, 34, 52, 73, 86, 88, 78, 65, 59, 27, 34, 52, 72, 86, 87, 77, 65, 59, 29, 35, 53, 73, 87, 88, 78, 65,
    59, 29, 36, 53, 73, 87, 88, 77, 64, 58, 31, 37, 54, 74, 87, 88, 78, 64, 59, 31, 37, 54, 73, 86, 87, 76,
    63, 57, 31, 38, 54, 74, 87, 88, 77, 64, 58,
  ];
  const data = new Uint8Array(9 * 7);
  for (let y = 2; y < 5; y++) data.fill(255, y * 9 + 3, y * 9 + 7);
  data[6 * 9] = 200;
  data[8] = 90;
  assert.deepEqual([...blurMask({ width: 9, height: 7, data }, 2, 3).data], OPENCV);
});
