/**
 * The built in-tab engine (dist/web/local-engine.js) in a Chromium page (test/browser/engine-page.html,
 * or another page of test/browser/) and the job run of the same request on onnxruntime-node's CPU, for
 * tests that compare the two.
 */
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import type { Page } from "playwright-core";
import { decodePngRgb } from "../../src/image/png.js";
import { GENERATION_JOB_VERSION, type GenerationJob } from "../../src/pipeline/generation-job.js";
import type { GenerationRequest } from "../../src/pipeline/request.js";
import { type JobRunOptions, runGenerationJob } from "../../src/pipeline/run-generation-job.js";
import type { LocalGenerateRequest } from "../../web/src/local/local-engine.js";
import { type Browser, launchBrowser } from "./browser.js";
import { fixturePath } from "./fixtures.js";
import { type IsolatedServer, startIsolatedServer } from "./isolated-server.js";
import { TINY_OVERRIDES } from "./tiny-configs.js";
import { builtWebDir } from "./web-build.js";

export const TINY_CHECKPOINT = fixturePath("single_file", "tiny-sd15-fp16.safetensors");

/** What page.evaluate carries: files as URLs on the test server, images' data as plain arrays. */
export type PageRequest = Omit<LocalGenerateRequest, "loras" | "initImage" | "mask" | "embeddings"> & {
  loras?: { name: string; url: string; fileName: string; weight: number }[];
  embeddings?: { url: string; fileName: string }[];
  initImage?: { width: number; height: number; data: number[] };
  mask?: { width: number; height: number; data: number[] };
};

/** A 64x64 txt2img of 3 Euler a steps, which the tests vary. */
export const TINY_REQUEST: PageRequest = {
  prompt: "a red ball on a table",
  negativePrompt: "blurry",
  steps: 3,
  cfgScale: 7,
  width: 64,
  height: 64,
  seed: 42,
  sampler: "Euler a",
};

export interface PageResult {
  png: number[];
  infotext: string;
  seed: number;
  statuses: string[];
  /** The engine's compute precision (LocalEngine.precision). */
  precision: "fp32" | "fp16";
}

export interface EnginePage {
  readonly page: Page;
  readonly server: IsolatedServer;
  close(): Promise<void>;
}

export interface EnginePageOptions {
  /** The page in test/browser/; default engine-page.html. */
  html?: string;
  /** The global function whose presence says the page is ready; default sdliteRunLocal. */
  ready?: string;
  /** More files to serve: URL path → local file. */
  files?: Record<string, string>;
  /** Chromium with WebGPU on (SwiftShader); default true. */
  webgpu?: boolean;
}

/** Chromium with the engine page open on a throw-away server holding the tiny checkpoint (and `files`). */
export async function openEnginePage(options: EnginePageOptions = {}): Promise<EnginePage> {
  const { html = "engine-page.html", ready = "sdliteRunLocal", files = {}, webgpu = true } = options;
  const server = await startIsolatedServer({ "/": await builtWebDir() });
  server.put("/test/checkpoint.safetensors", readFileSync(TINY_CHECKPOINT));
  for (const [url, file] of Object.entries(files)) server.put(url, readFileSync(file));
  server.put("/test/page.html", readFileSync(join(import.meta.dirname, "..", "browser", html)));
  const browser: Browser = await launchBrowser(undefined, webgpu ? { webgpu: true } : {});
  const page = await browser.context.newPage();
  await page.goto(`${server.origin}/test/page.html`);
  await page.waitForFunction((name) => name in globalThis, ready);
  return {
    page,
    server,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

/** The job's request for a page request's txt2img settings (the page's cfgScale is the job's guidance). */
export function jobRequestOf(
  request: Pick<
    PageRequest,
    "prompt" | "negativePrompt" | "steps" | "cfgScale" | "width" | "height" | "seed" | "sampler"
  >,
): Pick<
  GenerationRequest,
  "prompt" | "negativePrompt" | "steps" | "guidance" | "width" | "height" | "seed" | "sampler"
> {
  return {
    prompt: request.prompt,
    negativePrompt: request.negativePrompt,
    steps: request.steps,
    guidance: request.cfgScale,
    width: request.width,
    height: request.height,
    seed: request.seed,
    sampler: request.sampler,
  };
}

/**
 * Opens the engine on the tiny checkpoint in the page and makes `request` `times` times, reopening it
 * each time with one graph store; `precision` as LocalLoadOptions.precision.
 */
export function runInPageRepeated(
  page: Page,
  backend: "webgpu" | "wasm",
  request: PageRequest,
  times: number,
  precision?: "fp32" | "fp16",
): Promise<PageResult[]> {
  return page.evaluate(
    (args) =>
      (globalThis as unknown as { sdliteRunLocal(a: typeof args): Promise<PageResult[]> }).sdliteRunLocal(
        args,
      ),
    {
      backend,
      times,
      request,
      overrides: TINY_OVERRIDES,
      name: basename(TINY_CHECKPOINT),
      lastModified: statSync(TINY_CHECKPOINT).mtimeMs,
      precision,
    },
  );
}

/** Opens the engine on the tiny checkpoint in the page and makes `request` once. */
export async function runInPage(
  page: Page,
  backend: "webgpu" | "wasm",
  request: PageRequest,
  precision?: "fp32" | "fp16",
): Promise<PageResult> {
  const [result] = await runInPageRepeated(page, backend, request, 1, precision);
  return result;
}

export interface NodeImage {
  pixels: Uint8Array;
  width: number;
  height: number;
  infotext: string;
  seed: number;
}

/** What a test gives of the job: the tiny checkpoint, no LoRAs and the CPU runtime are filled in. */
export type TinyJob = Omit<GenerationJob, "version" | "model" | "engine" | "loras"> &
  Partial<Pick<GenerationJob, "loras" | "engine">>;

/**
 * Every image of the job run on the tiny checkpoint (onnxruntime-node, CPU, one thread, whatever
 * `job.engine` says besides), in seed order: pixels, size, infotext and seed.
 */
export async function nodeImages(
  job: TinyJob,
  options: Pick<JobRunOptions, "embeddings"> = {},
): Promise<NodeImage[]> {
  const result = await runGenerationJob(
    {
      version: GENERATION_JOB_VERSION,
      model: { path: TINY_CHECKPOINT, overrides: TINY_OVERRIDES },
      loras: [],
      ...job,
      engine: { ...job.engine, runtime: { threads: 1, cache: false } },
    },
    options,
  );
  return result.images.map(({ png, infotext, seed }) => {
    const { image } = decodePngRgb(Buffer.from(png, "base64"));
    return { pixels: image.data, width: image.width, height: image.height, infotext, seed };
  });
}

/** The job run on the tiny checkpoint (onnxruntime-node, CPU, one thread): its one image. */
export async function nodeRun(
  job: TinyJob,
  options: Pick<JobRunOptions, "embeddings"> = {},
): Promise<NodeImage> {
  const images = await nodeImages(job, options);
  assert.equal(images.length, 1);
  return images[0];
}

/** RGB (or gray, `channels` 1) bytes as RGBA, as ImageData holds them. */
export function rgba(data: Uint8Array, channels: 1 | 3 = 3): Uint8Array {
  const n = data.length / channels;
  const out = new Uint8Array(n * 4);
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < 3; c++) out[p * 4 + c] = data[p * channels + (channels === 1 ? 0 : c)];
    out[p * 4 + 3] = 255;
  }
  return out;
}

export function maxLevels(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/**
 * `actual` within `levels` 8-bit levels of `expected` (the CPU's); the largest difference goes to
 * `report` (a test's diagnostic; the console by default).
 */
export function assertWithinLevels(
  actual: Uint8Array,
  expected: Uint8Array,
  levels: number,
  label: string,
  report: (line: string) => void = console.log,
): void {
  const d = maxLevels(actual, expected);
  report(`${label}: pixels within ${d} levels of the CPU's`);
  assert.ok(d <= levels, `${label}: pixels differ by up to ${d} levels (tolerance ${levels})`);
}

/** The pixels of a PNG the page made (its bytes as a plain array). */
export function pagePixels(png: number[]): Uint8Array {
  return decodePngRgb(Uint8Array.from(png)).image.data;
}

/** The page's image against the job's: the same infotext (also in the PNG), pixels within `levels`. */
export function assertSameImage(
  result: { png: number[]; infotext: string },
  node: { pixels: Uint8Array; width: number; height: number; infotext: string },
  levels: number,
  label: string,
): Uint8Array {
  assert.equal(result.infotext, node.infotext, `${label}: infotext`);
  const { image, text } = decodePngRgb(Uint8Array.from(result.png));
  assert.equal(text.parameters, node.infotext, `${label}: the PNG's parameters chunk`);
  assert.deepEqual([image.width, image.height], [node.width, node.height], `${label}: size`);
  assertWithinLevels(image.data, node.pixels, levels, label);
  return image.data;
}
