/**
 * Screenshots of the web UI for the README (docs/screenshots/): `sdlite serve` with the tiny
 * fixture model (random weights, so the images are coloured noise), driven by headless Chromium
 * at desktop (1280×800) and phone (390×844) size.
 *
 *   node --import tsx scripts/web-screenshots.ts [outDir]
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Page } from "playwright-core";
import { createServer } from "../src/server/create-server.js";
import { launchBrowser } from "../test/helpers/browser.js";
import { fixturePath } from "../test/helpers/fixtures.js";
import { buildWeb } from "./build-web.js";

const outDir = resolve(process.argv[2] ?? "docs/screenshots");
mkdirSync(outDir, { recursive: true });
const work = mkdtempSync(join(tmpdir(), "sdlite-screenshots-"));
const loraDir = join(work, "Lora");
mkdirSync(loraDir);
copyFileSync(fixturePath("lora/tiny-sd15-kohya.safetensors"), join(loraDir, "tiny-sd15-kohya.safetensors"));

const app = await createServer({
  model: fixturePath("models/tiny-sd15"),
  modelsDir: fixturePath("models"),
  hubCacheDir: false,
  loraDir,
  engine: { runtime: { threads: 2, cache: false } },
  webDir: await buildWeb({ outDir: join(work, "web") }),
  previewEvery: 1,
});
await app.listen({ host: "127.0.0.1", port: 0 });
const address = app.server.address();
const url = typeof address === "object" && address ? `http://127.0.0.1:${address.port}` : "";
const browser = await launchBrowser();

async function fillForm(page: Page) {
  await page.fill("#prompt", "a lighthouse on a cliff at dusk, dramatic sky, <lora:tiny-sd15-kohya:0.6>");
  await page.fill("#negative-prompt", "blurry, lowres");
  await page.selectOption("#sampler", "DPM++ 2M");
  await page.fill("#steps", "12");
  await page.fill("#seed", "1234");
  await page.selectOption("#size-preset", "custom");
  await page.fill("#width", "192");
  await page.fill("#height", "192");
  await page.locator("#height").dispatchEvent("change");
  await page.fill("#batch-size", "2");
}

async function generate(page: Page, images: number) {
  await page.click("#generate");
  await page.waitForSelector(`#status:has-text('Done: ${images} images')`, { timeout: 120_000 });
}

try {
  // desktop: two finished results and a generation in progress with its live preview
  const desktop = await browser.context.newPage();
  await desktop.setViewportSize({ width: 1280, height: 800 });
  await desktop.goto(url);
  await desktop.waitForSelector("body[data-ready=true]");
  await fillForm(desktop);
  await generate(desktop, 2);
  await desktop.fill("#steps", "150");
  await desktop.fill("#batch-size", "1");
  await desktop.click("#generate");
  await desktop.waitForSelector("#preview:not([hidden])");
  await desktop.waitForFunction("/Step [1-9]\\d/.test(document.querySelector('#progress-text').textContent)");
  await desktop.evaluate("window.scrollTo(0, 0)");
  await desktop.screenshot({ path: join(outDir, "desktop.png") });
  await desktop.click("#cancel");
  await desktop.waitForSelector("#status:has-text('Cancelled')");

  // desktop inpainting: a result sent to img2img with a painted mask
  await desktop.locator("figure.result button[data-action=img2img]").last().click();
  await desktop.waitForSelector("#init-stage:not([hidden])");
  await desktop.fill("#brush-size", "36");
  await desktop.locator("#mask-canvas").scrollIntoViewIfNeeded();
  const box = await desktop.locator("#mask-canvas").boundingBox();
  if (box) {
    await desktop.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.35);
    await desktop.mouse.down();
    await desktop.mouse.move(box.x + box.width * 0.65, box.y + box.height * 0.45, { steps: 8 });
    await desktop.mouse.move(box.x + box.width * 0.55, box.y + box.height * 0.7, { steps: 8 });
    await desktop.mouse.up();
  }
  await desktop.screenshot({ path: join(outDir, "inpaint.png") });
  await desktop.close();

  // phone: one column, form first
  const phone = await browser.context.newPage();
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(url);
  await phone.waitForSelector("body[data-ready=true]");
  await fillForm(phone);
  await generate(phone, 2);
  await phone.evaluate("window.scrollTo(0, 0)");
  await phone.screenshot({ path: join(outDir, "phone.png") });
  await phone.evaluate("document.querySelector('section.output').scrollIntoView()");
  await phone.screenshot({ path: join(outDir, "phone-results.png") });
  await phone.close();
} finally {
  await browser.close();
  await app.close();
  rmSync(work, { recursive: true, force: true });
}
