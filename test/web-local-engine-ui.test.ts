/**
 * The web UI's "This device" mode with the REAL in-tab engine (no test double): the built page
 * (dist/web: main.js loads local-engine.js on first use) from a static host with no API, in headless
 * Chromium on SwiftShader's WebGPU adapter. The tiny fp16 single-file checkpoint and its
 * `.sdlite.json` sidecar are dropped into the picker, Generate is clicked, and the gallery's PNG is
 * compared with `sdlite generate`'s job run of the same request on onnxruntime-node's CPU: the same
 * infotext and pixels within 2 levels (test/browser-engine.test.ts measures the engine alone).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { decodePngRgb } from "../src/image/png.js";
import { GENERATION_JOB_VERSION } from "../src/pipeline/generation-job.js";
import { runGenerationJob } from "../src/pipeline/run-generation-job.js";
import { type Browser, launchBrowser } from "./helpers/browser.js";
import { fixturePath } from "./helpers/fixtures.js";
import { type IsolatedServer, startIsolatedServer } from "./helpers/isolated-server.js";
import { TINY_OVERRIDES } from "./helpers/tiny-configs.js";
import { builtWebDir } from "./helpers/web-build.js";

const CHECKPOINT = fixturePath("single_file", "tiny-sd15-fp16.safetensors");
const NAME = "tiny-sd15-fp16.safetensors";
const REQUEST = {
  prompt: "a red ball on a table",
  negativePrompt: "blurry",
  steps: 3,
  guidance: 7,
  width: 64,
  height: 64,
  seed: 42,
  sampler: "Euler a",
};

describe("web UI This device mode with the real in-tab engine (tiny SD1.5 single file, Chromium, SwiftShader WebGPU)", () => {
  let browser: Browser;
  let server: IsolatedServer;
  let work: string;
  let cpu: { pixels: Uint8Array; infotext: string };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "sdlite-web-local-engine-"));
    process.env.SDLITE_CACHE = join(work, "cache"); // the Model hash's hashes.json
    const result = await runGenerationJob({
      version: GENERATION_JOB_VERSION,
      model: { path: CHECKPOINT, overrides: TINY_OVERRIDES },
      loras: [],
      request: REQUEST,
      engine: { runtime: { threads: 1, cache: false } },
    });
    const [image] = result.images;
    cpu = { pixels: decodePngRgb(Buffer.from(image.png, "base64")).image.data, infotext: image.infotext };
    server = await startIsolatedServer({ "/": await builtWebDir() });
    browser = await launchBrowser(undefined, { webgpu: true });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("drop checkpoint + sidecar, Generate: the gallery's PNG has the CPU's infotext and pixels within 2 levels", async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));
    await page.goto(server.origin);
    // a static host answers no API: the page starts in This device mode
    await page.waitForSelector("#local-capability:not(:has-text('Checking WebGPU'))");
    assert.match(
      (await page.locator("#local-capability").textContent()) ?? "",
      /swiftshader|SwiftShader|adapter/i,
    );
    const files = {
      [NAME]: readFileSync(CHECKPOINT).toString("base64"),
      [`${NAME}.sdlite.json`]: Buffer.from(JSON.stringify(TINY_OVERRIDES)).toString("base64"),
    };
    await page.evaluate(`(() => {
      const files = ${JSON.stringify(files)};
      const dt = new DataTransfer();
      for (const [name, b64] of Object.entries(files)) {
        dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name));
      }
      const target = document.querySelector("#checkpoint-drop");
      for (const type of ["dragenter", "dragover", "drop"]) {
        target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
      }
    })()`);
    await page.waitForSelector(`#local-model option:checked:has-text('${NAME}')`, { state: "attached" });
    await page.fill("#prompt", REQUEST.prompt);
    await page.fill("#negative-prompt", REQUEST.negativePrompt);
    await page.fill("#steps", String(REQUEST.steps));
    await page.fill("#cfg", String(REQUEST.guidance));
    await page.fill("#seed", String(REQUEST.seed));
    await page.selectOption("#sampler", REQUEST.sampler);
    await page.selectOption("#size-preset", "custom");
    await page.fill("#width", String(REQUEST.width));
    await page.fill("#height", String(REQUEST.height));
    await page.locator("#height").dispatchEvent("change");
    await page.fill("#batch-count", "1");
    await page.click("#generate");
    await page.waitForSelector("#status:has-text('Done on this device: 1 image')", { timeout: 600_000 });
    const src = (await page.locator("figure.result img").first().getAttribute("src")) ?? "";
    const png = (await page.evaluate(
      `(async () => Array.from(new Uint8Array(await (await fetch(${JSON.stringify(src)})).arrayBuffer())))()`,
    )) as number[];
    const { image, text } = decodePngRgb(Uint8Array.from(png));
    assert.equal(text.parameters, cpu.infotext, "the PNG's parameters chunk");
    let worst = 0;
    for (let i = 0; i < image.data.length; i++)
      worst = Math.max(worst, Math.abs(image.data[i] - cpu.pixels[i]));
    console.log(`This device (WebGPU): pixels within ${worst} levels of the CPU's`);
    assert.ok(worst <= 2, `pixels differ by up to ${worst} levels (tolerance 2)`);
    assert.deepEqual(errors, []);
    await page.close();
  });
});
