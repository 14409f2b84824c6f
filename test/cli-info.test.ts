import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { formatInfotext } from "../src/image/infotext.js";
import { encodePng } from "../src/image/png.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dir = mkdtempSync(join(tmpdir(), "sdlite-info-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function sdlite(...args: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", join(repoRoot, "src", "cli", "main.ts"), ...args], {
    cwd: repoRoot,
    encoding: "utf-8",
  });
}

const pixels = { width: 2, height: 2, channels: 3 as const, data: new Uint8Array(12).fill(90) };

test("sdlite info prints prompt, negative prompt, parsed parameters and the raw text", () => {
  const raw = formatInfotext({
    prompt: "a cozy cabin in the woods, winter\n猫 on the roof",
    negativePrompt: "blurry, low quality",
    steps: 8,
    sampler: "DPM++ 2M",
    scheduleType: "Karras",
    cfgScale: 7.5,
    seed: 1234,
    width: 64,
    height: 64,
    modelHash: "6ce0161689",
    model: "tiny-sd15",
    rng: "CPU",
    loraHashes: [{ name: "detail", hash: "0123456789ab" }],
    version: "sdlite 0.1.0",
  });
  const file = join(dir, "with-metadata.png");
  writeFileSync(file, encodePng(pixels, { parameters: raw, Software: "sdlite" }));
  const run = sdlite("info", file);
  assert.equal(run.status, 0, `exit code ${run.status}, stderr: ${run.stderr}`);
  assert.equal(run.stderr, "");
  assert.deepEqual(JSON.parse(run.stdout), {
    file,
    prompt: "a cozy cabin in the woods, winter\n猫 on the roof",
    negativePrompt: "blurry, low quality",
    parameters: {
      Steps: 8,
      Sampler: "DPM++ 2M",
      "Schedule type": "Karras",
      "CFG scale": 7.5,
      Seed: 1234,
      Size: "64x64",
      "Model hash": "6ce0161689",
      Model: "tiny-sd15",
      RNG: "CPU",
      "Lora hashes": "detail: 0123456789ab",
      Version: "sdlite 0.1.0",
    },
    raw,
  });
});

test("sdlite info fails clearly for a missing file, a non-PNG and a PNG without parameters", () => {
  const missing = sdlite("info", join(dir, "nope.png"));
  assert.equal(missing.status, 1);
  assert.equal(missing.stdout, "");
  assert.match(missing.stderr, /^sdlite: no such file: .*nope\.png\n$/);

  const notPng = join(dir, "fake.png");
  writeFileSync(notPng, "GIF89a, not really a PNG");
  const bad = sdlite("info", notPng);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /fake\.png is not a PNG file/);

  const plain = join(dir, "plain.png");
  writeFileSync(plain, encodePng(pixels, { Software: "other tool" }));
  const none = sdlite("info", plain);
  assert.equal(none.status, 1);
  assert.match(
    none.stderr,
    /plain\.png has no A1111 "parameters" text chunk \(its text chunks are: Software\)/,
  );
});
