/**
 * The browser UI of `sdlite serve` in headless Chromium, against an A1111-shaped server: the form
 * and pickers fill from the API, txt2img lands in the gallery, progress and its preview update while
 * a request runs, Cancel interrupts it, a painted mask goes to img2img as a mask PNG, a dropped PNG
 * fills the form, and the layout is one column on a phone.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Page, Request } from "playwright-core";
import { buildWeb } from "../scripts/build-web.js";
import { formatInfotext } from "../src/image/infotext.js";
import { decodePng, encodePng } from "../src/image/png.js";
import { type Browser, launchBrowser } from "./helpers/browser.js";
import { type MockA1111, startMockA1111 } from "./helpers/mock-a1111.js";

/** Per generation step on the mock server: slow enough for several 500 ms progress polls. */
const STEP_MS = 40;

let browser: Browser;
let server: MockA1111;

before(async () => {
  const webDir = await buildWeb({ minify: false });
  server = await startMockA1111({ webDir, stepMs: STEP_MS });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** A page on the UI, ready (lists loaded); page errors and console errors fail the test at `done`. */
async function openUi(viewport = { width: 1280, height: 800 }) {
  const page = await browser.context.newPage();
  await page.setViewportSize(viewport);
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(`page error: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(`console error: ${msg.text()}`);
  });
  await page.goto(server.url);
  await page.waitForSelector("body[data-ready=true]", { timeout: 10_000 });
  return {
    page,
    async done() {
      await page.close();
      assert.deepEqual(errors, [], "the page logged errors");
    },
  };
}

function jsonBody(request: Request): Record<string, unknown> {
  return JSON.parse(request.postData() ?? "null");
}

function waitForApi(page: Page, endpoint: string): Promise<Request> {
  return page.waitForRequest((r) => r.url().endsWith(`/sdapi/v1/${endpoint}`) && r.method() === "POST");
}

async function setSize(page: Page, width: number, height: number) {
  await page.selectOption("#size-preset", "custom");
  await page.fill("#width", String(width));
  await page.fill("#height", String(height));
  await page.locator("#height").dispatchEvent("change");
}

function pngBase64(width: number, height: number, rgb: [number, number, number], text = {}): string {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
  return Buffer.from(encodePng({ width, height, channels: 3, data }, text)).toString("base64");
}

function decodeBase64Png(b64: string) {
  return decodePng(new Uint8Array(Buffer.from(b64, "base64")));
}

/** Drags a file over the page and drops it on `selector`, as a user dropping it from a file manager. */
async function dropFile(page: Page, selector: string, name: string, base64: string) {
  await page.evaluate(`(() => {
    const bytes = Uint8Array.from(atob(${JSON.stringify(base64)}), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], ${JSON.stringify(name)}, { type: "image/png" }));
    const target = document.querySelector(${JSON.stringify(selector)});
    for (const type of ["dragenter", "dragover", "drop"]) {
      target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    }
  })()`);
}

describe("web UI in headless Chromium", () => {
  it("fills the sampler, model and LoRA pickers from the API; switching the model posts options", async () => {
    const { page, done } = await openUi();
    const samplers = await page.locator("#sampler option").allTextContents();
    assert.deepEqual(samplers, ["Euler a", "Euler", "DPM++ 2M", "DPM++ 2M Karras", "DDIM"]);
    assert.equal(await page.inputValue("#sampler"), "Euler a");
    assert.deepEqual(await page.locator("#model option").allTextContents(), ["tiny-a", "tiny-b"]);
    assert.equal(await page.inputValue("#model"), "tiny-a.safetensors [0123456789]");

    const posted = waitForApi(page, "options");
    await page.selectOption("#model", "tiny-b.safetensors [abcdefabcd]");
    assert.deepEqual(jsonBody(await posted), { sd_model_checkpoint: "tiny-b.safetensors [abcdefabcd]" });
    await page.waitForSelector("#status:has-text('Loaded tiny-b')");

    await page.fill("#prompt", "a castle");
    await page.fill("#lora-weight", "0.65");
    await page.click("#lora-add");
    assert.equal(await page.inputValue("#prompt"), "a castle, <lora:detail-tweaker:0.65>");
    await page.fill("#lora-weight", "0.3"); // same LoRA again: its weight changes in place
    await page.click("#lora-add");
    assert.equal(await page.inputValue("#prompt"), "a castle, <lora:detail-tweaker:0.3>");

    await page.selectOption("#size-preset", "512x768");
    assert.deepEqual([await page.inputValue("#width"), await page.inputValue("#height")], ["512", "768"]);
    await page.fill("#width", "500"); // not a multiple of 8: snapped when the field is left
    await page.locator("#width").dispatchEvent("change");
    assert.equal(await page.inputValue("#width"), "504");
    assert.equal(await page.inputValue("#size-preset"), "custom");
    await done();
  });

  it("txt2img: sends the form as an A1111 body and shows the images with their parameters", async () => {
    const { page, done } = await openUi();
    await page.fill("#prompt", "a red fox in snow");
    await page.fill("#negative-prompt", "blurry");
    await page.selectOption("#sampler", "DDIM");
    await page.fill("#steps", "3");
    await page.fill("#cfg", "5.5");
    await page.fill("#seed", "42");
    await setSize(page, 64, 96);
    await page.fill("#batch-count", "1");
    await page.fill("#batch-size", "2");
    const request = waitForApi(page, "txt2img");
    await page.click("#generate");
    const body = jsonBody(await request);
    assert.deepEqual(body, {
      prompt: "a red fox in snow",
      negative_prompt: "blurry",
      seed: 42,
      sampler_name: "DDIM",
      steps: 3,
      cfg_scale: 5.5,
      width: 64,
      height: 96,
      n_iter: 1,
      batch_size: 2,
    });
    await page.waitForSelector("figure.result >> nth=1");
    const results = page.locator("figure.result");
    assert.equal(await results.count(), 2);
    const infotexts = await page.locator("figure.result .infotext").allTextContents();
    assert.match(infotexts[0], /^a red fox in snow\nNegative prompt: blurry\nSteps: 3, Sampler: DDIM/);
    assert.deepEqual(
      infotexts.map((t) => /Seed: (\d+)/.exec(t)?.[1]),
      ["42", "43"],
    );
    const size = await page.evaluate(
      "[...document.querySelectorAll('figure.result img')].map(i => [i.naturalWidth, i.naturalHeight])",
    );
    assert.deepEqual(size, [
      [64, 96],
      [64, 96],
    ]);
    const download = results.first().locator("a[data-action=download]");
    assert.match((await download.getAttribute("download")) ?? "", /^sdlite-\d{5}-42\.png$/);
    assert.match((await download.getAttribute("href")) ?? "", /^blob:/);
    await page.waitForSelector("#status:has-text('Done: 2 images')");

    // reuse last seed, after switching to random
    await page.click("#seed-random");
    assert.equal(await page.inputValue("#seed"), "-1");
    await page.click("#seed-reuse");
    assert.equal(await page.inputValue("#seed"), "42");

    // send a result to img2img: the panel opens with it and the form takes its size
    await setSize(page, 512, 512);
    await results.first().locator("button[data-action=img2img]").click();
    await page.waitForSelector("#init-stage:not([hidden])");
    assert.equal(await page.evaluate("document.querySelector('#init-image').naturalWidth"), 64);
    assert.deepEqual([await page.inputValue("#width"), await page.inputValue("#height")], ["64", "96"]);

    // use parameters: a result's infotext goes back into the form
    await page.fill("#prompt", "something else");
    await page.fill("#seed", "-1");
    await results.nth(1).locator("button[data-action=use]").click();
    assert.equal(await page.inputValue("#prompt"), "a red fox in snow");
    assert.equal(await page.inputValue("#seed"), "43");
    await done();
  });

  it("progress: the bar, step counter and live preview update while the request runs", async () => {
    const { page, done } = await openUi();
    await page.fill("#prompt", "slow");
    await page.fill("#steps", "40"); // 40 × 40 ms: about three progress polls
    await setSize(page, 64, 64);
    const started = Date.now();
    await page.click("#generate");
    await page.waitForSelector("#progress:not([hidden])");
    await page.waitForFunction(
      "Number(document.querySelector('#progress-bar').getAttribute('aria-valuenow')) > 0",
      undefined,
      { timeout: 5000, polling: 50 },
    );
    const text = await page.textContent("#progress-text");
    const step = /Step (\d+)\/40/.exec(text ?? "");
    assert.ok(step && Number(step[1]) >= 1 && Number(step[1]) <= 40, `progress text "${text}" has no step`);
    await page.waitForSelector("#preview:not([hidden])", { timeout: 5000 });
    const preview = await page.getAttribute("#preview", "src");
    assert.match(preview ?? "", /^data:image\/png;base64,/);
    assert.equal(await page.isVisible("#cancel"), true, "Cancel shows while a request runs");
    await page.waitForSelector("figure.result", { timeout: 10_000 });
    await page.waitForSelector("#progress", { state: "hidden" });
    assert.ok(Date.now() - started >= 40 * STEP_MS, "the request took its time");
    assert.equal(await page.isVisible("#cancel"), false, "Cancel hides when it is over");
    await done();
  });

  it("cancel: the Cancel button interrupts the running request", async () => {
    const { page, done } = await openUi();
    await page.fill("#prompt", "never finishes");
    await page.fill("#steps", "150"); // 6 s if not interrupted
    await setSize(page, 64, 64);
    await page.click("#generate");
    await page.waitForFunction(
      "/Step [1-9]/.test(document.querySelector('#progress-text').textContent)",
      undefined,
      {
        timeout: 5000,
        polling: 50,
      },
    );
    const interrupt = waitForApi(page, "interrupt");
    const clicked = Date.now();
    await page.click("#cancel");
    await interrupt;
    await page.waitForSelector("#status:has-text('Cancelled')", { timeout: 5000 });
    const waited = Date.now() - clicked;
    assert.ok(waited < 2000, `the request ended ${waited} ms after Cancel`);
    assert.equal(await page.isEnabled("#generate"), true, "Generate is usable again");
    await page.waitForSelector("#progress", { state: "hidden" });
    const steps = await page.textContent("figure.result .infotext");
    assert.match(steps ?? "", /Steps: 150/);
    await done();
  });

  it("inpainting: a painted mask and the uploaded image go to img2img at the generation size", async () => {
    const { page, done } = await openUi();
    await page.fill("#prompt", "a blue door");
    await page.fill("#steps", "2");
    await page.click("#img2img summary");
    await page.setInputFiles("#init-file", {
      name: "door.png",
      mimeType: "image/png",
      buffer: Buffer.from(pngBase64(96, 64, [20, 40, 200]), "base64"),
    });
    await page.waitForSelector("#init-stage:not([hidden])");
    assert.deepEqual([await page.inputValue("#width"), await page.inputValue("#height")], ["96", "64"]);
    await page.fill("#strength", "0.6");
    assert.equal(await page.textContent("#strength-value"), "0.60");

    // paint a stroke across the left third, then erase its lower end
    await page.locator("#mask-canvas").scrollIntoViewIfNeeded();
    const box = await page.locator("#mask-canvas").boundingBox();
    assert.ok(box && box.width > 0, "the mask canvas is on screen");
    const at = (fx: number, fy: number) => [box.x + box.width * fx, box.y + box.height * fy] as const;
    await page.fill("#brush-size", "16");
    await page.mouse.move(...at(0.15, 0.2));
    await page.mouse.down();
    await page.mouse.move(...at(0.2, 0.5), { steps: 5 });
    await page.mouse.move(...at(0.15, 0.8), { steps: 5 });
    await page.mouse.up();
    await page.check("#eraser");
    await page.mouse.move(...at(0.15, 0.8));
    await page.mouse.down();
    await page.mouse.up();
    await page.uncheck("#eraser");

    const request = waitForApi(page, "img2img");
    await page.click("#generate");
    const body = jsonBody(await request);
    assert.equal(body.denoising_strength, 0.6);
    assert.equal(body.width, 96);
    assert.equal(body.height, 64);
    const init = decodeBase64Png((body.init_images as string[])[0]);
    assert.deepEqual([init.width, init.height], [96, 64]);
    const centre = ((32 * 96 + 48) * init.channels) as number;
    assert.deepEqual([...init.data.subarray(centre, centre + 3)], [20, 40, 200], "init image pixels");

    const mask = decodeBase64Png(body.mask as string);
    assert.deepEqual([mask.width, mask.height], [96, 64]);
    const gray = (fx: number, fy: number) =>
      mask.data[(Math.floor(fy * 64) * 96 + Math.floor(fx * 96)) * mask.channels];
    assert.ok(gray(0.2, 0.5) > 200, `painted pixel is white (got ${gray(0.2, 0.5)})`);
    assert.ok(gray(0.15, 0.2) > 200, `stroke start is white (got ${gray(0.15, 0.2)})`);
    assert.ok(gray(0.15, 0.8) < 30, `erased pixel is black (got ${gray(0.15, 0.8)})`);
    assert.ok(gray(0.75, 0.5) < 30, `unpainted pixel is black (got ${gray(0.75, 0.5)})`);
    await page.waitForSelector("figure.result");
    assert.match((await page.textContent("figure.result .infotext")) ?? "", /Denoising strength: 0.6/);

    // a cleared mask sends plain img2img (no mask)
    await page.click("#mask-clear");
    const plain = waitForApi(page, "img2img");
    await page.click("#generate");
    assert.equal(jsonBody(await plain).mask, undefined);
    await page.waitForSelector("figure.result >> nth=1");
    await done();
  });

  it("dropping a PNG anywhere reads its parameters through png-info and fills the form", async () => {
    const { page, done } = await openUi();
    const record = {
      prompt: "a lighthouse at dusk, (dramatic sky:1.2)",
      negativePrompt: "fog, lowres",
      steps: 33,
      sampler: "DPM++ 2M",
      scheduleType: "Karras",
      cfgScale: 6.5,
      seed: 777,
      width: 512,
      height: 768,
      denoisingStrength: 0.45,
    };
    const infotext = formatInfotext(record);
    const png = pngBase64(16, 16, [200, 100, 50], { parameters: infotext });
    const pngInfo = waitForApi(page, "png-info");
    await dropFile(page, ".gallery-head", "lighthouse.png", png);
    assert.equal(jsonBody(await pngInfo).image, png, "png-info gets the file as base64");
    await page.waitForSelector("#status:has-text('Parameters from lighthouse.png')");
    assert.equal(await page.inputValue("#prompt"), "a lighthouse at dusk, (dramatic sky:1.2)");
    assert.equal(await page.inputValue("#negative-prompt"), "fog, lowres");
    assert.equal(await page.inputValue("#steps"), "33");
    assert.equal(await page.inputValue("#sampler"), "DPM++ 2M Karras");
    assert.equal(await page.inputValue("#cfg"), "6.5");
    assert.equal(await page.inputValue("#seed"), "777");
    assert.deepEqual([await page.inputValue("#width"), await page.inputValue("#height")], ["512", "768"]);
    assert.equal(await page.inputValue("#size-preset"), "512x768");
    assert.equal(await page.inputValue("#strength"), "0.45");
    assert.equal(await page.isHidden("#drop-overlay"), true);

    // a schedule the sampler list lacks (A1111 >= 1.9 lists samplers alone): the old combined name
    const euler = formatInfotext({ ...record, sampler: "Euler", scheduleType: "Karras", seed: 5 });
    await dropFile(page, "#prompt", "euler.png", pngBase64(8, 8, [0, 0, 0], { parameters: euler }));
    await page.waitForSelector("#status:has-text('Parameters from euler.png')");
    assert.equal(await page.inputValue("#sampler"), "Euler Karras");
    assert.equal(await page.inputValue("#seed"), "5");
    await done();
  });

  it("layout: two columns on a desktop, one column without sideways scrolling on a phone", async () => {
    const columns =
      "getComputedStyle(document.querySelector('main.layout')).gridTemplateColumns.split(' ').length";
    const desktop = await openUi({ width: 1280, height: 800 });
    assert.equal(await desktop.page.evaluate(columns), 2);
    await desktop.done();
    const phone = await openUi({ width: 390, height: 844 });
    assert.equal(await phone.page.evaluate(columns), 1);
    const scrollWidth = await phone.page.evaluate("document.documentElement.scrollWidth");
    assert.ok(Number(scrollWidth) <= 390, `page is ${scrollWidth} px wide on a 390 px screen`);
    await phone.done();
  });
});
