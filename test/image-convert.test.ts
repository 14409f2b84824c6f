import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { toGray, toRgb } from "../src/image/color.js";
import {
  binariseMask,
  decodedToImages,
  decodedToUnit,
  imageToTensor,
  maskedImage,
  maskToLatentSize,
  nearestSourceIndex,
  resizeNearest,
  roundHalfEven,
  unitToBytes,
} from "../src/image/convert.js";
import { decodePng } from "../src/image/png.js";
import { defaultGenerationSize, resizeGray, resizeRgb } from "../src/image/resize.js";
import { assertClose, maxDifference } from "./helpers/assert-close.js";
import { fixturePath, golden, manifest } from "./helpers/fixtures.js";

interface PipelineCase {
  id: string;
  kind: string;
  image: string;
  png: string;
  init_image_png?: string;
  init_image?: string;
  mask_png?: string;
  mask_image?: string;
  mask_latents?: string;
}

const cases: PipelineCase[] = manifest().pipelines.cases;
const goldens = () => golden("pipelines");
const png = (rel: string) => decodePng(readFileSync(fixturePath(rel)));

test("fixture init images and mask decode to exactly the goldens' uint8 arrays", () => {
  const withInit = cases.filter((c) => c.init_image_png);
  assert.equal(withInit.length, 2, "img2img and inpaint cases");
  for (const c of withInit) {
    const image = toRgb(png(c.init_image_png!));
    const expected = goldens().readRaw(c.init_image!);
    assert.deepEqual(expected.shape, [image.height, image.width, 3]);
    const d = maxDifference(image.data, expected.bytes);
    assert.equal(d.maxAbs, 0, `${c.id} init image vs ${c.init_image}: max diff ${d.maxAbs} at ${d.index}`);
  }
  const inpaint = cases.find((c) => c.mask_png)!;
  const mask = toGray(png(inpaint.mask_png!));
  const expected = goldens().readRaw(inpaint.mask_image!);
  assert.deepEqual(expected.shape, [mask.height, mask.width]);
  const d = maxDifference(mask.data, expected.bytes);
  assert.equal(d.maxAbs, 0, `mask vs ${inpaint.mask_image}: max diff ${d.maxAbs} at ${d.index}`);
});

test("mask binarised and resized to latent size equals the golden mask_latents", () => {
  const c = cases.find((x) => x.mask_latents)!;
  const mask = toGray(png(c.mask_png!));
  const full = binariseMask(mask);
  const latent = maskToLatentSize(full, mask.height, mask.width);
  const golden = goldens().readF32(c.mask_latents!);
  assert.deepEqual(goldens().info(c.mask_latents!).shape, [2, 1, 8, 8]);
  const plane = latent.length;
  assert.equal(plane, 64);
  assertClose(latent, golden.subarray(0, plane), 0, `${c.mask_latents}[0]`);
  assertClose(latent, golden.subarray(plane), 0, `${c.mask_latents}[1] (CFG copy)`);
  assert.ok(latent.some((v) => v === 1) && latent.some((v) => v === 0), "mask has both regions");
});

test("golden pipeline images → bytes with round-half-even equal the fixture PNGs exactly", () => {
  for (const c of cases) {
    const unit = goldens().readF32(c.image);
    const bytes = unitToBytes(unit);
    const expected = toRgb(png(c.png));
    const d = maxDifference(bytes, expected.data);
    assert.equal(d.maxAbs, 0, `${c.id}: bytes vs ${c.png}: max diff ${d.maxAbs} at ${d.index}`);
  }
  // (the goldens hold a single exact tie, 97.5 → 98, where both rules agree: the next test pins ties)
});

test("roundHalfEven and unitToBytes round ties to even like numpy", () => {
  const cases: [number, number][] = [
    [0.5, 0],
    [1.5, 2],
    [2.5, 2],
    [3.5, 4],
    [254.5, 254],
    [-1.5, -2],
    [2.4999999, 2],
    [2.5000001, 3],
    [7, 7],
  ];
  for (const [x, want] of cases) assert.equal(roundHalfEven(x), want, `roundHalfEven(${x})`);
  // float32 values whose float32 product with 255 is an exact tie k + 0.5
  const ties: number[] = [];
  for (let k = 0; k < 255; k++) {
    const u = Math.fround((k + 0.5) / 255);
    if (Math.fround(u * 255) === k + 0.5) ties.push(k);
  }
  assert.ok(ties.length > 10, `found ${ties.length} exact float32 ties`);
  const bytes = unitToBytes(Float32Array.from(ties, (k) => (k + 0.5) / 255));
  for (const [i, k] of ties.entries()) assert.equal(bytes[i], k % 2 === 0 ? k : k + 1, `tie ${k}.5`);
});

test("imageToTensor: NCHW in [-1,1] with diffusers' float32 steps; inverse of decodedToImages", () => {
  const width = 16;
  const height = 16;
  const data = Uint8Array.from({ length: width * height * 3 }, (_, i) => i % 256);
  const tensor = imageToTensor({ width, height, data });
  assert.equal(tensor.length, 3 * width * height);
  const plane = width * height;
  const y = 5;
  const x = 7;
  for (let c = 0; c < 3; c++) {
    const v = data[(y * width + x) * 3 + c];
    const want = Math.fround(Math.fround(v / 255) * 2 - 1);
    assert.equal(tensor[c * plane + y * width + x], want, `channel ${c} at (${y},${x})`);
  }
  assert.equal(Math.min(...tensor), -1);
  assert.equal(Math.max(...tensor), 1);
  const [back] = decodedToImages(tensor, [1, 3, height, width]);
  assert.deepEqual(back.data, data, "all 256 byte values survive image → tensor → image");
});

test("decodedToUnit clamps x/2+0.5 to [0,1] and permutes NCHW → NHWC", () => {
  // 1 image, 3 channels, 1x2 pixels
  const decoded = Float32Array.of(-3, 0, 0.5, 3, 1, -1);
  const unit = decodedToUnit(decoded, [1, 3, 1, 2]);
  assert.deepEqual([...unit], [0, 0.75, 1, 0.5, 1, 0]);
  const images = decodedToImages(Float32Array.of(...decoded, ...decoded.map((v) => -v)), [2, 3, 1, 2]);
  assert.equal(images.length, 2);
  assert.deepEqual([...images[0].data], [0, 191, 255, 128, 255, 0]);
  assert.deepEqual([...images[1].data], [255, 64, 0, 128, 0, 255]);
  assert.throws(() => decodedToUnit(decoded, [1, 4, 1, 2]), /expected/);
});

test("binariseMask: v/255 ≥ 0.5, i.e. 128 and up repaint; maskedImage zeroes those pixels", () => {
  const mask = binariseMask({ width: 4, height: 1, data: Uint8Array.of(0, 127, 128, 255) });
  assert.deepEqual([...mask], [0, 0, 1, 1]);
  const image = Float32Array.of(0.5, -0.5, 0.25, -1, 0.1, 0.2, -0.3, 0.4, 1, -1, 0, 0.9);
  const masked = maskedImage(image, mask);
  assert.deepEqual([...masked], [0.5, -0.5, 0, -0, 0.1, 0.2, -0, 0, 1, -1, 0, 0].map(Math.fround));
  assert.ok(Object.is(masked[3], -0), "negative pixel × 0 is -0, as in torch");
});

test("nearest resize follows torch interpolate(mode='nearest'): floor(i·in/out) in float32", () => {
  assert.deepEqual(
    [0, 1, 2].map((i) => nearestSourceIndex(i, 10, 3)),
    [0, 3, 6],
  );
  assert.deepEqual(
    Array.from({ length: 7 }, (_, i) => nearestSourceIndex(i, 3, 7)),
    [0, 0, 0, 1, 1, 2, 2],
  );
  assert.deepEqual(
    Array.from({ length: 8 }, (_, i) => nearestSourceIndex(i, 64, 8)),
    [0, 8, 16, 24, 32, 40, 48, 56],
  );
  const values = Float32Array.from({ length: 2 * 4 * 6 }, (_, i) => i);
  const out = resizeNearest(values, 2, 4, 6, 2, 3);
  // rows 0,2 and cols 0,2,4 of each 4x6 channel
  assert.deepEqual([...out], [0, 2, 4, 12, 14, 16, 24, 26, 28, 36, 38, 40]);
});

test("PIL resize: identity, constants preserved, and a hand-computed bilinear downscale", () => {
  const image = {
    width: 7,
    height: 5,
    data: Uint8Array.from({ length: 7 * 5 * 3 }, (_, i) => (i * 97) & 255),
  };
  assert.deepEqual(resizeRgb(image, 7, 5).data, image.data);
  for (const filter of ["lanczos", "bicubic", "bilinear"] as const) {
    for (const [w, h] of [
      [3, 2],
      [16, 11],
      [7, 9],
    ]) {
      const constant = { width: 7, height: 5, data: new Uint8Array(7 * 5).fill(200) };
      const out = resizeGray(constant, w, h, filter);
      assert.ok(
        out.data.every((v) => v === 200),
        `${filter} ${w}x${h} keeps a constant image constant`,
      );
    }
  }
  // Resample.c by hand for [0,255,0,255] → 2 px, bilinear: support 2, centres 1 and 3, weights
  // (.75,.75,.25)/1.75 and (.25,.75,.75)/1.75, 22-bit fixed point, rounded → 109 and 146
  const row = { width: 4, height: 1, data: Uint8Array.of(0, 255, 0, 255) };
  assert.deepEqual([...resizeGray(row, 2, 1, "bilinear").data], [109, 146]);
  // mirror symmetry of the separable filter
  const ramp = { width: 9, height: 1, data: Uint8Array.from([0, 10, 40, 90, 160, 250, 255, 120, 30]) };
  const mirrored = { ...ramp, data: ramp.data.slice().reverse() };
  for (const w of [4, 5, 13]) {
    const a = resizeGray(ramp, w, 1).data;
    const b = resizeGray(mirrored, w, 1).data.slice().reverse();
    assert.deepEqual(a, b, `lanczos ${9}→${w} is mirror-symmetric`);
  }
  // lanczos overshoots at a step edge and clips to 0..255
  const step = { width: 6, height: 1, data: Uint8Array.of(0, 0, 0, 255, 255, 255) };
  const up = resizeGray(step, 12, 1).data;
  assert.equal(up[0], 0);
  assert.equal(up[11], 255);
  assert.deepEqual(defaultGenerationSize(513, 770), { width: 512, height: 768 });
});

test("PIL-style resize of the fixture init image to 32x32 stays close to a 2x2 box average", () => {
  const image = toRgb(png("pipelines/img2img_euler_8_s0.6_init.png"));
  const small = resizeRgb(image, 32, 32);
  const box = new Uint8Array(32 * 32 * 3);
  for (let y = 0; y < 32; y++)
    for (let x = 0; x < 32; x++)
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (const [dy, dx] of [
          [0, 0],
          [0, 1],
          [1, 0],
          [1, 1],
        ])
          s += image.data[((2 * y + dy) * 64 + 2 * x + dx) * 3 + c];
        box[(y * 32 + x) * 3 + c] = Math.round(s / 4);
      }
  // the init image is smooth gradients split by a few hard diagonal edges: the filters agree on the
  // gradients (lanczos rings a little at the edges), so the mean difference is well under a level
  let sum = 0;
  for (let i = 0; i < box.length; i++) sum += Math.abs(small.data[i] - box[i]);
  const mean = sum / box.length;
  assert.ok(mean < 1, `lanczos 64→32 vs 2x2 box average: mean |diff| ${mean.toFixed(3)} ≥ 1`);
});
