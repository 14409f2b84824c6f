/**
 * The in-tab engine (web/src/local/local-engine.ts, built by scripts/build-web.ts) in Chromium: a
 * txt2img of the tiny fp16 single-file checkpoint through openLocalEngine, on onnxruntime-web's
 * WebGPU backend (SwiftShader) and once on wasm, against `sdlite generate`'s job run of the same
 * request on onnxruntime-node's CPU: the same infotext (Model hash included) and pixels within a
 * stated number of 8-bit levels. The wasm run goes twice through one graph store: the second load
 * takes its graphs from the store and makes the same image.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { decodePngRgb } from "../src/image/png.js";
import { GENERATION_JOB_VERSION } from "../src/pipeline/generation-job.js";
import { runGenerationJob } from "../src/pipeline/run-generation-job.js";
import type { LocalGenerateRequest, WebGpuSupport } from "../web/src/local/local-engine.js";
import { MIN_BUFFER_BYTES } from "../web/src/local/webgpu-support.js";
import { type Browser, launchBrowser } from "./helpers/browser.js";
import { fixturePath } from "./helpers/fixtures.js";
import { type IsolatedServer, startIsolatedServer } from "./helpers/isolated-server.js";
import { TINY_OVERRIDES } from "./helpers/tiny-configs.js";
import { builtWebDir } from "./helpers/web-build.js";

const CHECKPOINT = fixturePath("single_file", "tiny-sd15-fp16.safetensors");

const REQUEST: LocalGenerateRequest = {
  prompt: "a red ball on a table",
  negativePrompt: "blurry",
  steps: 3,
  cfgScale: 7,
  width: 64,
  height: 64,
  seed: 42,
  sampler: "Euler a",
};

interface PageResult {
  png: number[];
  infotext: string;
  seed: number;
  statuses: string[];
}

/** Opens the engine in the page, makes REQUEST `times` times (reopening it, with one graph store): test/browser/engine-page.html. */
function runInPage(page: Page, backend: "webgpu" | "wasm", times: number): Promise<PageResult[]> {
  return page.evaluate(
    (args) =>
      (globalThis as unknown as { sdliteRunLocal(a: typeof args): Promise<PageResult[]> }).sdliteRunLocal(
        args,
      ),
    {
      backend,
      times,
      request: REQUEST,
      overrides: TINY_OVERRIDES,
      name: basename(CHECKPOINT),
      lastModified: statSync(CHECKPOINT).mtimeMs,
    },
  );
}

function maxLevels(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

describe("the in-tab engine makes the Node CPU's image (tiny SD1.5 single file, Chromium)", () => {
  let browser: Browser;
  let server: IsolatedServer;
  let page: Page;
  let work: string;
  let cpu: { pixels: Uint8Array; infotext: string };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "sdlite-browser-engine-"));
    process.env.SDLITE_CACHE = join(work, "cache"); // the Model hash's hashes.json
    const result = await runGenerationJob({
      version: GENERATION_JOB_VERSION,
      model: { path: CHECKPOINT, overrides: TINY_OVERRIDES },
      loras: [],
      request: {
        prompt: REQUEST.prompt,
        negativePrompt: REQUEST.negativePrompt,
        steps: REQUEST.steps,
        guidance: REQUEST.cfgScale,
        width: REQUEST.width,
        height: REQUEST.height,
        seed: REQUEST.seed,
        sampler: REQUEST.sampler,
      },
      engine: { runtime: { threads: 1, cache: false } },
    });
    const [image] = result.images;
    cpu = { pixels: decodePngRgb(Buffer.from(image.png, "base64")).image.data, infotext: image.infotext };

    server = await startIsolatedServer({ "/": await builtWebDir() });
    server.put("/test/checkpoint.safetensors", readFileSync(CHECKPOINT));
    server.put("/test/page.html", readFileSync(join(import.meta.dirname, "browser", "engine-page.html")));
    browser = await launchBrowser(undefined, { webgpu: true });
    page = await browser.context.newPage();
    await page.goto(`${server.origin}/test/page.html`);
    await page.waitForFunction(() => "sdliteRunLocal" in globalThis);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    rmSync(work, { recursive: true, force: true });
  });

  function check(result: PageResult, levels: number, label: string): void {
    assert.equal(result.seed, REQUEST.seed);
    assert.equal(result.infotext, cpu.infotext, `${label}: infotext`);
    const { image, text } = decodePngRgb(Uint8Array.from(result.png));
    assert.equal(text.parameters, cpu.infotext, `${label}: the PNG's parameters chunk`);
    const d = maxLevels(image.data, cpu.pixels);
    console.log(`${label}: pixels within ${d} levels of the CPU's`);
    assert.ok(d <= levels, `${label}: pixels differ by up to ${d} levels (tolerance ${levels})`);
  }

  test("webgpuSupport: SwiftShader's adapter is usable, without shader-f16 (which the float32 graphs do not need)", async () => {
    const support = await page.evaluate(() =>
      (globalThis as unknown as { sdliteWebgpuSupport(): Promise<WebGpuSupport> }).sdliteWebgpuSupport(),
    );
    assert.deepEqual(support.missing, []);
    assert.equal(support.ok, true);
    assert.equal(support.shaderF16, false);
    assert.ok(support.maxBufferSize >= MIN_BUFFER_BYTES, String(support.maxBufferSize));
    assert.ok(
      support.maxStorageBufferBindingSize >= MIN_BUFFER_BYTES,
      String(support.maxStorageBufferBindingSize),
    );
    assert.ok(support.adapter && support.adapter.length > 0);
  });

  // matmul attention on WebGPU (src/engine/graph-variant.ts); the networks agree to 3e-5 (browser-runtime.test.ts)
  test("WebGPU: same infotext, pixels within 2 levels", async () => {
    const [result] = await runInPage(page, "webgpu", 1);
    check(result, 2, "webgpu");
  });

  test("wasm: same infotext, pixels within 1 level; reopened, graphs come from the graph store", async () => {
    const [first, second] = await runInPage(page, "wasm", 2);
    check(first, 1, "wasm");
    assert.ok(
      first.statuses.some((s) => s.startsWith("building the UNet")),
      first.statuses.join("; "),
    );
    assert.ok(
      second.statuses.some((s) => s === "loading the UNet from the graph store"),
      second.statuses.join("; "),
    );
    assert.ok(!second.statuses.some((s) => s.startsWith("building")), second.statuses.join("; "));
    assert.deepEqual(second.png, first.png);
  });
});
