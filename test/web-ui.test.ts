/**
 * The browser UI of `sdlite serve` in headless Chromium against the real server (createServer with
 * the tiny fixture models): the pickers fill from the API, txt2img lands in the gallery with its
 * parameters, progress and its live preview update while a request runs, Cancel interrupts it, a
 * painted mask goes to img2img as a mask PNG, a dropped PNG fills the form (schedule type
 * included), server errors are shown (an unreachable server in words), Skip ends one image of a
 * batch and stopped images say how many steps they ran, results survive a reload, models with one
 * short name are told apart, a server with --api-key gets its key from a dialog, the last
 * `sdlite profile` shows in its panel, and the layout is one column on a phone.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import type { Page, Request } from "playwright-core";
import { buildWeb } from "../scripts/build-web.js";
import { loadHardware } from "../src/cli/hardware-files.js";
import { formatInfotext } from "../src/image/infotext.js";
import { decodePng, encodePng } from "../src/image/png.js";
import { runProfile } from "../src/profile/measure/run-profile.js";
import { lastProfilePaths, writeProfileFiles } from "../src/profile/profile-files.js";
import { createServer } from "../src/server/create-server.js";
import { type Browser, launchBrowser } from "./helpers/browser.js";
import { fixturePath } from "./helpers/fixtures.js";
import { profileSettings } from "./helpers/profile-settings.js";

const work = mkdtempSync(join(tmpdir(), "sdlite-web-ui-"));
let browser: Browser;
let app: FastifyInstance;
let url: string;
let webDir: string;

before(async () => {
  const loraDir = join(work, "Lora");
  mkdirSync(loraDir);
  copyFileSync(fixturePath("lora/tiny-sd15-kohya.safetensors"), join(loraDir, "tiny-sd15-kohya.safetensors"));
  webDir = await buildWeb({ outDir: join(work, "web"), minify: false });
  app = await createServer({
    model: fixturePath("models/tiny-sd15"),
    modelsDir: fixturePath("models"),
    hubCacheDir: false,
    loraDir,
    engine: { runtime: { threads: 1, cache: false } },
    webDir,
    previewEvery: 1,
    profileDir: join(work, "profile"),
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  assert.ok(address && typeof address === "object", "the server listens on a TCP port");
  url = `http://127.0.0.1:${address.port}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await app?.close();
  rmSync(work, { recursive: true, force: true });
});

/** GET an API endpoint from Node, to compare what the page shows with what the server says. */
async function apiGet<T>(path: string): Promise<T> {
  const response = await fetch(`${url}/sdapi/v1/${path}`);
  assert.equal(response.status, 200, `GET ${path}`);
  return (await response.json()) as T;
}

interface OpenOptions {
  /** Default: the server of this file. */
  baseUrl?: string;
  /** Whether to wait until the lists are loaded (default true). */
  ready?: boolean;
  /** Keep the results earlier pages left in the browser's storage (default: start empty). */
  keepHistory?: boolean;
  /** Console errors a test provokes on purpose (e.g. "net::ERR_CONNECTION_REFUSED"). */
  expectedConsole?: RegExp;
}

/** A page on the UI, ready (lists loaded); page errors and console errors fail the test at `done`. */
async function openUi(
  viewport = { width: 1280, height: 800 },
  expectedHttpError?: number,
  { baseUrl = url, ready = true, keepHistory = false, expectedConsole }: OpenOptions = {},
) {
  const page = await browser.context.newPage();
  // one browser profile for every test: each page starts without earlier tests' results
  if (!keepHistory) {
    // once per tab: a reload of the page keeps what it made
    await page.addInitScript(
      "if (!sessionStorage.getItem('fresh')) { sessionStorage.setItem('fresh', '1'); indexedDB.deleteDatabase('sdlite'); }",
    );
  }
  await page.setViewportSize(viewport);
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(`page error: ${err.message}`));
  page.on("console", (msg) => {
    // Chromium logs every 4xx fetch; the one a test provokes on purpose is not an error of the page
    const expected = `the server responded with a status of ${expectedHttpError}`;
    const provoked =
      (expectedHttpError && msg.text().includes(expected)) || expectedConsole?.test(msg.text());
    if (msg.type() === "error" && !provoked) {
      errors.push(`console error: ${msg.text()}`);
    }
  });
  await page.goto(baseUrl);
  if (ready) await page.waitForSelector("body[data-ready=true]", { timeout: 10_000 });
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

interface ApiResponse {
  images: string[];
  info: string;
}

describe("web UI in headless Chromium against sdlite serve", () => {
  it("fills the sampler, model and LoRA pickers from the API; switching the model posts options", async () => {
    const { page, done } = await openUi();
    const samplers = await apiGet<{ name: string }[]>("samplers");
    assert.deepEqual(
      await page.locator("#sampler option").allTextContents(),
      samplers.map((s) => s.name),
    );
    assert.equal(await page.inputValue("#sampler"), "Euler a");
    const schedulers = await apiGet<{ label: string }[]>("schedulers");
    assert.deepEqual(
      await page.locator("#scheduler option").allTextContents(),
      schedulers.map((s) => s.label),
    );
    assert.equal(await page.inputValue("#scheduler"), "Automatic");
    const models = await apiGet<{ title: string; model_name: string }[]>("sd-models");
    assert.deepEqual(
      await page.locator("#model option").allTextContents(),
      models.map((m) => m.model_name),
    );
    assert.equal(await page.inputValue("#model"), "tiny-sd15");

    // switch to the inpainting model and back: each switch is a POST of sd_model_checkpoint
    for (const title of ["tiny-sd15-inpaint", "tiny-sd15"]) {
      const posted = waitForApi(page, "options");
      await page.selectOption("#model", title);
      assert.deepEqual(jsonBody(await posted), { sd_model_checkpoint: title });
      await page.waitForSelector(`#status:text-is("Loaded ${title}")`, { timeout: 20_000 });
      assert.equal((await apiGet<Record<string, unknown>>("options")).sd_model_checkpoint, title);
    }

    assert.deepEqual(await page.locator("#lora option").allTextContents(), ["tiny-sd15-kohya"]);
    await page.fill("#prompt", "a castle");
    await page.fill("#lora-weight", "0.65");
    await page.click("#lora-add");
    assert.equal(await page.inputValue("#prompt"), "a castle, <lora:tiny-sd15-kohya:0.65>");
    await page.fill("#lora-weight", "0.3"); // same LoRA again: its weight changes in place
    await page.click("#lora-add");
    assert.equal(await page.inputValue("#prompt"), "a castle, <lora:tiny-sd15-kohya:0.3>");

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
    await page.fill("#prompt", "a red fox in snow, <lora:tiny-sd15-kohya:0.5>");
    await page.fill("#negative-prompt", "blurry");
    await page.selectOption("#sampler", "DDIM");
    await page.fill("#steps", "3");
    await page.fill("#cfg", "5.5");
    await page.fill("#seed", "42");
    await setSize(page, 64, 96);
    await page.fill("#batch-count", "1");
    await page.fill("#batch-size", "2");
    const request = waitForApi(page, "txt2img");
    const answer = page.waitForResponse((r) => r.url().endsWith("/sdapi/v1/txt2img"));
    await page.click("#generate");
    assert.deepEqual(jsonBody(await request), {
      prompt: "a red fox in snow, <lora:tiny-sd15-kohya:0.5>",
      negative_prompt: "blurry",
      seed: 42,
      sampler_name: "DDIM",
      scheduler: "Automatic",
      steps: 3,
      cfg_scale: 5.5,
      width: 64,
      height: 96,
      n_iter: 1,
      batch_size: 2,
    });
    const response = (await (await answer).json()) as ApiResponse;
    await page.waitForSelector("#status:has-text('Done: 2 images')", { timeout: 20_000 });
    const results = page.locator("figure.result");
    assert.equal(await results.count(), 2);

    // each card shows the server's image and its infotext, in the server's order
    const info = JSON.parse(response.info) as { infotexts: string[]; all_seeds: number[] };
    assert.deepEqual(info.all_seeds, [42, 43]);
    const sources = (await page.evaluate(
      "[...document.querySelectorAll('figure.result img')].map((i) => i.src)",
    )) as string[];
    assert.equal(sources.length, response.images.length);
    sources.forEach((src, i) => {
      assert.ok(
        src === `data:image/png;base64,${response.images[i]}`,
        `card ${i} shows the server's image ${i}`,
      );
    });
    const infotexts = await page.locator("figure.result .infotext").allTextContents();
    assert.deepEqual(infotexts, info.infotexts);
    assert.match(infotexts[0], /^a red fox in snow, <lora:tiny-sd15-kohya:0.5>\nNegative prompt: blurry\n/);
    assert.match(
      infotexts[0],
      /Steps: 3, Sampler: DDIM, CFG scale: 5.5, Seed: 42, Size: 64x96, Model: tiny-sd15/,
    );
    assert.match(infotexts[1], /Seed: 43,/);
    assert.match(infotexts[0], /Lora hashes: "tiny-sd15-kohya: [0-9a-f]{12}"/);
    const sizes = await page.evaluate(
      "[...document.querySelectorAll('figure.result img')].map(i => [i.naturalWidth, i.naturalHeight])",
    );
    assert.deepEqual(sizes, [
      [64, 96],
      [64, 96],
    ]);
    // download saves the server's PNG as it is (its parameters chunk included)
    const download = results.first().locator("a[data-action=download]");
    const [saved] = await Promise.all([page.waitForEvent("download"), download.click()]);
    assert.match(saved.suggestedFilename(), /^sdlite-\d{5}-42\.png$/);
    const savedBytes = readFileSync(await saved.path());
    assert.ok(savedBytes.equals(Buffer.from(response.images[0], "base64")), "downloaded file = served PNG");

    // copy parameters puts the infotext on the clipboard
    await browser.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: url });
    await results.nth(1).locator("button[data-action=copy]").click();
    await page.waitForSelector("#status:text-is('Parameters copied')");
    assert.equal(await page.evaluate("navigator.clipboard.readText()"), info.infotexts[1]);

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
    assert.equal(await page.inputValue("#prompt"), "a red fox in snow, <lora:tiny-sd15-kohya:0.5>");
    assert.equal(await page.inputValue("#seed"), "43");
    assert.equal(await page.inputValue("#sampler"), "DDIM");
    await done();
  });

  it("hires fix: the section sends A1111's enable_hr and hr_* fields; a result's Hires entries come back", async () => {
    const { page, done } = await openUi();
    const expectedUpscalers = [
      ...(await apiGet<{ name: string }[]>("latent-upscale-modes")),
      ...(await apiGet<{ name: string }[]>("upscalers")),
    ].map((u) => u.name);
    const listed = await page.locator("#hires-upscaler option").allTextContents();
    assert.deepEqual(listed, expectedUpscalers, "Latent modes, then the server's upscalers");
    assert.ok(listed.includes("Latent (nearest-exact)") && listed.includes("Lanczos"));

    await page.fill("#prompt", "a castle");
    await page.fill("#steps", "2");
    await page.fill("#seed", "9");
    await setSize(page, 64, 64);
    const plain = waitForApi(page, "txt2img");
    await page.click("#generate");
    assert.equal(jsonBody(await plain).enable_hr, undefined, "off: no hires fields");
    await page.waitForSelector("#status:has-text('Done')", { timeout: 20_000 });

    await page.click("#hires summary");
    await page.check("#hires-enable");
    await page.selectOption("#hires-upscaler", "Lanczos");
    await page.fill("#hires-scale", "1.5");
    await page.fill("#hires-steps", "4");
    await page.locator("#hires-strength").fill("0.45");
    assert.equal(await page.textContent("#hires-mode"), "×1.5");
    const request = waitForApi(page, "txt2img");
    const answer = page.waitForResponse((r) => r.url().endsWith("/sdapi/v1/txt2img"));
    await page.click("#generate");
    const body = jsonBody(await request);
    assert.deepEqual(
      Object.fromEntries(
        Object.entries(body).filter(
          ([k]) => k.startsWith("hr_") || k === "enable_hr" || k === "denoising_strength",
        ),
      ),
      {
        enable_hr: true,
        hr_upscaler: "Lanczos",
        hr_scale: 1.5,
        hr_second_pass_steps: 4,
        hr_resize_x: 0,
        hr_resize_y: 0,
        denoising_strength: 0.45,
      },
    );
    const response = (await (await answer).json()) as ApiResponse;
    await page.waitForSelector("#status:has-text('Done')", { timeout: 20_000 });
    assert.deepEqual(
      JSON.parse(response.info).sdlite_ignored_fields,
      [],
      "the server honours every field sent",
    );
    assert.equal(decodeBase64Png(response.images[0]).width, 96);
    const infotext = (await page.locator("figure.result .infotext").first().textContent()) ?? "";
    assert.match(
      infotext,
      /Denoising strength: 0\.45, .*Hires upscale: 1\.5, Hires steps: 4, Hires upscaler: Lanczos/,
    );

    // the older result (no hires) turns the section off; the hires one restores its settings
    await page.locator("figure.result").nth(1).locator("button[data-action=use]").click();
    assert.equal(await page.isChecked("#hires-enable"), false);
    await page.locator("figure.result").first().locator("button[data-action=use]").click();
    assert.equal(await page.isChecked("#hires-enable"), true);
    assert.deepEqual(
      [
        await page.inputValue("#hires-upscaler"),
        await page.inputValue("#hires-scale"),
        await page.inputValue("#hires-steps"),
      ],
      ["Lanczos", "1.5", "4"],
    );
    await done();
  });

  it("progress: the bar, step counter and live preview update while the request runs", async () => {
    const { page, done } = await openUi();
    await page.fill("#prompt", "a slow one");
    await page.fill("#steps", "120"); // a few seconds on the tiny model: several 500 ms polls
    await setSize(page, 128, 128);
    await page.click("#generate");
    await page.waitForSelector("#progress:not([hidden])");
    await page.waitForFunction(
      "Number(document.querySelector('#progress-bar').getAttribute('aria-valuenow')) > 0",
      undefined,
      { timeout: 20_000, polling: 50 },
    );
    const text = await page.textContent("#progress-text");
    const step = /Step (\d+)\/120/.exec(text ?? "");
    assert.ok(step && Number(step[1]) >= 1 && Number(step[1]) <= 120, `progress text "${text}" has no step`);
    await page.waitForSelector("#preview:not([hidden])", { timeout: 20_000 });
    const preview = await page.getAttribute("#preview", "src");
    const previewPng = decodeBase64Png((preview ?? "").replace(/^data:image\/png;base64,/, ""));
    assert.deepEqual([previewPng.width, previewPng.height], [16, 16], "latent preview: 1/8 of the side");
    assert.equal(await page.isVisible("#cancel"), true, "Cancel shows while a request runs");
    await page.waitForSelector("#status:has-text('Done: 1 image')", { timeout: 30_000 });
    assert.equal(await page.isHidden("#progress"), true, "the progress bar hides when it is over");
    assert.equal(await page.isVisible("#cancel"), false, "Cancel hides when it is over");
    await done();
  });

  it("cancel: the Cancel button interrupts the running request", async () => {
    const { page, done } = await openUi();
    await page.fill("#prompt", "never finishes");
    await page.fill("#steps", "150"); // the server's most; several seconds at this size
    await setSize(page, 128, 128);
    await page.click("#generate");
    await page.waitForFunction(
      "/Step [1-9]/.test(document.querySelector('#progress-text').textContent)",
      undefined,
      {
        timeout: 20_000,
        polling: 50,
      },
    );
    const interrupt = waitForApi(page, "interrupt");
    await page.click("#cancel");
    await interrupt;
    await page.waitForSelector("#status:has-text('Cancelled')", { timeout: 10_000 });
    assert.equal(await page.isHidden("#progress"), true);
    // A1111 returns what the interrupted job had: the image after the steps it ran
    const infotext = (await page.textContent("figure.result .infotext")) ?? "";
    assert.match(infotext, /Steps: 150,/);
    // …so the card says how far it got
    const stopped = (await page.textContent("figure.result .stopped")) ?? "";
    const ran = Number(/^Stopped after step (\d+) of 150$/.exec(stopped)?.[1]);
    assert.ok(ran >= 1 && ran < 150, `label: "${stopped}"`);
    assert.match(
      (await page.getAttribute("figure.result img", "alt")) ?? "",
      /stopped after step \d+ of 150/,
    );
    const after = await apiGet<{ state: { job: string; sampling_step: number } }>("progress");
    assert.equal(after.state.job, "", "no job runs after the interrupt");

    // the server is free again: a short generation goes straight through
    await page.fill("#steps", "2");
    await setSize(page, 64, 64);
    await page.click("#generate");
    await page.waitForSelector("#status:has-text('Done: 1 image')", { timeout: 20_000 });
    await done();
  });

  it("skip: the Skip button ends the image being made, the batch goes on, the stopped one says so", async () => {
    const { page, done } = await openUi();
    await page.fill("#prompt", "two slow ones");
    // enough steps that the skip lands inside the first image on a fast machine: a skip that reaches the
    // server between two images is dropped (as A1111 does), and then nothing stops early
    await page.fill("#steps", "150");
    await setSize(page, 128, 128);
    await page.fill("#batch-count", "2");
    assert.equal(await page.isHidden("#skip"), true, "no Skip while idle");
    await page.click("#generate");
    await page.waitForFunction(
      "/Batch 1\\/2 · Step ([1-9]|[1-9]\\d)\\/150/.test(document.querySelector('#progress-text').textContent)",
      undefined,
      { timeout: 20_000, polling: 50 },
    );
    const skip = waitForApi(page, "skip");
    await page.click("#skip");
    await skip;
    await page.waitForSelector("#status:has-text('Done: 2 images')", { timeout: 60_000 });
    assert.match((await page.textContent("#status")) ?? "", /\(1 stopped early\)/);
    const labels = await page
      .locator("figure.result")
      .evaluateAll((cards) => cards.map((c) => c.querySelector(".stopped")?.textContent ?? null));
    assert.equal(labels.length, 2);
    assert.match(labels[0] ?? "", /^Stopped after step \d+ of 150$/, "the skipped first image");
    assert.equal(labels[1], null, "the second ran all its steps");
    await done();
  });

  it("history: results come back after a reload and in a new tab; Clear removes them for good", async () => {
    const first = await openUi();
    await first.page.fill("#prompt", "kept across reloads");
    await first.page.fill("#steps", "2");
    await first.page.fill("#seed", "77");
    await setSize(first.page, 64, 64);
    await first.page.click("#generate");
    await first.page.waitForSelector("#status:has-text('Done: 1 image')", { timeout: 20_000 });
    const shown = await first.page.locator("figure.result .infotext").allTextContents();
    const src = await first.page.getAttribute("figure.result img", "src");
    await first.page.reload();
    await first.page.waitForSelector("body[data-ready=true]", { timeout: 10_000 });
    assert.deepEqual(await first.page.locator("figure.result .infotext").allTextContents(), shown);
    assert.equal(await first.page.getAttribute("figure.result img", "src"), src, "the same PNG");
    assert.equal(await first.page.isHidden("#gallery-empty"), true);
    await first.done();

    const second = await openUi(undefined, undefined, { keepHistory: true });
    assert.deepEqual(await second.page.locator("figure.result .infotext").allTextContents(), shown);
    await second.page.click("#gallery-clear");
    assert.equal(await second.page.locator("figure.result").count(), 0);
    await second.page.reload();
    await second.page.waitForSelector("body[data-ready=true]", { timeout: 10_000 });
    assert.equal(await second.page.locator("figure.result").count(), 0, "cleared for good");
    await second.done();
  });

  it("a server that cannot be reached gets a sentence, not the browser's 'Failed to fetch'", async () => {
    const { page, done } = await openUi(undefined, undefined, {
      expectedConsole: /net::ERR_CONNECTION_REFUSED/,
    });
    await page.route("**/sdapi/v1/txt2img", (route) => route.abort("connectionrefused"));
    await page.fill("#steps", "2");
    await page.click("#generate");
    await page.waitForSelector("#status.error");
    const text = (await page.textContent("#status")) ?? "";
    assert.match(text, /^Cannot reach the sdlite server\. Is `sdlite serve` still running\?/);
    assert.doesNotMatch(text, /Failed to fetch|NetworkError/);
    assert.equal(await page.isEnabled("#generate"), true, "the form stays usable");
    await done();
  });

  it("models sharing a short name are told apart by their titles, so none looks listed twice", async () => {
    const page = await browser.context.newPage();
    await page.route("**/sdapi/v1/sd-models", (route) =>
      route.fulfill({
        json: [
          { title: "v1-5.ckpt [cc6cb27103]", model_name: "v1-5" },
          { title: "v1-5.safetensors [6ce0161689]", model_name: "v1-5" },
          { title: "dreamshaper_8.safetensors", model_name: "dreamshaper_8" },
        ],
      }),
    );
    await page.goto(url);
    await page.waitForSelector("body[data-ready=true]", { timeout: 10_000 });
    assert.deepEqual(await page.locator("#model option").allTextContents(), [
      "v1-5.ckpt [cc6cb27103]",
      "v1-5.safetensors [6ce0161689]",
      "dreamshaper_8",
    ]);
    await page.close();
  });

  it("inpainting: a painted mask and the uploaded image go to img2img at the generation size", async () => {
    const { page, done } = await openUi();
    await page.fill("#prompt", "a blue door");
    await page.fill("#steps", "4");
    await page.fill("#seed", "7");
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

    // paint a stroke down the left third, then erase its lower end
    await page.fill("#brush-size", "40");
    await page.locator("#mask-canvas").scrollIntoViewIfNeeded();
    const box = await page.locator("#mask-canvas").boundingBox();
    assert.ok(box && box.width > 0, "the mask canvas is on screen");
    const at = (fx: number, fy: number) => [box.x + box.width * fx, box.y + box.height * fy] as const;
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
    const answer = page.waitForResponse((r) => r.url().endsWith("/sdapi/v1/img2img"));
    await page.click("#generate");
    const body = jsonBody(await request);
    assert.equal(body.denoising_strength, 0.6);
    assert.deepEqual([body.width, body.height], [96, 64]);
    // A1111's inpainting fields go with the mask: its img2img tab's defaults
    assert.deepEqual(
      [body.mask_blur, body.inpainting_fill, body.inpaint_full_res, body.inpaint_full_res_padding],
      [4, 1, false, 32],
    );
    const init = decodeBase64Png((body.init_images as string[])[0]);
    assert.deepEqual([init.width, init.height], [96, 64]);
    const centre = (32 * 96 + 48) * init.channels;
    assert.deepEqual([...init.data.subarray(centre, centre + 3)], [20, 40, 200], "init image pixels");

    const mask = decodeBase64Png(body.mask as string);
    assert.deepEqual([mask.width, mask.height], [96, 64]);
    const gray = (fx: number, fy: number) =>
      mask.data[(Math.floor(fy * 64) * 96 + Math.floor(fx * 96)) * mask.channels];
    assert.ok(gray(0.2, 0.5) > 200, `painted pixel is white (got ${gray(0.2, 0.5)})`);
    assert.ok(gray(0.15, 0.2) > 200, `stroke start is white (got ${gray(0.15, 0.2)})`);
    assert.ok(gray(0.15, 0.8) < 30, `erased pixel is black (got ${gray(0.15, 0.8)})`);
    assert.ok(gray(0.75, 0.5) < 30, `unpainted pixel is black (got ${gray(0.75, 0.5)})`);

    // the server took the mask: not among the fields it ignored, and the same request without a
    // mask (same seed) gives a different image
    const masked = (await (await answer).json()) as ApiResponse;
    await page.waitForSelector("figure.result");
    assert.match((await page.textContent("figure.result .infotext")) ?? "", /Denoising strength: 0.6,/);
    const maskedInfo = JSON.parse(masked.info) as { sdlite_ignored_fields?: string[]; seed: number };
    assert.equal(maskedInfo.seed, 7);
    assert.ok(!maskedInfo.sdlite_ignored_fields?.includes("mask"), "the server used the mask");

    await page.click("#mask-clear");
    const plain = waitForApi(page, "img2img");
    const plainAnswer = page.waitForResponse((r) => r.url().endsWith("/sdapi/v1/img2img"));
    await page.click("#generate");
    assert.equal(jsonBody(await plain).mask, undefined, "a cleared mask sends plain img2img");
    const unmasked = (await (await plainAnswer).json()) as ApiResponse;
    await page.waitForSelector("figure.result >> nth=1", { timeout: 20_000 });
    assert.notEqual(unmasked.images[0], masked.images[0], "the mask changed the result");
    await done();
  });

  it("outpainting: the controls send the canvas, its mask and A1111's fields; the result shows", async () => {
    const { page, done } = await openUi();
    await page.fill("#prompt", "a wide beach");
    await page.fill("#steps", "3");
    await page.fill("#seed", "11");
    await page.click("#img2img summary");
    await page.setInputFiles("#init-file", {
      name: "beach.png",
      mimeType: "image/png",
      buffer: Buffer.from(pngBase64(64, 48, [200, 150, 60]), "base64"),
    });
    await page.waitForSelector("#inpaint-options:not([hidden])");
    assert.equal(await page.inputValue("#inpainting-fill"), "1", "A1111's default: original");
    await page.fill("#outpaint-pixels", "20");
    await page.locator("#outpaint-pixels").dispatchEvent("change");
    assert.equal(await page.inputValue("#inpainting-fill"), "0", "outpainting switches to fill");
    for (const side of ["right", "up", "down"]) await page.uncheck(`#outpaint-${side}`);
    await page.fill("#mask-blur", "2");
    await page.selectOption("#inpaint-area", "masked");

    const request = waitForApi(page, "img2img");
    const answer = page.waitForResponse((r) => r.url().endsWith("/sdapi/v1/img2img"));
    await page.click("#generate");
    const body = jsonBody(await request);
    // 64 + 20 = 84 → 88: the left side gets all 24 pixels; the canvas is the generation size
    assert.deepEqual([body.width, body.height], [88, 48]);
    assert.deepEqual(
      [body.mask_blur, body.inpainting_fill, body.inpaint_full_res],
      [2, 0, false],
      "outpainting runs on the whole picture",
    );
    const init = decodeBase64Png((body.init_images as string[])[0]);
    assert.deepEqual([init.width, init.height], [88, 48]);
    const rgb = (x: number, y: number) => [
      ...init.data.subarray((y * 88 + x) * init.channels, (y * 88 + x) * init.channels + 3),
    ];
    assert.deepEqual(rgb(24, 10), [200, 150, 60], "the image starts after the new area");
    assert.deepEqual(rgb(5, 10), [0, 0, 0], "the new area starts black");
    const mask = decodeBase64Png(body.mask as string);
    const gray = (x: number, y: number) => mask.data[(y * 88 + x) * mask.channels];
    // white over the new area and the blur's 2 pixels of overlap, black over the rest of the image
    assert.deepEqual([gray(0, 0), gray(25, 20), gray(26, 20), gray(87, 47)], [255, 255, 0, 0]);

    const response = (await (await answer).json()) as ApiResponse;
    const result = decodeBase64Png(response.images[0]);
    assert.deepEqual([result.width, result.height], [88, 48]);
    await page.waitForSelector("figure.result");
    const infotext = (await page.textContent("figure.result .infotext")) ?? "";
    assert.match(infotext, /Size: 88x48, /);
    assert.match(infotext, /Mask blur: 2, Masked content: fill/);
    const info = JSON.parse(response.info) as { sdlite_ignored_fields?: string[] };
    assert.deepEqual(info.sdlite_ignored_fields ?? [], [], "the server honoured every field");
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
    assert.equal(await page.inputValue("#sampler"), "DPM++ 2M");
    assert.equal(await page.inputValue("#scheduler"), "Karras");
    assert.equal(await page.inputValue("#cfg"), "6.5");
    assert.equal(await page.inputValue("#seed"), "777");
    assert.deepEqual([await page.inputValue("#width"), await page.inputValue("#height")], ["512", "768"]);
    assert.equal(await page.inputValue("#size-preset"), "512x768");
    assert.equal(await page.inputValue("#strength"), "0.45");
    assert.equal(await page.isHidden("#drop-overlay"), true);

    // a generated PNG round-trips: what sdlite wrote into it comes back into the form; the
    // schedule type goes to the server as A1111's "scheduler" field and comes back in the infotext
    await page.fill("#steps", "2");
    await page.fill("#seed", "99");
    await setSize(page, 64, 64);
    const request = waitForApi(page, "txt2img");
    const answer = page.waitForResponse((r) => r.url().endsWith("/sdapi/v1/txt2img"));
    await page.click("#generate");
    const sent = jsonBody(await request);
    assert.deepEqual([sent.sampler_name, sent.scheduler], ["DPM++ 2M", "Karras"]);
    const generated = ((await (await answer).json()) as ApiResponse).images[0];
    assert.match(
      (await page.textContent("figure.result .infotext")) ?? "",
      /Sampler: DPM\+\+ 2M, Schedule type: Karras,/,
    );
    await page.selectOption("#sampler", "Euler");
    await page.selectOption("#scheduler", "Automatic");
    await page.waitForSelector("figure.result");
    await page.fill("#prompt", "");
    await page.fill("#seed", "-1");
    await dropFile(page, "#prompt", "generated.png", generated);
    await page.waitForSelector("#status:has-text('Parameters from generated.png')");
    assert.equal(await page.inputValue("#prompt"), "a lighthouse at dusk, (dramatic sky:1.2)");
    assert.equal(await page.inputValue("#seed"), "99");
    assert.equal(await page.inputValue("#sampler"), "DPM++ 2M");
    assert.equal(await page.inputValue("#scheduler"), "Karras");

    // an old infotext names the schedule in the sampler ("DPM++ 2M Karras", no Schedule type)
    const old = pngBase64(8, 8, [1, 2, 3], {
      parameters: "a tree\nSteps: 5, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 5, Size: 64x64",
    });
    await page.selectOption("#scheduler", "Automatic");
    await dropFile(page, "main", "old.png", old);
    await page.waitForSelector("#status:has-text('Parameters from old.png')");
    assert.equal(await page.inputValue("#sampler"), "DPM++ 2M");
    assert.equal(await page.inputValue("#scheduler"), "Karras");

    // a PNG without parameters says so
    await dropFile(page, "main", "plain.png", pngBase64(8, 8, [0, 0, 0]));
    await page.waitForSelector("#status:has-text('plain.png has no generation parameters')");
    await done();
  });

  it("a refused request shows the server's explanation and leaves the form usable", async () => {
    const { page, done } = await openUi(undefined, 422);
    await page.fill("#prompt", "too big");
    await page.fill("#steps", "2");
    await setSize(page, 2048, 2048);
    await page.fill("#batch-size", "8");
    await page.fill("#batch-count", "100"); // 800 images of 2048²: over the server's limits
    const answer = page.waitForResponse((r) => r.url().endsWith("/sdapi/v1/txt2img"));
    await page.click("#generate");
    const response = await answer;
    assert.ok(response.status() >= 400 && response.status() < 500, `HTTP ${response.status()}`);
    const detail = ((await response.json()) as { detail: string }).detail;
    await page.waitForSelector("#status.error");
    assert.equal(await page.textContent("#status"), detail);
    assert.equal(await page.isEnabled("#generate"), true);
    assert.equal(await page.locator("figure.result").count(), 0);
    await done();
  });

  it("--api-key: the page asks for the key once, sends it as X-API-Key, and asks again for a wrong one", async () => {
    const keyed = await createServer({
      model: fixturePath("models/tiny-sd15"),
      modelsDir: fixturePath("models"),
      hubCacheDir: false,
      engine: { runtime: { threads: 1, cache: false } },
      webDir,
      apiKey: "open sesame",
    });
    try {
      await keyed.listen({ host: "127.0.0.1", port: 0 });
      const address = keyed.server.address();
      assert.ok(address && typeof address === "object");
      const keyedUrl = `http://127.0.0.1:${address.port}`;
      const denied = await fetch(`${keyedUrl}/sdapi/v1/samplers`);
      assert.equal(denied.status, 401, "the API itself still needs the key");

      const { page, done } = await openUi(undefined, 401, { baseUrl: keyedUrl, ready: false });
      const keys: (string | null)[] = [];
      page.on("request", (r) => {
        if (r.url().includes("/sdapi/v1/")) keys.push(r.headers()["x-api-key"] ?? null);
      });
      // the lists' requests met 401 together: one dialog
      await page.waitForSelector("#api-key-dialog[open]");
      assert.match((await page.textContent("#api-key-message")) ?? "", /needs its API key/);
      await page.fill("#api-key", "wrong");
      await page.click("#api-key-dialog button[value=connect]");
      await page.waitForSelector("#api-key-dialog[open] #api-key-message:has-text('refused')");
      await page.fill("#api-key", "open sesame");
      await page.press("#api-key", "Enter");
      await page.waitForSelector("body[data-ready=true]", { timeout: 10_000 });
      assert.equal(await page.isHidden("#api-key-dialog"), true);
      assert.equal(await page.locator("#api-key-dialog[open]").count(), 0);
      const samplers = (await (
        await fetch(`${keyedUrl}/sdapi/v1/samplers`, { headers: { "x-api-key": "open sesame" } })
      ).json()) as { name: string }[];
      assert.deepEqual(
        await page.locator("#sampler option").allTextContents(),
        samplers.map((s) => s.name),
      );
      // each list request was retried once with the wrong key and once with the right one
      const lists = [
        "samplers",
        "schedulers",
        "sd-models",
        "options",
        "loras",
        "latent-upscale-modes",
        "upscalers",
      ].length;
      assert.deepEqual(
        [...keys].sort(),
        [...Array(lists).fill("open sesame"), ...Array(lists).fill("wrong")],
        `keys sent: ${keys.join(", ")}`,
      );

      // a generation goes through with the key, and a reload does not ask again
      await page.fill("#prompt", "a locked door");
      await page.fill("#steps", "2");
      await setSize(page, 64, 64);
      const request = waitForApi(page, "txt2img");
      await page.click("#generate");
      assert.equal((await request).headers()["x-api-key"], "open sesame");
      await page.waitForSelector("#status:has-text('Done: 1 image')", { timeout: 20_000 });
      keys.length = 0;
      await page.reload();
      await page.waitForSelector("body[data-ready=true]", { timeout: 10_000 });
      assert.ok(
        keys.length > 0 && keys.every((k) => k === "open sesame"),
        `after reload: ${keys.join(", ")}`,
      );
      await done();

      // another tab (its own sessionStorage) asks again; cancelling shows the server's refusal
      const other = await openUi(undefined, 401, { baseUrl: keyedUrl, ready: false });
      await other.page.waitForSelector("#api-key-dialog[open]");
      await other.page.click("#api-key-dialog button[value=cancel]");
      await other.page.waitForSelector("body[data-ready=true]", { timeout: 10_000 });
      assert.match((await other.page.textContent("#status")) ?? "", /authentication required/);
      await other.done();
    } finally {
      await keyed.close();
    }
  });

  it("profile panel: a hint without a profile; the last profile's stages, what-ifs and charts after one", async () => {
    const ui = await openUi();
    const { page } = ui;
    await page.click("#profile-panel summary");
    await page.waitForFunction(
      "document.querySelector('#profile-caption').textContent.includes('No profile yet')",
    );
    assert.equal(await page.locator("#profile-stages tr").count(), 0);

    // a count-only profile of the tiny model, as `sdlite profile --count-only` writes it
    const report = await runProfile({
      model: fixturePath("models/tiny-sd15"),
      modelName: "tiny-sd15",
      settings: profileSettings({ width: 64, height: 64, steps: 3, guidance: 7.5 }),
      runs: 0,
      hardware: [loadHardware("npu-8k-mac")],
    });
    writeProfileFiles(report, lastProfilePaths(join(work, "profile")));
    await page.click("#profile-reload");
    await page.waitForFunction("document.querySelectorAll('#profile-stages tbody tr').length === 3");
    const rows = await page.locator("#profile-stages tbody tr").allInnerTexts();
    assert.match(rows[1], /^UNet \(denoiser\)\s+3\s/);
    const unetGflop = (report.stages[1].total.flops / 1e9).toFixed(1);
    assert.ok(rows[1].includes(unetGflop), `${rows[1]} shows ${unetGflop} GFLOP`);
    assert.match(
      String(await page.locator("#profile-caption").textContent()),
      /tiny-sd15: 64x64, 3 steps, CFG 7\.5; .*Counted only/,
    );
    assert.match(
      String(await page.locator("#profile-what-if").textContent()),
      /NPU 8K MAC: [\d.]+ s per image/,
    );
    // both charts are valid SVG the browser draws
    for (const id of ["#profile-stages-chart", "#profile-roofline-chart"]) {
      await page.waitForFunction(
        `document.querySelector('${id}').complete && document.querySelector('${id}').naturalWidth > 0`,
      );
    }
    await ui.done();
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
