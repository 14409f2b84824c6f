/**
 * The built in-tab engine (dist/web/local-engine.js) in a Chromium page (test/browser/engine-page.html)
 * and the job run of the same request on onnxruntime-node's CPU, for tests that compare the two.
 */
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import type { Page } from "playwright-core";
import { decodePngRgb } from "../../src/image/png.js";
import { GENERATION_JOB_VERSION, type GenerationJob } from "../../src/pipeline/generation-job.js";
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

export interface PageResult {
  png: number[];
  infotext: string;
  seed: number;
  statuses: string[];
}

export interface EnginePage {
  readonly page: Page;
  readonly server: IsolatedServer;
  close(): Promise<void>;
}

/** Chromium (WebGPU on) with the engine page open on a throw-away server holding the tiny checkpoint. */
export async function openEnginePage(): Promise<EnginePage> {
  const server = await startIsolatedServer({ "/": await builtWebDir() });
  server.put("/test/checkpoint.safetensors", readFileSync(TINY_CHECKPOINT));
  server.put("/test/page.html", readFileSync(join(import.meta.dirname, "..", "browser", "engine-page.html")));
  const browser: Browser = await launchBrowser(undefined, { webgpu: true });
  const page = await browser.context.newPage();
  await page.goto(`${server.origin}/test/page.html`);
  await page.waitForFunction(() => "sdliteRunLocal" in globalThis);
  return {
    page,
    server,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

/** Opens the engine on the tiny checkpoint in the page and makes `request` once. */
export async function runInPage(
  page: Page,
  backend: "webgpu" | "wasm",
  request: PageRequest,
): Promise<PageResult> {
  const [result] = await page.evaluate(
    (args) =>
      (globalThis as unknown as { sdliteRunLocal(a: typeof args): Promise<PageResult[]> }).sdliteRunLocal(
        args,
      ),
    {
      backend,
      times: 1,
      request,
      overrides: TINY_OVERRIDES,
      name: basename(TINY_CHECKPOINT),
      lastModified: statSync(TINY_CHECKPOINT).mtimeMs,
    },
  );
  return result;
}

/** The job run on the tiny checkpoint (onnxruntime-node, CPU, one thread): its one image's pixels and infotext. */
export async function nodeRun(
  job: Omit<GenerationJob, "version" | "model" | "engine" | "loras"> & Partial<Pick<GenerationJob, "loras">>,
  options: Pick<JobRunOptions, "embeddings"> = {},
): Promise<{ pixels: Uint8Array; width: number; height: number; infotext: string }> {
  const result = await runGenerationJob(
    {
      version: GENERATION_JOB_VERSION,
      model: { path: TINY_CHECKPOINT, overrides: TINY_OVERRIDES },
      loras: [],
      engine: { runtime: { threads: 1, cache: false } },
      ...job,
    },
    options,
  );
  assert.equal(result.images.length, 1);
  const { image } = decodePngRgb(Buffer.from(result.images[0].png, "base64"));
  return {
    pixels: image.data,
    width: image.width,
    height: image.height,
    infotext: result.images[0].infotext,
  };
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

/** The page's image against the job's: the same infotext (also in the PNG), pixels within `levels`. */
export function assertSameImage(
  result: PageResult,
  node: { pixels: Uint8Array; width: number; height: number; infotext: string },
  levels: number,
  label: string,
): Uint8Array {
  assert.equal(result.infotext, node.infotext, `${label}: infotext`);
  const { image, text } = decodePngRgb(Uint8Array.from(result.png));
  assert.equal(text.parameters, node.infotext, `${label}: the PNG's parameters chunk`);
  assert.deepEqual([image.width, image.height], [node.width, node.height], `${label}: size`);
  const d = maxLevels(image.data, node.pixels);
  console.log(`${label}: pixels within ${d} levels of the CPU's`);
  assert.ok(d <= levels, `${label}: pixels differ by up to ${d} levels (tolerance ${levels})`);
  return image.data;
}
