/**
 * Outpainting and A1111's "Only masked" inpainting, end to end through a GenerationJob with the tiny
 * fixture models (an ordinary 4-channel one and the 9-channel inpainting one): the canvas and its
 * rounding to multiples of 8, the new area generated, and every pixel the blurred mask does not
 * reach within 1 level of the input; "Only masked" leaves everything outside its padded crop box.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { toRgb } from "../src/image/color.js";
import { expandCropRegion, maskCropRegion } from "../src/image/crop-region.js";
import { blurMask, maskBlurKernelSize } from "../src/image/mask-blur.js";
import { outpaintCanvas, roundedExtension } from "../src/image/outpaint-canvas.js";
import { decodePngRgb } from "../src/image/png.js";
import type { RgbImage } from "../src/image/types.js";
import {
  A1111_API_INPAINT,
  type MaskedContent,
  prepareInpainting,
} from "../src/pipeline/a1111-inpainting.js";
import {
  GENERATION_JOB_VERSION,
  type GenerationJob,
  type JobRequest,
} from "../src/pipeline/generation-job.js";
import { encodeImage } from "../src/pipeline/job-image.js";
import { InvalidRequestError } from "../src/pipeline/request.js";
import { runGenerationJob } from "../src/pipeline/run-generation-job.js";
import { fixturePath } from "./helpers/fixtures.js";
import { inpaintRequest } from "./helpers/inpaint-request.js";
import { readFixturePng } from "./helpers/pipeline-cases.js";

const INIT = toRgb(readFixturePng("pipelines/inpaint_ddim_8_init.png"));

function gradient(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set([(i * 5) % 256, (i * 11) % 256, 90], i * 3);
  return { width, height, data };
}

function job(
  model: string,
  request: Omit<JobRequest, "prompt" | "sampler" | "steps" | "guidance" | "seed">,
): GenerationJob {
  return {
    version: GENERATION_JOB_VERSION,
    model: { path: fixturePath("models", model) },
    loras: [],
    request: { prompt: "a beach", sampler: "Euler a", steps: 3, guidance: 7.5, seed: 7, ...request },
    engine: { runtime: { threads: 1, cache: false } },
  };
}

async function run(j: GenerationJob) {
  const result = await runGenerationJob(j);
  const { image } = decodePngRgb(new Uint8Array(Buffer.from(result.images[0].png, "base64")));
  return { result, image };
}

function pixel(image: RgbImage, x: number, y: number): number[] {
  const i = (y * image.width + x) * 3;
  return [...image.data.subarray(i, i + 3)];
}

describe("the outpaint canvas", () => {
  test("each side of the canvas is rounded up to a multiple of 8, shared in proportion", () => {
    assert.deepEqual(roundedExtension(64, 64, { left: 20, right: 0, up: 0, down: 0 }), {
      left: 24,
      right: 0,
      up: 0,
      down: 0,
    });
    // 64 + 10 + 10 → 88: 24 more, left 10·24 // 20 = 12, right the rest
    assert.deepEqual(roundedExtension(64, 64, { left: 10, right: 10, up: 0, down: 0 }), {
      left: 12,
      right: 12,
      up: 0,
      down: 0,
    });
    // 60 wide, nothing asked: 4 pixels more on the right; 52 high + 5 up → 64: 12 up
    assert.deepEqual(roundedExtension(60, 52, { left: 0, right: 0, up: 5, down: 0 }), {
      left: 0,
      right: 4,
      up: 12,
      down: 0,
    });
  });

  test("the image sits at its offset; the mask is white over the new area and the overlap", () => {
    const image = gradient(20, 16);
    const canvas = outpaintCanvas(image, { left: 4, right: 0, up: 0, down: 8 }, 2, 3);
    assert.deepEqual(canvas.extension, { left: 4, right: 0, up: 0, down: 8 });
    assert.deepEqual([canvas.image.width, canvas.image.height], [24, 24]);
    assert.deepEqual(pixel(canvas.image, 4, 0), pixel(image, 0, 0));
    assert.deepEqual(pixel(canvas.image, 23, 15), pixel(image, 19, 15));
    assert.deepEqual(pixel(canvas.image, 1, 1), [0, 0, 0], "new area starts black");
    const m = (x: number, y: number) => canvas.mask.data[y * 24 + x];
    // left: new area 0..3 plus 2 overlap → white up to x = 5; the right side was not extended
    assert.deepEqual([m(5, 0), m(6, 0), m(23, 0)], [255, 0, 0]);
    // down: rows 16..23 plus 3 overlap → white from row 13; up was not extended: row 0 is kept
    assert.deepEqual([m(10, 12), m(10, 13), m(10, 0)], [0, 255, 0]);
  });
});

describe("outpainting through a job", () => {
  const blur = 4;
  // the mask reaches `blur` pixels into the image, its blur another int(2.5·blur + 0.5)
  const reach = blur + (maskBlurKernelSize(blur) - 1) / 2;

  for (const [model, content] of [
    ["tiny-sd15", "fill"],
    ["tiny-sd15", "original"],
    ["tiny-sd15", "latent-noise"],
    ["tiny-sd15", "latent-nothing"],
    ["tiny-sd15-inpaint", "fill"],
  ] as const) {
    test(`${model}, ${content}: the new area is generated, the rest is the input`, async () => {
      const { image, result } = await run(
        job(model, {
          width: 88,
          height: 72,
          strength: 0.8,
          initImage: encodeImage(INIT, 3),
          outpaint: { left: 20, down: 8 },
          inpaint: { ...A1111_API_INPAINT, fullRes: false, maskedContent: content as MaskedContent },
        }),
      );
      assert.deepEqual([image.width, image.height], [88, 72]);
      const left = 24;
      let worst = 0;
      for (let y = 0; y < 64 - reach; y++) {
        for (let x = left + reach; x < 88; x++) {
          const got = pixel(image, x, y);
          const want = pixel(INIT, x - left, y);
          for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(got[c] - want[c]));
        }
      }
      assert.ok(worst <= 1, `untouched pixels differ by ${worst} levels`);
      let changed = 0;
      for (let y = 0; y < 72; y++)
        for (let x = 0; x < 20; x++) if (pixel(image, x, y).some((v) => v !== 0)) changed++;
      assert.ok(changed > 20 * 72 * 0.9, "the new area is no longer the black canvas");
      const label = {
        fill: "fill",
        original: undefined,
        "latent-noise": "latent noise",
        "latent-nothing": "latent nothing",
      }[content];
      assert.match(result.images[0].infotext, /Size: 88x72, /);
      assert.match(result.images[0].infotext, /Mask blur: 4/);
      if (label) assert.match(result.images[0].infotext, new RegExp(`Masked content: ${label}`));
      else assert.doesNotMatch(result.images[0].infotext, /Masked content/);
    });
  }

  test("a canvas that is not the generation size, a bad side and no init image are refused", async () => {
    await assert.rejects(
      runGenerationJob(job("tiny-sd15", { width: 64, height: 64, outpaint: { left: 8 } })),
      (err: Error) => err instanceof InvalidRequestError && /need an init image/.test(err.message),
    );
    await assert.rejects(
      runGenerationJob(
        job("tiny-sd15", {
          width: 64,
          height: 64,
          initImage: encodeImage(INIT, 3),
          outpaint: { sideways: 8 } as never,
        }),
      ),
      /outpaint direction "sideways"/,
    );
  });
});

describe('"Only masked" (inpaint_full_res)', () => {
  const W = 96;
  const H = 80;
  const image = gradient(W, H);
  const maskData = new Uint8Array(W * H);
  for (let y = 26; y < 44; y++) maskData.fill(255, y * W + 50, y * W + 62);
  const mask = { width: W, height: H, data: maskData };
  const settings = { ...A1111_API_INPAINT, fullResPadding: 6, maskBlurX: 2, maskBlurY: 2 };

  test("the crop box is A1111's, and nothing outside it changes", () => {
    const request = inpaintRequest(64, 64, image, mask);
    const prepared = prepareInpainting(request, settings);
    const blurred = blurMask(mask, 2, 2);
    const box = expandCropRegion(maskCropRegion(blurred, 6)!, 64, 64, W, H);
    // the blur reaches 5 pixels: 45..67 x 21..49, padded by 6: 39..73 x 15..55 (34x40); made square
    // for 64x64: width 40, int(40 − 34) = 6 → 3 on each side
    assert.deepEqual(maskCropRegion(blurred, 6), [39, 15, 73, 55]);
    assert.deepEqual(box, [36, 15, 76, 55]);
    assert.deepEqual([prepared.request.initImage!.width, prepared.request.mask!.width], [64, 64]);
    assert.equal(prepared.infotext["Inpaint area"], "Only masked");
    assert.equal(prepared.infotext["Masked area padding"], 6);
    const generated = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(3) };
    const out = prepared.finish(generated);
    assert.deepEqual([out.width, out.height], [W, H], "the result has the init image's size");
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const inside = x >= box[0] && x < box[2] && y >= box[1] && y < box[3];
        if (!inside) assert.deepEqual(pixel(out, x, y), pixel(image, x, y), `(${x}, ${y})`);
      }
    }
    assert.deepEqual(pixel(out, 55, 35), [3, 3, 3], "inside the mask: the generated image");
  });

  test("through a job with the inpainting model: the init image's size, untouched outside the box", async () => {
    const { image: out, result } = await run(
      job("tiny-sd15-inpaint", {
        width: 64,
        height: 64,
        strength: 1,
        initImage: encodeImage(image, 3),
        mask: encodeImage(mask, 1),
        inpaint: settings,
      }),
    );
    assert.deepEqual([out.width, out.height], [W, H]);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        if (x < 36 || x >= 76 || y < 15 || y >= 55) assert.deepEqual(pixel(out, x, y), pixel(image, x, y));
      }
    }
    assert.match(
      result.images[0].infotext,
      /Mask blur: 2, Inpaint area: Only masked, Masked area padding: 6, Masked content: fill/,
    );
  });

  test("inpainting_mask_invert repaints what the mask leaves black", () => {
    const request = inpaintRequest(W, H, image, mask);
    const plain = {
      ...settings,
      fullRes: false,
      maskBlurX: 0,
      maskBlurY: 0,
      maskedContent: "original" as const,
    };
    const inverted = prepareInpainting(request, { ...plain, invertMask: true });
    assert.equal(inverted.infotext["Mask mode"], "Inpaint not masked");
    assert.deepEqual(
      [...inverted.request.mask!.data],
      [...maskData].map((v) => 255 - v),
    );
    const generated = { width: W, height: H, data: new Uint8Array(W * H * 3).fill(3) };
    const out = inverted.finish(generated);
    assert.deepEqual(pixel(out, 55, 35), pixel(image, 55, 35), "the painted area is kept");
    assert.deepEqual(pixel(out, 5, 5), [3, 3, 3], "the rest is generated");
  });

  test("a blank mask runs plain img2img, as A1111 does", async () => {
    const blank = { width: W, height: H, data: new Uint8Array(W * H) };
    const request = inpaintRequest(64, 64, image, blank);
    const prepared = prepareInpainting(request, settings);
    assert.equal(prepared.request.mask, undefined);
    assert.equal(prepared.request.initImage!.width, 64);
    assert.match(prepared.warnings[0], /blank/);
  });
});
