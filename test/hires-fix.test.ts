/**
 * Hires fix (A1111 enable_hr) as a GenerationJob field, with the tiny SD1.5 fixture: the first pass
 * is bit for bit an ordinary txt2img, the second bit for bit an ordinary img2img of the enlarged
 * first image (Lanczos, an ESRGAN file, a resize with cropping) with the same seed; the Latent modes
 * enlarge the latents (checked against hand-computed interpolations) and denoise them as img2img
 * does; sizes and infotext entries are A1111's; the second pass's VAE runs in tiles.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { GenerateOptions } from "../src/cli/commands/generate.js";
import { checkOptions, hiresSettings, parseHiresResize } from "../src/cli/generate-job.js";
import { openPipeline } from "../src/engine/open-pipeline.js";
import { decodePngRgb } from "../src/image/png.js";
import type { RgbImage } from "../src/image/types.js";
import { decodeLatents, prepareGeneration } from "../src/pipeline/generate.js";
import {
  GENERATION_JOB_VERSION,
  type GenerationJob,
  validateGenerationJob,
} from "../src/pipeline/generation-job.js";
import { hiresInfotextEntries, hiresSize, type JobHires } from "../src/pipeline/hires-fix.js";
import { resizeWithUpscaler } from "../src/pipeline/hires-pass.js";
import { encodeImage } from "../src/pipeline/job-image.js";
import { LATENT_UPSCALE_MODES, upscaleLatents } from "../src/pipeline/latent-upscale.js";
import { InvalidRequestError } from "../src/pipeline/request.js";
import { runGenerationJob } from "../src/pipeline/run-generation-job.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { ModelSource, Runtime, Session, SessionOptions } from "../src/runtime/runtime.js";
import { classicUpscaler } from "../src/upscale/classic-upscalers.js";
import { openUpscaler } from "../src/upscale/open-upscaler.js";
import { fixturePath } from "./helpers/fixtures.js";
import { tinyRrdbWeights, writeTinySafetensors } from "./helpers/tiny-upscalers.js";

const TINY = fixturePath("models", "tiny-sd15");
const work = mkdtempSync(join(tmpdir(), "sdlite-hires-"));
after(() => rmSync(work, { recursive: true, force: true }));

const ENGINE = { runtime: { cache: false, threads: 1 } } as const;
const FIRST = {
  prompt: "a lighthouse on a cliff",
  negativePrompt: "blurry",
  sampler: "Euler a",
  steps: 3,
  guidance: 5,
  seed: 1234,
  width: 64,
  height: 48,
};

function job(request: GenerationJob["request"], hires?: JobHires): GenerationJob {
  return {
    version: GENERATION_JOB_VERSION,
    model: { path: TINY },
    loras: [],
    request,
    ...(hires ? { hires } : {}),
    engine: ENGINE,
  };
}

function pixels(png: string): RgbImage {
  return decodePngRgb(new Uint8Array(Buffer.from(png, "base64"))).image;
}

function assertSameImage(a: RgbImage, b: RgbImage, label: string): void {
  assert.equal(`${a.width}x${a.height}`, `${b.width}x${b.height}`, `${label}: size`);
  assert.ok(Buffer.from(a.data).equals(Buffer.from(b.data)), `${label}: pixels differ`);
}

/** The hires job's images and its first-pass images, by seed. */
async function runHires(request: GenerationJob["request"], hires: JobHires) {
  const firstPass = new Map<number, RgbImage>();
  const result = await runGenerationJob(job(request, hires), {
    onFirstPass: (image, seed) => firstPass.set(seed, image),
  });
  return { result, firstPass };
}

/** What an ordinary img2img job makes of `image` with the second pass's settings. */
async function ordinaryImg2img(
  image: RgbImage,
  seed: number,
  hires: JobHires,
  steps: number,
): Promise<RgbImage> {
  const made = await runGenerationJob(
    job({
      ...FIRST,
      seed,
      steps,
      width: image.width,
      height: image.height,
      initImage: encodeImage(image, 3),
      strength: hires.denoisingStrength,
    }),
  );
  return pixels(made.images[0].png);
}

describe("hires fix with an image upscaler: two ordinary passes", () => {
  test("Lanczos, batch of 2: first pass = txt2img, second = img2img of the enlarged image, per seed", async () => {
    const hires: JobHires = { upscaler: "Lanczos", scale: 1.5, steps: 2, denoisingStrength: 0.6 };
    const request = { ...FIRST, batchSize: 2 };
    const { result, firstPass } = await runHires(request, hires);
    const plain = await runGenerationJob(job(request));
    assert.equal(result.images.length, 2);
    for (const [i, image] of plain.images.entries()) {
      assertSameImage(firstPass.get(image.seed)!, pixels(image.png), `first pass of seed ${image.seed}`);
      const enlarged = await resizeWithUpscaler(classicUpscaler("Lanczos")!, pixels(image.png), 96, 72);
      const expected = await ordinaryImg2img(enlarged, image.seed, hires, 2);
      const hiresImage = result.images[i];
      assert.equal(hiresImage.seed, image.seed);
      assertSameImage(pixels(hiresImage.png), expected, `second pass of seed ${image.seed}`);
    }
  });

  test("an ESRGAN file and hr_resize_x/y: cover the size, then cut the overhang off as A1111's latents are", async () => {
    const path = join(work, "tiny-x2.safetensors");
    writeTinySafetensors(
      path,
      tinyRrdbWeights({ blocks: 1, features: 8, growth: 4, upsamples: 1, unshuffle: 1 }),
    );
    // 64x48 to 96x96: upscaled to 128x96 (the width covers), 32 px = 4 latents cut, 2 from the left
    const hires: JobHires = {
      upscaler: "tiny-x2",
      upscalerPath: path,
      resizeX: 96,
      resizeY: 96,
      denoisingStrength: 0.5,
    };
    const size = hiresSize(64, 48, hires);
    assert.deepEqual(size, {
      upscaleTo: { width: 128, height: 96 },
      truncate: { x: 4, y: 0 },
      width: 96,
      height: 96,
    });
    const { result, firstPass } = await runHires(FIRST, hires);
    const first = firstPass.get(FIRST.seed)!;
    const upscaler = openUpscaler(path, { cache: false, threads: 1 });
    const enlarged = await resizeWithUpscaler(upscaler, first, 128, 96);
    await upscaler.close();
    const cropped: RgbImage = { width: 96, height: 96, data: new Uint8Array(96 * 96 * 3) };
    for (let y = 0; y < 96; y++)
      cropped.data.set(enlarged.data.subarray((y * 128 + 16) * 3, (y * 128 + 112) * 3), y * 96 * 3);
    const expected = await ordinaryImg2img(cropped, FIRST.seed, hires, FIRST.steps);
    assertSameImage(pixels(result.images[0].png), expected, "second pass");
    assert.match(
      result.images[0].infotext,
      /Size: 64x48, .*Denoising strength: 0\.5, .*Hires resize: 96x96, Hires upscaler: tiny-x2/,
    );
  });
});

describe("Latent upscalers", () => {
  test("interpolations equal hand-computed values", () => {
    const grid = Float32Array.of(0, 1, 2, 3); // [[0, 1], [2, 3]]
    const bilinear = upscaleLatents(grid, [1, 1, 2, 2], 4, 4, LATENT_UPSCALE_MODES.Latent);
    // source x = (i + 0.5)/2 − 0.5, clamped at 0: 0, 0.25, 0.75, 1 of the way; rows add twice that
    assert.deepEqual(
      [...bilinear],
      [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3],
    );
    const aa = upscaleLatents(grid, [1, 1, 2, 2], 4, 4, LATENT_UPSCALE_MODES["Latent (antialiased)"]);
    assert.deepEqual([...aa], [...bilinear], "enlarging, the antialiased triangle filter is bilinear");

    const row = Float32Array.of(10, 20, 30); // 3 → 5 columns: nearest floor(0.6i), nearest-exact floor(0.6(i + 0.5))
    const nearest = upscaleLatents(row, [1, 1, 1, 3], 1, 5, LATENT_UPSCALE_MODES["Latent (nearest)"]);
    assert.deepEqual([...nearest], [10, 10, 20, 20, 30]);
    const exact = upscaleLatents(row, [1, 1, 1, 3], 1, 5, LATENT_UPSCALE_MODES["Latent (nearest-exact)"]);
    assert.deepEqual([...exact], [10, 10, 20, 30, 30]);

    // bicubic, Keys' kernel with A = −0.75 (torch's): at t = 0.25 the taps weigh W(1.25) = −0.10546875,
    // W(0.25) = 0.87890625, W(0.75) = 0.26171875, W(1.75) = −0.03515625. At x = 0.25 the left tap is
    // clamped to index 0: 0·W(1.25) + 0·W(0.25) + 1·W(0.75) + 2·W(1.75) = 0.19140625; at x = 1.25 (all
    // inside): 0·W(1.25) + 1·W(0.25) + 2·W(0.75) + 3·W(1.75) = 1.296875 (A = −0.75 does not keep ramps)
    const ramp = Float32Array.of(0, 1, 2, 3);
    const cubic = upscaleLatents(ramp, [1, 1, 1, 4], 1, 8, LATENT_UPSCALE_MODES["Latent (bicubic)"]);
    assert.ok(Math.abs(cubic[1] - 0.19140625) < 1e-6, `x=0.25 gives ${cubic[1]}`);
    assert.ok(Math.abs(cubic[3] - 1.296875) < 1e-6, `x=1.25 gives ${cubic[3]}`);
  });

  for (const upscaler of ["Latent", "Latent (nearest-exact)"] as const) {
    test(`${upscaler}: the second pass is img2img from the enlarged first-pass latents, no decode in between`, async () => {
      const hires: JobHires = { upscaler, scale: 2, denoisingStrength: 0.7, sampler: "DDIM", steps: 2 };
      const { result, firstPass } = await runHires(FIRST, hires);
      assert.equal(firstPass.size, 1, "the first pass is still shown to onFirstPass");

      const pipeline = await openPipeline(TINY, { runtime: { cache: false, threads: 1 } });
      try {
        const first = await prepareGeneration(pipeline.models, { ...FIRST });
        const { latents, shape } = await first.denoiseIteration(0);
        assertSameImage(
          firstPass.get(FIRST.seed)!,
          (await decodeLatents(pipeline.models.vae, latents, shape))[0],
          "first pass",
        );
        const enlarged = upscaleLatents(latents, shape, 12, 16, LATENT_UPSCALE_MODES[upscaler]);
        const blank = { width: 128, height: 96, data: new Uint8Array(128 * 96 * 3) };
        const second = await prepareGeneration(pipeline.models, {
          ...FIRST,
          sampler: "DDIM",
          steps: 2,
          width: 128,
          height: 96,
          initImage: blank,
          strength: 0.7,
        });
        const [made] = await second.iteration(0, { start: { seeds: [FIRST.seed], latents: enlarged } });
        assertSameImage(pixels(result.images[0].png), made.image, "second pass");
      } finally {
        await pipeline.close();
      }
      assert.match(
        result.images[0].infotext,
        new RegExp(
          `Hires sampler: DDIM, Hires upscale: 2, Hires steps: 2, Hires upscaler: ${upscaler.replace(/[()]/g, "\\$&")}`,
        ),
      );
    });
  }
});

describe("A1111's sizes and infotext", () => {
  test("calculate_target_resolution", () => {
    assert.deepEqual(hiresSize(512, 768, { scale: 1.5 }).upscaleTo, { width: 768, height: 1152 });
    assert.deepEqual(hiresSize(512, 768, { resizeX: 1024 }).upscaleTo, { width: 1024, height: 1536 });
    assert.deepEqual(hiresSize(512, 768, { resizeY: 1024 }).upscaleTo, { width: 682, height: 1024 });
    const both = hiresSize(512, 768, { resizeX: 1024, resizeY: 1024 });
    assert.deepEqual(both, {
      upscaleTo: { width: 1024, height: 1536 },
      truncate: { x: 0, y: 64 },
      width: 1024,
      height: 1024,
    });
    // int(520 · 1.3) = 676: the second pass keeps whole latents, 672
    assert.equal(hiresSize(520, 512, { scale: 1.3 }).width, 672);
  });

  test("entries in A1111's order, each only when it says something", () => {
    const first = { ...FIRST };
    assert.deepEqual(Object.entries(hiresInfotextEntries(first, {})), [["Hires upscale", 2]]);
    assert.deepEqual(
      Object.entries(
        hiresInfotextEntries(first, {
          upscaler: "Latent (nearest)",
          sampler: "DDIM",
          prompt: "a lighthouse, detailed",
          negativePrompt: "blurry",
          resizeX: 1024,
          steps: 10,
        }),
      ),
      [
        ["Hires sampler", "DDIM"],
        ["Hires prompt", "a lighthouse, detailed"],
        ["Hires resize", "1024x0"],
        ["Hires steps", 10],
        ["Hires upscaler", "Latent (nearest)"],
      ],
    );
  });

  test("bad settings are refused with one line", () => {
    const bad: [JobHires, RegExp][] = [
      [{ scale: 0 }, /hires scale/],
      [{ upscaler: "4x-Missing" }, /no weights file/],
      [{ denoisingStrength: 1.5 }, /denoising strength/],
      [{ resizeX: 4096 * 2 }, /resizeX/],
      [{ scale: 8 }, /at most 4096/],
    ];
    for (const [hires, message] of bad) {
      assert.throws(
        () => validateGenerationJob(job({ ...FIRST, width: 640, height: 640 }, hires)),
        (err: Error) => {
          assert.ok(err instanceof InvalidRequestError);
          assert.match(err.message, message);
          return true;
        },
      );
    }
  });
});

/** Records the input size of every VAE encoder and decoder run (sessions with one image-like input). */
class RecordingRuntime implements Runtime {
  readonly name = "recording";
  private readonly inner = onnxruntimeNode();
  readonly runs: { channels: number; height: number; width: number }[] = [];

  availableProviders(): string[] {
    return this.inner.availableProviders();
  }

  async createSession(model: ModelSource, options?: SessionOptions): Promise<Session> {
    const session = await this.inner.createSession(model, options);
    return {
      inputNames: session.inputNames,
      outputNames: session.outputNames,
      run: (feeds, names) => {
        const inputs = Object.values(feeds);
        if (inputs.length === 1 && inputs[0].dims.length === 4 && [3, 4].includes(inputs[0].dims[1])) {
          const [, channels, height, width] = inputs[0].dims;
          this.runs.push({ channels, height, width });
        }
        return session.run(feeds, names);
      },
      release: () => session.release(),
    };
  }
}

test("the second pass encodes and decodes in tiles of the first pass's size (tiled VAE)", async () => {
  // tiles of 8 latents = 64 px stand in for 512 px: a 64x64 first pass, a 128x128 (×2) second pass
  const runtime = new RecordingRuntime();
  const result = await runGenerationJob(
    {
      ...job({ ...FIRST, height: 64 }, { upscaler: "Lanczos", scale: 2, denoisingStrength: 0.5 }),
      engine: { ...ENGINE, memory: { tileLatentSize: 8 } },
    },
    { local: { runtime } },
  );
  assert.equal(pixels(result.images[0].png).width, 128);
  const encodes = runtime.runs.filter((r) => r.channels === 3);
  const decodes = runtime.runs.filter((r) => r.channels === 4);
  assert.ok(
    encodes.length > 1 && decodes.length > 2,
    `tiles: ${encodes.length} encoder and ${decodes.length} decoder runs`,
  );
  for (const r of encodes)
    assert.ok(r.height <= 64 && r.width <= 64, `an encoder run of ${r.width}x${r.height} px`);
  for (const r of decodes)
    assert.ok(r.height <= 8 && r.width <= 8, `a decoder run of ${r.width}x${r.height} latents`);
});

describe("the CLI's hires options", () => {
  const base: GenerateOptions = { lora: [], output: "unused" };
  test("become the job's hires settings", () => {
    assert.equal(hiresSettings(base), undefined, "no hires option: no hires fix");
    assert.deepEqual(hiresSettings({ ...base, hires: true }), {});
    assert.deepEqual(
      hiresSettings({
        ...base,
        hiresUpscaler: "latent (nearest)",
        hiresResize: "1024x0",
        hiresSteps: 8,
        denoisingStrength: 0.4,
        hiresSampler: "DDIM",
        hiresPrompt: "detailed",
      }),
      {
        upscaler: "Latent (nearest)",
        resizeX: 1024,
        resizeY: 0,
        steps: 8,
        denoisingStrength: 0.4,
        sampler: "DDIM",
        prompt: "detailed",
      },
    );
  });

  test("bad combinations are refused before anything loads, in one line", () => {
    const bad: [Partial<GenerateOptions>, RegExp][] = [
      [{ hiresResize: "big" }, /--hires-resize must be WIDTHxHEIGHT/],
      [{ hiresResize: "0x0" }, /--hires-resize/],
      [{ hiresUpscaler: "no-such-upscaler" }, /--hires-upscaler "no-such-upscaler" is no file/],
      [{ denoisingStrength: 0.5 }, /--denoising-strength needs the hires fix/],
      [{ hires: true, initImage: "in.png" }, /hires fix .* cannot be used with --init-image/],
      [{ hiresSampler: "Nope" }, /unknown sampler "Nope"/],
      [{ hiresScale: 0 }, /hires scale must be/],
    ];
    for (const [options, message] of bad) {
      assert.throws(() => checkOptions({ ...base, ...options }), message, JSON.stringify(options));
    }
    assert.deepEqual(parseHiresResize("640x0"), { resizeX: 640, resizeY: 0 });
  });
});

test("a 9-channel inpainting model: the second pass repaints all of the enlarged image", async () => {
  const result = await runGenerationJob({
    ...job(FIRST, { upscaler: "Lanczos", denoisingStrength: 0.5 }),
    model: { path: fixturePath("models", "tiny-sd15-inpaint") },
  });
  assert.equal(result.inpaintingConditioning, true);
  assert.deepEqual([pixels(result.images[0].png).width, pixels(result.images[0].png).height], [128, 96]);
});
