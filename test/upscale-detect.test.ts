/**
 * Upscaler weights: architecture detection from shapes in every layout, the errors for files that
 * are not upscalers (naming what was found), the classic resamplers and A1111's upscale loop.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { resizeRgb } from "../src/image/resize.js";
import type { RgbImage } from "../src/image/types.js";
import { classicUpscaler, resizeNearestRgb } from "../src/upscale/classic-upscalers.js";
import { receptiveRadius } from "../src/upscale/esrgan-architecture.js";
import { openUpscaler, UnknownUpscalerError } from "../src/upscale/open-upscaler.js";
import { upscaleBy, upscaleTargetSize } from "../src/upscale/upscale-by.js";
import type { Upscaler } from "../src/upscale/upscaler.js";
import { openUpscalerWeights } from "../src/upscale/upscaler-weights.js";
import { writeSafetensors } from "../src/weights/formats/safetensors-writer.js";
import {
  tinyCompactWeights,
  tinyRrdbWeights,
  toOldEsrganLayout,
  writeTinyPth,
  writeTinySafetensors,
} from "./helpers/tiny-upscalers.js";

const dir = mkdtempSync(join(tmpdir(), "sdlite-upscale-detect-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function architectureOf(path: string) {
  const w = openUpscalerWeights(path);
  w.close();
  return w.architecture;
}

describe("upscaler architecture detection", () => {
  it("RealESRGAN_x4plus-like (23 blocks) from a params_ema .pth, with the receptive radius", () => {
    const path = join(dir, "x4plus.pth");
    // full block count, tiny features: the shapes are what detection reads
    writeTinyPth(path, tinyRrdbWeights({ blocks: 23, features: 4, growth: 2, upsamples: 2, unshuffle: 1 }));
    const a = architectureOf(path);
    assert.deepEqual(a, {
      kind: "rrdb",
      scale: 4,
      imageChannels: 3,
      outChannels: 3,
      blocks: 23,
      features: 4,
      growth: 2,
      upsamples: 2,
      unshuffle: 1,
    });
    // conv_first + 23·15 + conv_body = 347 LR convs; the HR part adds under 2 px
    assert.equal(receptiveRadius(a), 349);
  });

  it("anime 6B, x2plus (in_ch 12), x1 (in_ch 48), old-layout x8, compact", () => {
    const cases: [string, () => void, Record<string, number | string>][] = [
      [
        "anime6b.safetensors",
        () =>
          writeTinySafetensors(
            join(dir, "anime6b.safetensors"),
            tinyRrdbWeights({ blocks: 6, features: 4, growth: 2, upsamples: 2, unshuffle: 1 }),
          ),
        { blocks: 6, scale: 4 },
      ],
      [
        "x2plus.pth",
        () =>
          writeTinyPth(
            join(dir, "x2plus.pth"),
            tinyRrdbWeights({ blocks: 2, features: 4, growth: 2, upsamples: 2, unshuffle: 2 }),
          ),
        { scale: 2, unshuffle: 2 },
      ],
      [
        "x1.safetensors",
        () =>
          writeTinySafetensors(
            join(dir, "x1.safetensors"),
            tinyRrdbWeights({ blocks: 1, features: 4, growth: 2, upsamples: 2, unshuffle: 4 }),
          ),
        { scale: 1, unshuffle: 4 },
      ],
      [
        "old-x8.safetensors",
        () => {
          const a = { blocks: 2, features: 4, growth: 2, upsamples: 3, unshuffle: 1 };
          writeTinySafetensors(join(dir, "old-x8.safetensors"), toOldEsrganLayout(tinyRrdbWeights(a), a));
        },
        { scale: 8, upsamples: 3, blocks: 2 },
      ],
      [
        "animevideov3.pth",
        () => writeTinyPth(join(dir, "animevideov3.pth"), tinyCompactWeights(4, 16, 4)),
        { kind: "compact", convs: 16, scale: 4, features: 4 },
      ],
    ];
    for (const [file, write, expected] of cases) {
      write();
      const a = architectureOf(join(dir, file)) as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(expected)) assert.equal(a[k], v, `${file}: ${k}`);
    }
  });

  it("safetensors converted with a params_ema. prefix", () => {
    const t = tinyRrdbWeights({ blocks: 1, features: 4, growth: 2, upsamples: 2, unshuffle: 1 });
    const path = join(dir, "prefixed.safetensors");
    writeTinySafetensors(path, new Map([...t].map(([k, v]) => [`params_ema.${k}`, v])));
    assert.equal(architectureOf(path).kind, "rrdb");
  });

  it("refuses other files, naming what was found", () => {
    const sd = join(dir, "unet.safetensors");
    writeSafetensors(sd, [
      {
        name: "model.diffusion_model.input_blocks.0.0.weight",
        dtype: "F32",
        shape: [2],
        data: new Float32Array(2),
      },
    ]);
    assert.throws(
      () => openUpscalerWeights(sd),
      /not an ESRGAN-family upscaler .*1 tensors, e\.g\. "model\.diffusion_model\.input_blocks\.0\.0\.weight"/,
    );

    // a compact net with ReLU (no PReLU slopes between the convs)
    const relu = new Map([...tinyCompactWeights(4, 1, 4)].filter(([k]) => !/^body\.(1|3)\.weight$/.test(k)));
    const renumbered = new Map(
      [...relu].map(([k, v]) => [k.replace(/^body\.2\./, "body.1.").replace(/^body\.4\./, "body.2."), v]),
    );
    const reluPath = join(dir, "relu.safetensors");
    writeTinySafetensors(reluPath, renumbered);
    assert.throws(() => openUpscalerWeights(reluPath), /only the PReLU variant/);

    // an old-layout file missing its HR conv
    const a = { blocks: 1, features: 4, growth: 2, upsamples: 2, unshuffle: 1 };
    const old = toOldEsrganLayout(tinyRrdbWeights(a), a);
    old.delete("model.8.weight");
    old.delete("model.8.bias");
    const oldPath = join(dir, "old-broken.safetensors");
    writeTinySafetensors(oldPath, old);
    assert.throws(
      () => openUpscalerWeights(oldPath),
      /old-layout ESRGAN with 2 upsample stage\(s\) but without model\.8/,
    );

    // conv_first in_ch that is no image × r²
    const odd = tinyRrdbWeights(a);
    odd.set("conv_first.weight", { shape: [4, 5, 3, 3], data: new Float32Array(180) });
    const oddPath = join(dir, "odd.safetensors");
    writeTinySafetensors(oddPath, odd);
    assert.throws(() => openUpscalerWeights(oddPath), /conv_first takes 5 channels and conv_last gives 3/);

    const junk = join(dir, "junk.pth");
    writeFileSync(junk, "not a checkpoint");
    assert.throws(() => openUpscalerWeights(junk), /junk\.pth/);
    assert.throws(() => openUpscaler(join(dir, "missing.pth")), UnknownUpscalerError);
    assert.throws(() => openUpscaler("Bicubic"), /neither a weights file nor one of None, Lanczos, Nearest/);
  });
});

function gradient(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 29 + 3) % 256;
  return { width, height, data };
}

describe("classic upscalers and A1111's upscale loop", () => {
  it("Nearest samples pixel centres as PIL does (3 → 8: 0,0,0,1,1,2,2,2)", () => {
    const row = { width: 3, height: 1, data: Uint8Array.of(10, 11, 12, 20, 21, 22, 30, 31, 32) };
    const out = resizeNearestRgb(row, 8, 2);
    const reds = Array.from({ length: 8 }, (_, x) => out.data[x * 3]);
    assert.deepEqual(reds, [10, 10, 10, 20, 20, 30, 30, 30]);
    assert.deepEqual([...out.data.subarray(24, 27)], [10, 11, 12]); // second row = first
  });

  it("Lanczos and Nearest ×2 and ×4: sizes, exact blocks, Lanczos = PIL resize", async () => {
    const image = gradient(16, 12);
    const lanczos = classicUpscaler("lanczos") as Upscaler;
    const nearest = classicUpscaler("Nearest") as Upscaler;
    assert.equal(lanczos.name, "Lanczos");
    const l2 = await upscaleBy(lanczos, image, 2);
    assert.deepEqual([l2.width, l2.height], [32, 24]);
    assert.deepEqual(l2.data, resizeRgb(image, 32, 24, "lanczos").data);
    const n4 = await upscaleBy(nearest, image, 4);
    assert.deepEqual([n4.width, n4.height], [64, 48]);
    for (const [x, y] of [
      [0, 0],
      [63, 47],
      [17, 30],
    ]) {
      const src = (Math.floor(y / 4) * 16 + Math.floor(x / 4)) * 3;
      const dst = (y * 64 + x) * 3;
      assert.deepEqual(
        [...n4.data.subarray(dst, dst + 3)],
        [...image.data.subarray(src, src + 3)],
        `${x},${y}`,
      );
    }
    // a flat image stays flat through Lanczos
    const flat = { width: 5, height: 5, data: new Uint8Array(75).fill(77) };
    assert.ok((await upscaleBy(lanczos, flat, 3.2)).data.every((v) => v === 77));
  });

  it("targets round down to a multiple of 8, as A1111 does; then one Lanczos resize", async () => {
    assert.deepEqual(upscaleTargetSize(10, 7, 2), { width: 16, height: 8 });
    assert.throws(() => upscaleTargetSize(3, 3, 2), /smaller than 8 pixels/);
    assert.throws(() => upscaleTargetSize(30, 30, 0), /positive number/);
    const image = gradient(10, 10);
    const nearest = classicUpscaler("Nearest") as Upscaler;
    const out = await upscaleBy(nearest, image, 2);
    // Nearest gives 20x20, then A1111 resizes that to 16x16 with Lanczos
    assert.deepEqual(out.data, resizeRgb(resizeNearestRgb(image, 20, 20), 16, 16, "lanczos").data);
  });

  it("a model pass repeats until the target is reached (4x asked 8x: two passes), then shrinks", async () => {
    const passes: number[] = [];
    const fake4x: Upscaler = {
      name: "fake",
      scale: 4,
      isModel: true,
      pass: async (img) => {
        passes.push(img.width);
        return resizeNearestRgb(img, img.width * 4, img.height * 4);
      },
      close: async () => {},
    };
    const out = await upscaleBy(fake4x, gradient(8, 8), 8);
    assert.deepEqual(passes, [8, 32]);
    assert.deepEqual([out.width, out.height], [64, 64]);
    passes.length = 0;
    const half = await upscaleBy(fake4x, gradient(8, 8), 2);
    assert.deepEqual(passes, [8]);
    assert.deepEqual([half.width, half.height], [16, 16]);
  });
});
