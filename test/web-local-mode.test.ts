/**
 * The web UI's "This device" mode in headless Chromium (`--headless=new --enable-unsafe-webgpu`,
 * page over http://127.0.0.1). The in-tab engine is a TEST DOUBLE here (test/helpers/local-engine-double.ts,
 * bundled in place of web/src/local/engine-deps.ts): these tests cover the page around the engine —
 * the mode switch and its persistence, the start on a static host without an API, the capability
 * line, a checkpoint and LoRA dropped into the picker, the Hugging Face download resumed after a
 * stop and after a reload (Range requests into OPFS, against test/helpers/fake-hub.ts), and the OPFS
 * graph store kept across a reload. The real engine is tested where it is built.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { buildWeb } from "../scripts/build-web.js";
import { encodePng } from "../src/image/png.js";
import { type Browser, launchBrowser } from "./helpers/browser.js";
import { FakeHub } from "./helpers/fake-hub.js";
import type { DoubleRecord } from "./helpers/local-engine-double.js";
import { DOUBLE_GRAPH_BYTES, DOUBLE_GRAPH_KEY } from "./helpers/local-engine-double.js";

const work = mkdtempSync(join(tmpdir(), "sdlite-web-local-"));
let webDir: string;

/** A plain static file server (no API unless `api` answers), logging every path asked for. */
interface StaticHost {
  url: string;
  paths: string[];
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".css": "text/css",
  ".map": "application/json",
};

async function startStaticHost(api?: Record<string, unknown>): Promise<StaticHost> {
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    paths.push(path);
    if (api && path in api) {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify(api[path]));
      return;
    }
    const file = normalize(join(webDir, path === "/" ? "index.html" : path));
    try {
      if (!file.startsWith(webDir)) throw new Error("outside");
      const body = readFileSync(file);
      res.writeHead(200, { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404, { "Content-Type": "text/plain" });
      res.end("not found");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    paths,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** What a minimal A1111 server answers to the page's start-up requests. */
const A1111_API: Record<string, unknown> = {
  "/sdapi/v1/samplers": [{ name: "Euler a", aliases: ["k_euler_a"] }],
  "/sdapi/v1/schedulers": [],
  "/sdapi/v1/sd-models": [{ title: "server-model.safetensors", model_name: "server-model" }],
  "/sdapi/v1/options": { sd_model_checkpoint: "server-model.safetensors" },
  "/sdapi/v1/loras": [],
  "/sdapi/v1/latent-upscale-modes": [],
  "/sdapi/v1/upscalers": [],
};

const isApiPath = (p: string) => p.startsWith("/sdapi/") || p.startsWith("/sdlite/");

/** A .safetensors file with these F32 tensors of one value each (a header the page can read). */
function safetensorsBytes(names: string[], padding = 0): Buffer {
  const header: Record<string, unknown> = {};
  names.forEach((n, i) => {
    header[n] = { dtype: "F32", shape: [1], data_offsets: [i * 4, i * 4 + 4] };
  });
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, Buffer.alloc(names.length * 4 + padding, 1)]);
}

async function openPage(browser: Browser, url: string, expectedConsole?: RegExp) {
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(`page error: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error" && !expectedConsole?.test(msg.text()))
      errors.push(`console error: ${msg.text()}`);
  });
  await page.goto(url);
  await page.waitForSelector("body[data-ready=true]", { timeout: 15_000 });
  return {
    page,
    errors,
    async done() {
      await page.close();
      assert.deepEqual(errors, [], "the page logged errors");
    },
  };
}

async function reloadReady(page: Page): Promise<void> {
  await page.reload();
  await page.waitForSelector("body[data-ready=true]", { timeout: 15_000 });
}

function doubleRecord(page: Page): Promise<DoubleRecord> {
  return page.evaluate("globalThis.__sdliteDouble") as Promise<DoubleRecord>;
}

/** Drops files (name → bytes) on `selector` the way a file manager's drag and drop does. */
async function dropFiles(page: Page, selector: string, files: Record<string, Buffer>): Promise<void> {
  const encoded = Object.fromEntries(Object.entries(files).map(([n, b]) => [n, b.toString("base64")]));
  await page.evaluate(`(() => {
    const files = ${JSON.stringify(encoded)};
    const dt = new DataTransfer();
    for (const [name, b64] of Object.entries(files)) {
      dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name));
    }
    const target = document.querySelector(${JSON.stringify(selector)});
    for (const type of ["dragenter", "dragover", "drop"]) {
      target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    }
  })()`);
}

/** Sizes of the OPFS files under sdlite/<folder> (recursively), by path. */
function opfsSizes(page: Page, folder: string): Promise<Record<string, number>> {
  return page.evaluate(`(async () => {
    const out = {};
    async function walk(dir, prefix) {
      for await (const [name, handle] of dir.entries()) {
        if (handle.kind === "directory") await walk(handle, prefix + name + "/");
        else out[prefix + name] = (await handle.getFile()).size;
      }
    }
    try {
      const root = await (await navigator.storage.getDirectory()).getDirectoryHandle("sdlite");
      await walk(await root.getDirectoryHandle(${JSON.stringify(folder)}), "");
    } catch (err) {
      if (err.name !== "NotFoundError") throw err;
    }
    return out;
  })()`) as Promise<Record<string, number>>;
}

const CHECKPOINT = safetensorsBytes(
  ["model.diffusion_model.input_blocks.0.0.weight", "first_stage_model.x"],
  1000,
);
const LORA = safetensorsBytes(["lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight"]);
/** madebyollin's TAESD decoder layout (its first conv at 1, after the Clamp). */
const TAESD_DECODER = safetensorsBytes(["1.weight", "1.bias", "3.conv.0.weight"], 100);

before(async () => {
  const double = fileURLToPath(new URL("./helpers/local-engine-double.ts", import.meta.url));
  webDir = await buildWeb({
    outDir: join(work, "web"),
    minify: false,
    replaceModules: { "local/engine-deps.js": double },
  });
});

after(() => rmSync(work, { recursive: true, force: true }));

describe("web UI 'This device' mode (in-tab engine replaced by a test double)", () => {
  let browser: Browser;
  let host: StaticHost;
  before(async () => {
    host = await startStaticHost();
  });
  after(async () => {
    await host.close();
  });

  /** Each test gets a fresh browser profile: no OPFS, localStorage or IndexedDB from another test. */
  async function freshBrowser(): Promise<Browser> {
    await browser?.close();
    browser = await launchBrowser(undefined, { webgpu: true });
    return browser;
  }
  after(async () => browser?.close());

  it("static host without an API: starts in This device mode, shows the capability line, calls no API again (engine test double)", async () => {
    await freshBrowser();
    host.paths.length = 0;
    const { page, done } = await openPage(browser, host.url, /status of 404/);
    assert.equal(await page.getAttribute("body", "data-mode"), "local");
    assert.equal(await page.isChecked("#mode-local"), true);
    assert.equal(await page.isVisible("#local-panel"), true);
    assert.equal(await page.isVisible("#model"), false, "the server's model picker is hidden");
    assert.match((await page.textContent("#status")) ?? "", /No server answers at this address/);
    // the double's adapter, said plainly
    assert.equal(
      await page.textContent("#local-capability"),
      "WebGPU: Test double adapter · shader-f16: no · max buffer 1 GiB · max storage binding 256 MiB",
    );
    assert.equal(await page.isVisible("#local-backend-warning"), false);
    // the samplers come from sdlite's registry, not from a server
    const samplers = await page.locator("#sampler option").allTextContents();
    assert.ok(samplers.includes("Euler a") && samplers.includes("DPM++ 2M"), samplers.join(", "));
    // the start-up lists found no API; from then on the page asks the host for nothing of the kind
    const startup = host.paths.filter(isApiPath);
    assert.ok(startup.includes("/sdapi/v1/samplers"), startup.join(", "));
    await dropFiles(page, "#checkpoint-drop", { "model.safetensors": CHECKPOINT });
    await page.fill("#prompt", "a tower by the sea");
    await page.fill("#steps", "2");
    await page.click("#generate");
    await page.waitForSelector("figure.result");
    // a PNG dropped on the page has its parameters read in the page, not by /png-info
    const src = (await page.locator("figure.result img").first().getAttribute("src")) ?? "";
    await page.fill("#prompt", "");
    await page.evaluate(`(async () => {
      const blob = await (await fetch(${JSON.stringify(src)})).blob();
      const dt = new DataTransfer();
      dt.items.add(new File([blob], "result.png", { type: "image/png" }));
      for (const type of ["dragenter", "dragover", "drop"]) {
        document.body.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
      }
    })()`);
    await page.waitForSelector("#status:has-text('Parameters from result.png')");
    assert.equal(await page.inputValue("#prompt"), "a tower by the sea");
    assert.deepEqual(host.paths.filter(isApiPath), startup, "no API request in This device mode");
    // the fallback was not a choice: a later visit asks again
    assert.equal(await page.evaluate("localStorage.getItem('sdlite.mode')"), null);
    await done();
  });

  it("capability line without WebGPU: says what is missing and warns about the wasm CPU backend; the engine double is opened with wasm", async () => {
    await freshBrowser();
    const page0 = await browser.context.newPage();
    await page0.addInitScript(
      "globalThis.__sdliteDoubleSupport = { ok: false, shaderF16: false, maxBufferSize: 0, maxStorageBufferBindingSize: 0, missing: ['navigator.gpu', 'a WebGPU adapter'] }; localStorage.setItem('sdlite.mode', 'local');",
    );
    await page0.goto(host.url);
    await page0.waitForSelector("body[data-ready=true]", { timeout: 15_000 });
    assert.equal(
      await page0.textContent("#local-capability"),
      "WebGPU: not usable · missing: navigator.gpu, a WebGPU adapter",
    );
    assert.equal(await page0.isVisible("#local-backend-warning"), true);
    assert.match((await page0.textContent("#local-backend-warning")) ?? "", /CPU \(wasm backend\)/);
    await dropFiles(page0, "#checkpoint-drop", { "model.safetensors": CHECKPOINT });
    await page0.fill("#steps", "2");
    await page0.click("#generate");
    await page0.waitForSelector("figure.result");
    const record = await doubleRecord(page0);
    assert.deepEqual(
      record.opened.map((o) => o.backend),
      ["wasm"],
    );
    await page0.close();
  });

  it("mode switch: Server and This device, the choice kept across reloads; This device makes no API request (engine test double)", async () => {
    await freshBrowser();
    const apiHost = await startStaticHost(A1111_API);
    try {
      const { page, done } = await openPage(browser, apiHost.url, /status of 404/);
      assert.equal(await page.getAttribute("body", "data-mode"), "server", "an API answers: server mode");
      assert.equal(await page.isVisible("#model"), true);
      assert.equal(await page.isVisible("#local-panel"), false);
      assert.deepEqual(await page.locator("#sampler option").allTextContents(), ["Euler a"]);

      await page.check("#mode-local");
      await page.waitForSelector("#local-panel", { state: "visible" });
      assert.equal(await page.evaluate("localStorage.getItem('sdlite.mode')"), "local");
      assert.ok((await page.locator("#sampler option").count()) > 5, "the registry's samplers");

      apiHost.paths.length = 0;
      await reloadReady(page);
      assert.equal(await page.getAttribute("body", "data-mode"), "local", "kept after a reload");
      assert.equal(await page.isChecked("#mode-local"), true);
      // Generate in This device mode: the double runs, the server hears nothing
      await dropFiles(page, "#checkpoint-drop", { "model.safetensors": CHECKPOINT });
      await page.fill("#steps", "2");
      await page.click("#generate");
      await page.waitForSelector("figure.result");
      assert.deepEqual(apiHost.paths.filter(isApiPath), [], "no request to the server in This device mode");

      await page.check("#mode-server");
      await page.waitForSelector("#model", { state: "visible" });
      assert.equal(await page.evaluate("localStorage.getItem('sdlite.mode')"), "server");
      await reloadReady(page);
      assert.equal(await page.getAttribute("body", "data-mode"), "server");
      assert.deepEqual(await page.locator("#model option").allTextContents(), ["server-model"]);
      await done();
    } finally {
      await apiHost.close();
    }
  });

  it("drop a checkpoint and a LoRA into the picker: Generate passes the form's values, init image and LoRA to the engine test double, and the PNG lands in the gallery", async () => {
    await freshBrowser();
    const { page, done } = await openPage(browser, host.url, /status of 404/);
    await dropFiles(page, "#checkpoint-drop", {
      "my-model.safetensors": CHECKPOINT,
      "detail.safetensors": LORA,
    });
    await page.waitForSelector("[data-lora=detail]");
    assert.equal(
      await page.locator("#local-model option:checked").textContent(),
      "my-model.safetensors (from disk, this visit)",
    );
    await page.fill("[data-lora=detail] input", "0.6");
    await page.fill("#prompt", "a lighthouse");
    await page.fill("#negative-prompt", "fog");
    await page.fill("#steps", "3");
    await page.fill("#cfg", "5.5");
    await page.fill("#seed", "1234");
    await page.selectOption("#sampler", "DPM++ 2M");
    await page.selectOption("#scheduler", "Karras");
    await page.selectOption("#size-preset", "custom");
    await page.fill("#width", "64");
    await page.fill("#height", "80");
    await page.locator("#height").dispatchEvent("change");
    await page.fill("#batch-count", "2");
    await page.click("#generate");
    await page.waitForSelector("#status:has-text('Done on this device: 2 images')");
    assert.equal(await page.locator("figure.result").count(), 2);
    const seeds = await page
      .locator("figure.result")
      .evaluateAll((f) => f.map((e) => e.getAttribute("data-seed")));
    assert.deepEqual(seeds, ["1235", "1234"], "newest first, seeds s and s+1");
    const size = await page
      .locator("figure.result img")
      .first()
      .evaluate((img) => [
        (img as unknown as { naturalWidth: number }).naturalWidth,
        (img as unknown as { naturalHeight: number }).naturalHeight,
      ]);
    assert.deepEqual(size, [64, 80]);
    assert.match(
      (await page.locator("figure.result .infotext").first().textContent()) ?? "",
      /Seed: 1235, Size: 64x80/,
    );

    const record = await doubleRecord(page);
    assert.equal(record.opened.length, 1, "one engine for both images");
    assert.equal(record.opened[0].checkpointBytes, CHECKPOINT.length);
    assert.equal(record.opened[0].backend, "webgpu");
    assert.deepEqual(record.requests[0], {
      prompt: "a lighthouse",
      negativePrompt: "fog",
      steps: 3,
      cfgScale: 5.5,
      width: 64,
      height: 80,
      seed: 1234,
      sampler: "DPM++ 2M",
      scheduler: "Karras",
      loras: [{ name: "detail", bytes: LORA.length, weight: 0.6 }],
    });

    // img2img from the existing form pieces: the init image at the generation size
    await page.fill("#batch-count", "1");
    await page.click("#img2img summary");
    const png = (await page.locator("figure.result img").first().getAttribute("src")) ?? "";
    await page.evaluate(`(async () => {
      const blob = await (await fetch(${JSON.stringify(png)})).blob();
      const dt = new DataTransfer();
      dt.items.add(new File([blob], "init.png", { type: "image/png" }));
      const input = document.querySelector("#init-file");
      input.files = dt.files;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    })()`);
    await page.waitForSelector("#init-stage:not([hidden])");
    await page.fill("#strength", "0.5");
    await page.click("#generate");
    await page.waitForSelector("#status:has-text('Done on this device: 1 image')");
    const img2img = (await doubleRecord(page)).requests.at(-1);
    assert.deepEqual(
      [img2img?.initImage, img2img?.denoisingStrength, img2img?.mask],
      [[64, 80], 0.5, undefined],
    );

    // inpainting: a painted stroke goes to the engine as the mask, at the generation size
    await page.fill("#brush-size", "40");
    await page.locator("#mask-canvas").scrollIntoViewIfNeeded();
    const box = await page.locator("#mask-canvas").boundingBox();
    assert.ok(box, "the mask canvas is shown");
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.3);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.6, { steps: 5 });
    await page.mouse.up();
    await page.click("#generate");
    await page.waitForSelector("#status:has-text('Done on this device: 1 image')");
    const inpaint = (await doubleRecord(page)).requests.at(-1);
    assert.deepEqual(
      [inpaint?.initImage, inpaint?.mask],
      [
        [64, 80],
        [64, 80],
      ],
    );
    await done();
  });

  it("batch size 2 × batch count 2: two engine requests of batch size 2 (seeds s and s+2), four images with seeds s..s+3 (engine test double)", async () => {
    await freshBrowser();
    const { page, done } = await openPage(browser, host.url, /status of 404/);
    await dropFiles(page, "#checkpoint-drop", { "model.safetensors": CHECKPOINT });
    await page.fill("#steps", "2");
    await page.fill("#seed", "500");
    await page.fill("#batch-size", "2");
    await page.fill("#batch-count", "2");
    await page.click("#generate");
    await page.waitForSelector("#status:has-text('Done on this device: 4 images')");
    const seeds = await page
      .locator("figure.result")
      .evaluateAll((f) => f.map((e) => e.getAttribute("data-seed")));
    assert.deepEqual(seeds, ["503", "502", "501", "500"], "newest first");
    const requests = (await doubleRecord(page)).requests;
    assert.deepEqual(
      requests.map((r) => [r.seed, r.batchSize]),
      [
        [500, 2],
        [502, 2],
      ],
    );
    await done();
  });

  it("TAESD dropped with the checkpoint: the line says previews are on, the engine double opens with it and its previews show in the progress area; Decode with TAESD; Remove turns them off", async () => {
    await freshBrowser();
    const { page, done } = await openPage(browser, host.url, /status of 404/);
    assert.match((await page.textContent("#local-taesd")) ?? "", /^No TAESD: live previews are off/);
    assert.equal(await page.isVisible("#taesd-download"), true);
    await dropFiles(page, "#checkpoint-drop", {
      "model.safetensors": CHECKPOINT,
      "taesd_decoder.safetensors": TAESD_DECODER,
    });
    await page.waitForSelector("#local-taesd:has-text('TAESD: taesd_decoder.safetensors')");
    assert.equal(await page.isVisible("#taesd-download"), false);
    // the TAESD file is not a checkpoint to choose (the list fills in after the TAESD line)
    await page.waitForSelector("#local-model option:has-text('model.safetensors (from disk')", {
      state: "attached",
    });
    assert.deepEqual(await page.locator("#local-model option").allTextContents(), [
      "model.safetensors (from disk, this visit)",
    ]);
    await page.fill("#steps", "10");
    await page.click("#generate");
    await page.waitForSelector("figure.result");
    assert.match((await page.getAttribute("#preview", "src")) ?? "", /^data:image\/png;base64,/);
    assert.equal(await page.getAttribute("#preview", "hidden"), null);
    // Decode with TAESD: the engine is opened again with TAESD as the final decoder
    await page.check("#taesd-decode");
    await page.click("#generate");
    await page.waitForFunction('document.querySelectorAll("figure.result").length === 2');
    // Remove: the engine is opened again without TAESD, and no preview is shown
    await page.click("#taesd-remove");
    await page.waitForSelector("#local-taesd:has-text('No TAESD')");
    assert.equal(await page.isVisible("#taesd-decode"), false);
    await page.click("#generate");
    await page.waitForFunction('document.querySelectorAll("figure.result").length === 3');
    assert.match((await page.textContent("#status")) ?? "", /Done on this device/);
    assert.notEqual(await page.getAttribute("#preview", "hidden"), null, "no preview without TAESD");
    const record = await doubleRecord(page);
    assert.deepEqual(
      record.opened.map((o) => [o.taesd, o.decoder]),
      [
        [[TAESD_DECODER.length], undefined],
        [[TAESD_DECODER.length], "taesd"],
        [[], undefined],
      ],
    );
    await done();
  });

  it("Hires fix, embeddings and outpainting in This device mode: the Hires section's fields, the dropped embedding files and the outpainting canvas, its mask and A1111's fields reach the engine test double", async () => {
    await freshBrowser();
    const { page, done } = await openPage(browser, host.url, /status of 404/);
    const embedding = safetensorsBytes(["emb_params"]);
    const torchEmbedding = Buffer.from("PK\u0003\u0004 a torch.save archive, read by the engine");
    await dropFiles(page, "#checkpoint-drop", {
      "my-model.safetensors": CHECKPOINT,
      "kohya-style.safetensors": embedding,
      "myartist.pt": torchEmbedding,
    });
    await page.waitForSelector("#local-model option:checked:has-text('my-model.safetensors')", {
      state: "attached",
    });
    assert.deepEqual(
      await page
        .locator("[data-embedding]")
        .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-embedding"))),
      ["kohya-style", "myartist"],
    );
    await page.fill("#prompt", "a wide beach");
    await page.fill("#steps", "3");
    await page.fill("#seed", "11");
    await page.selectOption("#size-preset", "custom");
    await page.fill("#width", "64");
    await page.fill("#height", "64");
    await page.locator("#height").dispatchEvent("change");
    await page.fill("#batch-count", "1");

    // hires fix: the Latent modes and the resamplers (no upscaler model files in the tab)
    await page.click("#hires summary");
    assert.deepEqual(await page.locator("#hires-upscaler option").allTextContents(), [
      "Latent",
      "Latent (antialiased)",
      "Latent (bicubic)",
      "Latent (bicubic antialiased)",
      "Latent (nearest)",
      "Latent (nearest-exact)",
      "None",
      "Lanczos",
      "Nearest",
    ]);
    await page.check("#hires-enable");
    await page.selectOption("#hires-upscaler", "Lanczos");
    await page.fill("#hires-steps", "2");
    await page.fill("#hires-scale", "1.5");
    await page.locator("#hires-strength").fill("0.55");
    await page.click("#generate");
    await page.waitForSelector("#status:has-text('Done on this device: 1 image')");
    const hires = (await doubleRecord(page)).requests.at(-1);
    assert.deepEqual(hires?.hires, {
      upscaler: "Lanczos",
      scale: 1.5,
      resizeX: 0,
      resizeY: 0,
      steps: 2,
      denoisingStrength: 0.55,
    });
    assert.deepEqual([hires?.width, hires?.height, hires?.initImage], [64, 64, undefined]);
    assert.deepEqual(hires?.embeddings, [
      { fileName: "kohya-style.safetensors", bytes: embedding.length },
      { fileName: "myartist.pt", bytes: torchEmbedding.length },
    ]);

    // outpainting: 20 px on the left of a 64x48 image → the 88x48 canvas (as Server mode sends it);
    // an img2img request, so no hires fix
    await page.click("#img2img summary");
    await page.setInputFiles("#init-file", {
      name: "beach.png",
      mimeType: "image/png",
      buffer: Buffer.from(
        encodePng({ width: 64, height: 48, channels: 3, data: new Uint8Array(64 * 48 * 3).fill(90) }),
      ),
    });
    await page.waitForSelector("#inpaint-options:not([hidden])");
    await page.fill("#outpaint-pixels", "20");
    await page.locator("#outpaint-pixels").dispatchEvent("change");
    for (const side of ["right", "up", "down"]) await page.uncheck(`#outpaint-${side}`);
    await page.fill("#mask-blur", "2");
    await page.click("#generate");
    await page.waitForSelector("#status:has-text('Done on this device: 1 image')");
    const outpaint = (await doubleRecord(page)).requests.at(-1);
    assert.deepEqual(
      {
        size: [outpaint?.width, outpaint?.height],
        initImage: outpaint?.initImage,
        mask: outpaint?.mask,
        fields: [
          outpaint?.maskBlur,
          outpaint?.inpaintingFill,
          outpaint?.inpaintFullRes,
          outpaint?.inpaintFullResPadding,
        ],
        hires: outpaint?.hires,
      },
      { size: [88, 48], initImage: [88, 48], mask: [88, 48], fields: [2, 0, false, 32], hires: undefined },
    );
    const size = await page
      .locator("figure.result img")
      .first()
      .evaluate((img) => [
        (img as unknown as { naturalWidth: number }).naturalWidth,
        (img as unknown as { naturalHeight: number }).naturalHeight,
      ]);
    assert.deepEqual(size, [88, 48]);
    await done();
  });

  it("a .safetensors file dropped anywhere that is neither checkpoint nor LoRA is refused in words", async () => {
    await freshBrowser();
    const { page, done } = await openPage(browser, host.url, /status of 404/);
    // dropped anywhere on the page, a model file goes to the picker (never read as a PNG)
    await dropFiles(page, "body", { "notes.safetensors": Buffer.from("hello world, not a model") });
    await page.waitForSelector("#status.error");
    assert.match((await page.textContent("#status")) ?? "", /^notes\.safetensors: not a \.safetensors file/);
    await done();
  });

  it("OPFS graph store: the engine test double's graph built on the first visit is read back after a reload; Clear cache empties it", async () => {
    await freshBrowser();
    const { page, done } = await openPage(browser, host.url, /status of 404/);
    const generate = async () => {
      await dropFiles(page, "#checkpoint-drop", { "model.safetensors": CHECKPOINT });
      await page.fill("#steps", "1");
      await page.click("#generate");
      await page.waitForSelector("#status:has-text('Done on this device')");
    };
    await generate();
    assert.deepEqual(
      (await doubleRecord(page)).opened.map((o) => o.graph),
      ["built"],
    );
    const files = await opfsSizes(page, "graphs");
    assert.equal(files[encodeURIComponent(DOUBLE_GRAPH_KEY).replace(/\./g, "%2E")], DOUBLE_GRAPH_BYTES);
    assert.ok("index.json" in files, Object.keys(files).join(", "));
    assert.match(
      (await page.textContent("#graph-cache-text")) ?? "",
      /^Built graphs kept in OPFS: 1, 4\.0 KB/,
    );

    await reloadReady(page);
    await generate();
    assert.deepEqual(
      (await doubleRecord(page)).opened.map((o) => o.graph),
      ["from cache"],
      "after the reload",
    );

    await page.click("#graph-cache-clear");
    await page.waitForSelector("#graph-cache-text:has-text('OPFS: 0')");
    assert.deepEqual(await opfsSizes(page, "graphs"), {});
    await reloadReady(page);
    await generate();
    assert.deepEqual(
      (await doubleRecord(page)).opened.map((o) => o.graph),
      ["built"],
      "built again after Clear cache",
    );
    await done();
  });

  it("without OPFS the graph store falls back to IndexedDB, kept across a reload (engine test double)", async () => {
    await freshBrowser();
    const page = await browser.context.newPage();
    await page.addInitScript(
      "delete StorageManager.prototype.getDirectory; localStorage.setItem('sdlite.mode', 'local');",
    );
    await page.goto(host.url);
    await page.waitForSelector("body[data-ready=true]", { timeout: 15_000 });
    const generate = async () => {
      await dropFiles(page, "#checkpoint-drop", { "model.safetensors": CHECKPOINT });
      await page.fill("#steps", "1");
      await page.click("#generate");
      await page.waitForSelector("#status:has-text('Done on this device')");
    };
    await generate();
    assert.deepEqual(
      (await doubleRecord(page)).opened.map((o) => o.graph),
      ["built"],
    );
    assert.match(
      (await page.textContent("#graph-cache-text")) ?? "",
      /^Built graphs kept in IndexedDB: 1, 4\.0 KB/,
    );
    await reloadReady(page);
    await generate();
    assert.deepEqual(
      (await doubleRecord(page)).opened.map((o) => o.graph),
      ["from cache"],
    );
    // and a hub download says why it cannot be stored
    await page.fill("#hub-repo", "org/anything");
    await page.click("#hub-download");
    await page.waitForSelector("#download-text.error");
    assert.match((await page.textContent("#download-text")) ?? "", /no origin private file system/);
    await page.close();
  });

  describe("Hugging Face download into OPFS", () => {
    let hub: FakeHub;
    const source = Buffer.concat([
      safetensorsBytes(["model.diffusion_model.out.2.weight"]),
      randomBytes(1_100_000),
    ]);
    const CHUNK = 256 * 1024;
    before(async () => {
      hub = await FakeHub.start();
      hub.addRepo("org/tiny-sd", {
        "README.md": "# tiny",
        "model.safetensors": source,
        "unet/diffusion_pytorch_model.safetensors": Buffer.alloc(64, 2),
        "model_index.json": "{}",
      });
      hub.addRepo("madebyollin/taesd", {
        "taesd_encoder.safetensors": Buffer.alloc(64, 3),
        "taesd_decoder.safetensors": TAESD_DECODER,
      });
    });
    after(async () => hub.close());

    /** The bytes of the finished download, read back from OPFS. */
    async function storedDownload(page: Page): Promise<Buffer> {
      const b64 = (await page.evaluate(`(async () => {
        const dir = await (await (await (await navigator.storage.getDirectory()).getDirectoryHandle("sdlite"))
          .getDirectoryHandle("models")).getDirectoryHandle("org--tiny-sd--model.safetensors");
        const parts = [];
        for await (const [name, handle] of dir.entries()) if (name.startsWith("part-")) parts.push([name, await handle.getFile()]);
        parts.sort((a, b) => a[0].localeCompare(b[0]));
        const bytes = new Uint8Array(await new Blob(parts.map((p) => p[1])).arrayBuffer());
        let s = "";
        for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        return btoa(s);
      })()`)) as string;
      return Buffer.from(b64, "base64");
    }

    const storedOffset = async (page: Page) =>
      Object.entries(await opfsSizes(page, "models"))
        .filter(([name]) => name.includes("/part-"))
        .reduce((sum, [, size]) => sum + size, 0);

    it("resumes after Stop and after a reload from the stored offset with Range requests; the bytes equal the source and its SHA-256 is checked", async () => {
      await freshBrowser();
      const page = await browser.context.newPage();
      const errors: string[] = [];
      page.on("pageerror", (err) => errors.push(err.message));
      await page.addInitScript(
        `localStorage.setItem('sdlite.downloadChunkBytes', '${CHUNK}'); localStorage.setItem('sdlite.mode', 'local');`,
      );
      await page.goto(host.url);
      await page.waitForSelector("body[data-ready=true]", { timeout: 15_000 });
      await page.click("#hub-settings summary");
      await page.fill("#hub-endpoint", hub.endpoint);
      await page.locator("#hub-endpoint").dispatchEvent("change");
      await page.fill("#hub-repo", "org/tiny-sd");

      // 1. Stop while the third part is coming: what arrived is kept
      hub.stallAt("model.safetensors", 700_000);
      await page.click("#hub-download");
      await page.waitForFunction("document.querySelector('#download-progress').value >= 700000");
      await page.click("#hub-stop");
      await page.waitForSelector("#download-text:has-text('stopped')");
      assert.equal(await storedOffset(page), 700_000, "the bytes before the stall were committed on Stop");
      assert.match(
        (await page.locator("#local-model option").first().textContent()) ?? "",
        /org\/tiny-sd\/model\.safetensors: \d+% downloaded/,
      );

      // 2. a reload (the tab closed) while the next part is coming: that part is lost, the rest kept
      hub.resetLog();
      hub.stallAt("model.safetensors", 900_000);
      await page.click("#hub-download");
      await page.waitForFunction("document.querySelector('#download-progress').value >= 900000");
      assert.ok(
        hub.requests.some((r) => r.server === "cdn" && r.range === `bytes=700000-${700_000 + CHUNK - 1}`),
        `resumed at 700000 with a Range request: ${JSON.stringify(hub.requests.map((r) => r.range))}`,
      );
      await reloadReady(page);
      const offset = await storedOffset(page);
      assert.ok(offset >= 700_000 && offset < source.length, `stored ${offset}`);
      assert.equal(await page.inputValue("#hub-repo"), "org/tiny-sd", "the repo field is kept");

      // 3. Download again: it goes on from the stored offset to the end
      hub.resetLog();
      await page.click("#hub-download");
      await page.waitForSelector("#download-text:has-text('Downloaded org/tiny-sd/model.safetensors')", {
        timeout: 15_000,
      });
      assert.match((await page.textContent("#download-text")) ?? "", /SHA-256 checked/);
      const ranges = hub.requests.filter((r) => r.server === "cdn" && r.method === "GET").map((r) => r.range);
      assert.equal(
        ranges[0],
        `bytes=${offset}-${offset + CHUNK - 1}`,
        "the first request starts at the stored offset",
      );
      assert.ok(
        hub.requests.some((r) => r.url.startsWith("/api/models/org/tiny-sd/revision/main")),
        "the file was chosen from the hub's listing",
      );
      const stored = await storedDownload(page);
      assert.equal(stored.length, source.length);
      assert.equal(
        createHash("sha256").update(stored).digest("hex"),
        createHash("sha256").update(source).digest("hex"),
      );
      assert.ok(stored.equals(source), "the downloaded bytes equal the source");

      // the finished download is the chosen checkpoint, and stays listed after a reload
      await reloadReady(page);
      assert.equal(
        await page.locator("#local-model option:checked").textContent(),
        `org/tiny-sd/model.safetensors (${(source.length / 1024 ** 2).toFixed(1)} MB)`,
      );
      await page.fill("#steps", "1");
      await page.click("#generate");
      await page.waitForSelector("figure.result");
      assert.equal((await doubleRecord(page)).opened[0].checkpointBytes, source.length);

      // Delete removes the download from OPFS and from the picker
      await page.click("#local-model-delete");
      await page.waitForSelector("#status:has-text('Deleted org/tiny-sd/model.safetensors')");
      assert.deepEqual(await opfsSizes(page, "models"), {});
      assert.deepEqual(await page.locator("#local-model option").allTextContents(), [
        "No checkpoint yet: drop one or download one",
      ]);
      assert.equal(await page.isVisible("#local-model-delete"), false);
      await page.close();
      assert.deepEqual(errors, []);
    });

    it("Download TAESD: madebyollin/taesd's decoder into OPFS sdlite/taesd/, kept after a reload and given to the engine double; Remove deletes it", async () => {
      await freshBrowser();
      const { page, done } = await openPage(browser, host.url, /status of 404/);
      await page.click("#hub-settings summary");
      await page.fill("#hub-endpoint", hub.endpoint);
      await page.locator("#hub-endpoint").dispatchEvent("change");
      await page.click("#taesd-download");
      await page.waitForSelector(
        "#local-taesd:has-text('TAESD: madebyollin/taesd/taesd_decoder.safetensors')",
      );
      const stored = await opfsSizes(page, "taesd");
      const parts = Object.entries(stored).filter(([name]) => name.includes("/part-"));
      assert.equal(
        parts.reduce((sum, [, size]) => sum + size, 0),
        TAESD_DECODER.length,
        JSON.stringify(stored),
      );
      assert.deepEqual(await opfsSizes(page, "models"), {}, "not listed as a checkpoint");
      await reloadReady(page);
      await page.waitForSelector(
        "#local-taesd:has-text('TAESD: madebyollin/taesd/taesd_decoder.safetensors')",
      );
      await dropFiles(page, "#checkpoint-drop", { "model.safetensors": CHECKPOINT });
      await page.fill("#steps", "5");
      await page.click("#generate");
      await page.waitForSelector("figure.result");
      assert.deepEqual(
        (await doubleRecord(page)).opened.map((o) => o.taesd),
        [[TAESD_DECODER.length]],
      );
      assert.match((await page.getAttribute("#preview", "src")) ?? "", /^data:image\/png;base64,/);
      await page.click("#taesd-remove");
      await page.waitForSelector("#local-taesd:has-text('No TAESD')");
      assert.deepEqual(await opfsSizes(page, "taesd"), {});
      await done();
    });

    it("a download whose bytes do not match the hub's SHA-256 is refused and deleted", async () => {
      await freshBrowser();
      const page = await browser.context.newPage();
      await page.addInitScript(`localStorage.setItem('sdlite.mode', 'local');`);
      await page.goto(host.url);
      await page.waitForSelector("body[data-ready=true]", { timeout: 15_000 });
      await page.click("#hub-settings summary");
      await page.fill("#hub-endpoint", hub.endpoint);
      await page.locator("#hub-endpoint").dispatchEvent("change");
      await page.fill("#hub-repo", "org/tiny-sd");
      hub.corrupt("model.safetensors");
      try {
        await page.click("#hub-download");
        await page.waitForSelector("#download-text.error", { timeout: 15_000 });
      } finally {
        hub.corrupt("model.safetensors", false);
      }
      assert.match(
        (await page.textContent("#download-text")) ?? "",
        /arrived damaged \(SHA-256 [0-9a-f]{64}, the hub says [0-9a-f]{64}\); it was deleted/,
      );
      assert.equal(await storedOffset(page), 0);
      await page.close();
    });
  });
});
