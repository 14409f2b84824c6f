/**
 * The in-tab engine's TAESD side and Clip skip (web/src/local/local-engine.ts, built by
 * scripts/build-web.ts) in Chromium on onnxruntime-web's wasm backend, against Node on
 * onnxruntime-node's CPU with the same tiny single-file checkpoint and tiny TAESD fixture:
 * - live previews arrive during the generation, at steps the server's rule picks, and each equals
 *   Node's TAESD preview decode of Node's latents at that step within 1 level (the final images of the
 *   two agree within 1 level too: browser-engine.test.ts); without TAESD there are none;
 * - TAESD as the final decoder gives `sdlite generate`'s image and infotext (`VAE Decoder: TAESD`);
 * - Clip skip 2 gives the job run's image and infotext (`Clip skip: 2`);
 * - batch size 2 × batch count 2 gives the job run's four images, seeds 42..45, and infotexts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { openPipeline } from "../src/engine/open-pipeline.js";
import { generate } from "../src/pipeline/generate.js";
import type { JobRequest } from "../src/pipeline/generation-job.js";
import type { JobEngine } from "../src/pipeline/job-engine.js";
import type { Shape4 } from "../src/pipeline/networks.js";
import type { LocalGenerateRequest } from "../web/src/local/local-engine.js";
import { fixturePath } from "./helpers/fixtures.js";
import {
  assertSameImage,
  assertWithinLevels,
  type EnginePage,
  jobRequestOf,
  maxLevels,
  type NodeImage,
  openEnginePage,
  pagePixels,
  TINY_CHECKPOINT,
  nodeImages as tinyNodeImages,
} from "./helpers/in-tab-engine.js";
import { TINY_OVERRIDES } from "./helpers/tiny-configs.js";

/** diffusers AutoencoderTiny naming, one file (as `--taesd FILE` takes it). */
const TAESD = fixturePath("models", "tiny-taesd", "diffusion_pytorch_model.safetensors");
const EVERY = 2;

const REQUEST: LocalGenerateRequest = {
  prompt: "a red ball on a table",
  negativePrompt: "blurry",
  steps: 6,
  cfgScale: 7,
  width: 64,
  height: 64,
  seed: 42,
  sampler: "Euler a",
};

interface PagePreview {
  step: number;
  totalSteps: number;
  png: number[];
  width: number;
  height: number;
  /** How many step reports had come when it arrived. */
  afterSteps: number;
}

interface PageImage {
  png: number[];
  infotext: string;
  seed: number;
}

interface PageResult extends PageImage {
  images: PageImage[];
  previews: PagePreview[];
  statuses: string[];
  hasPreviews: boolean;
}

function runInPage(
  page: Page,
  options: { request?: LocalGenerateRequest; taesd?: boolean; decoder?: "vae" | "taesd"; every?: number },
): Promise<PageResult> {
  return page.evaluate(
    (args) =>
      (globalThis as unknown as { sdliteRunPreviews(a: typeof args): Promise<PageResult> }).sdliteRunPreviews(
        args,
      ),
    {
      backend: "wasm" as const,
      request: options.request ?? REQUEST,
      overrides: TINY_OVERRIDES,
      name: basename(TINY_CHECKPOINT),
      lastModified: statSync(TINY_CHECKPOINT).mtimeMs,
      taesd: options.taesd
        ? { url: "/test/taesd.safetensors", fileName: basename(TAESD), lastModified: statSync(TAESD).mtimeMs }
        : undefined,
      decoder: options.decoder,
      every: options.every,
    },
  );
}

/** The job run of REQUEST (with `request`'s changes) on onnxruntime-node's CPU: PNG pixels and infotext. */
async function nodeRun(
  request: Partial<JobRequest> = {},
  engine: Partial<JobEngine> = {},
): Promise<NodeImage> {
  return (await nodeImages(request, engine))[0];
}

/** Every image of the job run (batches), in seed order. */
function nodeImages(
  request: Partial<JobRequest> = {},
  engine: Partial<JobEngine> = {},
): Promise<NodeImage[]> {
  return tinyNodeImages({ request: { ...jobRequestOf(REQUEST), ...request }, engine });
}

/** Node's TAESD preview (the server's decoder) of Node's latents after every denoising step. */
async function nodePreviews(): Promise<Map<number, Uint8Array>> {
  const pipeline = await openPipeline(TINY_CHECKPOINT, {
    overrides: TINY_OVERRIDES,
    taesd: TAESD,
    runtime: { threads: 1, cache: false },
  });
  try {
    const latents = new Map<number, { data: Float32Array; shape: Shape4 }>();
    await generate(pipeline.models, jobRequestOf(REQUEST), {
      onProgress: (p) => {
        if (p.stage === "denoise" && p.step > 0 && p.latents && p.latentShape) {
          latents.set(p.step, { data: p.latents.slice(), shape: p.latentShape });
        }
      },
    });
    const decoded = new Map<number, Uint8Array>();
    for (const [step, { data, shape }] of latents) {
      decoded.set(step, (await pipeline.previewDecoder!.decode(data, shape)).data);
    }
    return decoded;
  } finally {
    await pipeline.close();
  }
}

describe("the in-tab engine's TAESD previews and decoder, Clip skip and batches match Node (tiny SD1.5, Chromium wasm)", () => {
  let engine: EnginePage;
  let page: Page;
  let work: string;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "sdlite-browser-previews-"));
    process.env.SDLITE_CACHE = join(work, "cache"); // the Model hash's hashes.json
    engine = await openEnginePage({
      html: "engine-preview-page.html",
      ready: "sdliteRunPreviews",
      files: { "/test/taesd.safetensors": TAESD },
      webgpu: false,
    });
    page = engine.page;
  });
  after(async () => {
    await engine?.close();
    rmSync(work, { recursive: true, force: true });
  });

  test(`previews every ${EVERY} steps arrive while denoising and equal Node's TAESD decode of its latents within 1 level`, async () => {
    const [node, result] = [await nodePreviews(), await runInPage(page, { taesd: true, every: EVERY })];
    assert.equal(result.hasPreviews, true);
    assert.ok(result.statuses.includes("reading the TAESD weights"), result.statuses.join("; "));
    assert.ok(result.previews.length > 0, "no preview arrived");
    // during the generation: the first one before the last step was reported
    assert.ok(
      result.previews[0].afterSteps < REQUEST.steps,
      `first preview after ${result.previews[0].afterSteps} steps`,
    );
    for (const p of result.previews) {
      assert.equal(p.step % EVERY, 0, `a preview at step ${p.step}`);
      assert.equal(p.totalSteps, REQUEST.steps);
      assert.deepEqual([p.width, p.height], [REQUEST.width, REQUEST.height]);
      const pixels = pagePixels(p.png);
      assertWithinLevels(pixels, node.get(p.step)!, 1, `preview at step ${p.step}`);
      // a TAESD decode at this step, not a picture of some other step's latents
      const other = node.get(p.step === EVERY ? REQUEST.steps : EVERY)!;
      assert.ok(maxLevels(pixels, other) > 1, `step ${p.step}'s preview is another step's`);
    }
  });

  test("without TAESD weights there are no previews (and the engine says so)", async () => {
    const result = await runInPage(page, { every: 1 });
    assert.equal(result.hasPreviews, false);
    assert.deepEqual(result.previews, []);
  });

  test("TAESD as the final decoder: `sdlite generate`'s infotext (VAE Decoder: TAESD) and pixels within 1 level", async () => {
    const node = await nodeRun({}, { taesd: TAESD, speed: { decoder: "taesd" } });
    assert.match(node.infotext, /VAE Decoder: TAESD/);
    const result = await runInPage(page, { taesd: true, decoder: "taesd" });
    const pixels = assertSameImage(result, node, 1, "TAESD decoder");
    // the full VAE's image is another one: an engine ignoring the decoder would fail
    const vae = await nodeRun();
    assert.ok(maxLevels(pixels, vae.pixels) > 1, "the TAESD decode equals the VAE's");
  });

  test("Clip skip 2: the job run's infotext (Clip skip: 2) and pixels within 1 level", async () => {
    const node = await nodeRun({ clipSkip: 2 });
    assert.match(node.infotext, /Clip skip: 2/);
    const result = await runInPage(page, { request: { ...REQUEST, clipSkip: 2 } });
    assert.equal(result.infotext, node.infotext);
    const pixels = pagePixels(result.png);
    assertWithinLevels(pixels, node.pixels, 1, "Clip skip 2");
    const skip1 = await nodeRun();
    assert.ok(maxLevels(pixels, skip1.pixels) > 1, "Clip skip 2 made Clip skip 1's image");
  });

  test("batch size 2 × batch count 2: the job run's four images (seeds 42..45), infotexts and pixels within 1 level", async () => {
    const node = await nodeImages({ batchSize: 2, batchCount: 2 });
    assert.deepEqual(
      node.map((i) => i.seed),
      [42, 43, 44, 45],
    );
    const result = await runInPage(page, { request: { ...REQUEST, batchSize: 2, batchCount: 2 } });
    assert.deepEqual(
      result.images.map((i) => i.seed),
      [42, 43, 44, 45],
    );
    for (const [k, image] of result.images.entries()) {
      assert.equal(image.infotext, node[k].infotext, `image ${k}: infotext`);
      assertWithinLevels(pagePixels(image.png), node[k].pixels, 1, `batch image ${k} (seed ${image.seed})`);
    }
    // four different images: the seeds reached the noise
    assert.ok(maxLevels(node[0].pixels, node[1].pixels) > 1 && maxLevels(node[1].pixels, node[2].pixels) > 1);
  });
});
