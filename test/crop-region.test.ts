/**
 * "Only masked" crop regions against A1111's masking.py on cases worked out by hand:
 * get_crop_region_v2 (PIL getbbox of the non-zero pixels, padded, clipped) and expand_crop_region
 * (grown to the generation size's aspect ratio, int() of the missing length, half on each side,
 * shifted back inside the image).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { expandCropRegion, maskCropRegion } from "../src/image/crop-region.js";

function maskWith(width: number, height: number, rects: [number, number, number, number][], value = 255) {
  const data = new Uint8Array(width * height);
  for (const [x1, y1, x2, y2] of rects) {
    for (let y = y1; y < y2; y++) data.fill(value, y * width + x1, y * width + x2);
  }
  return { width, height, data };
}

test("the bounding box of the non-zero pixels, padded and clipped to the image", () => {
  const mask = maskWith(100, 80, [[10, 30, 20, 35]]);
  assert.deepEqual(maskCropRegion(mask), [10, 30, 20, 35]);
  assert.deepEqual(maskCropRegion(mask, 4), [6, 26, 24, 39]);
  assert.deepEqual(maskCropRegion(mask, 50), [0, 0, 70, 80]);
  // any non-zero value counts (a blurred edge of 1 too), two areas give one box
  const two = maskWith(100, 80, [[10, 30, 20, 35]]);
  two.data[70 * 100 + 90] = 1;
  assert.deepEqual(maskCropRegion(two), [10, 30, 91, 71]);
  assert.equal(maskCropRegion(maskWith(100, 80, [])), undefined, "a blank mask has no region");
});

test("expand_crop_region grows the short side to the processing ratio", () => {
  // 10x5 box, square processing: desired height 10, int(10 - 5) = 5 → 2 above, 3 below
  assert.deepEqual(expandCropRegion([10, 30, 20, 35], 64, 64, 100, 80), [10, 28, 20, 38]);
  // at the top: −4..6 moves down to 0..10
  assert.deepEqual(expandCropRegion([0, 0, 10, 2], 64, 64, 100, 80), [0, 0, 10, 10]);
  // at the bottom: 73..83 moves up by 3 to 70..80
  assert.deepEqual(expandCropRegion([50, 75, 60, 80], 64, 64, 100, 80), [50, 70, 60, 80]);
  // tall box, wide processing (2:1): desired width 40, diff 36 → −8..32, shifted to 0..40
  assert.deepEqual(expandCropRegion([10, 10, 14, 30], 64, 32, 100, 80), [0, 10, 40, 30]);
  // 7x3 into 512x768: desired height 7/(2/3) = 10.5, int(7.5) = 7 → 3 above (to −3), 4 below; shifted
  assert.deepEqual(expandCropRegion([0, 0, 7, 3], 512, 768, 100, 80), [0, 0, 7, 10]);
  // a box wider than the image can hold at that ratio is clipped at the end
  assert.deepEqual(expandCropRegion([0, 0, 100, 10], 64, 64, 100, 80), [0, 0, 100, 80]);
});
