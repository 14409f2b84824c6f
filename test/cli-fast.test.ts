/**
 * `sdlite generate --fast` and `--taesd org/name`, spawned against the fake hub (HF_ENDPOINT) with
 * the tiny fixture model: a TAESD repo id is fetched into the HF cache (only its diffusers files)
 * and decodes the same image as the fixture folder given as a path; --fast turns on int8, DeepCache 3
 * and TAESD from madebyollin/taesd, which it reads from the cache offline; explicit options win over
 * it; offline without a cached TAESD it falls back to the full VAE with a note instead of failing.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { toRgb } from "../src/image/color.js";
import { parseInfotext, recordFromInfotext } from "../src/image/infotext.js";
import { decodePng } from "../src/image/png.js";
import type { RgbImage } from "../src/image/types.js";
import { FakeHub } from "./helpers/fake-hub.js";
import { fixturePath } from "./helpers/fixtures.js";
import { folderFiles } from "./helpers/folder-files.js";
import { type CliRun, describeRun, runSdlite } from "./helpers/sdlite-cli.js";

const TINY = fixturePath("models", "tiny-sd15");
const TINY_TAESD = fixturePath("models", "tiny-taesd");
const TAESD_REPO = "sdlite-test/taesd";
/** What the hub's madebyollin/taesd also holds; none of it is needed, so none of it is fetched. */
const TAESD_EXTRAS = {
  "README.md": "# TAESD\n",
  "diffusion_pytorch_model.bin": Buffer.alloc(4096, 7),
};
/** A small no-CFG run, as the default model's LCM settings (one UNet call per step). */
const ARGS = ["a red ball", "-m", TINY, "--sampler", "Euler", "--steps", "4", "--cfg", "1", "--seed", "7"];
const SMALL = ["-W", "64", "-H", "64", "--threads", "1", "--json"];

let hub: FakeHub;
let root: string;

before(async () => {
  hub = await FakeHub.start();
  const taesd = { ...folderFiles(TINY_TAESD), ...TAESD_EXTRAS };
  hub.addRepo(TAESD_REPO, taesd);
  hub.addRepo("madebyollin/taesd", taesd);
  root = mkdtempSync(join(tmpdir(), "sdlite-cli-fast-"));
});

after(async () => {
  await hub.close();
  rmSync(root, { recursive: true, force: true });
});

let counter = 0;
/** A fresh HF cache and output folder; one graph cache shared by all runs (keys tell them apart). */
function workspace() {
  const dir = join(root, `ws${counter++}`);
  return {
    hfCache: join(dir, "hf-hub"),
    out: join(dir, "outputs"),
    env: {
      HF_ENDPOINT: hub.endpoint,
      HF_HUB_CACHE: join(dir, "hf-hub"),
      HF_HOME: join(dir, "hf-home"),
      HF_HUB_OFFLINE: "",
      HF_TOKEN: "",
      SDLITE_CACHE: join(root, "graphs"),
    },
  };
}

interface RunDoc {
  files: string[];
  infotexts: string[];
  engine: {
    preset?: string;
    decoder: string;
    taesd?: { path: string; repo?: string };
    deepCacheInterval: number;
    unetQuantization: string;
  };
}

async function generate(args: string[], env: Record<string, string>): Promise<{ run: CliRun; doc: RunDoc }> {
  const run = await runSdlite(["generate", ...ARGS, ...SMALL, ...args], env);
  assert.equal(run.status, 0, describeRun(run));
  return { run, doc: JSON.parse(run.stdout) as RunDoc };
}

function image(path: string): RgbImage {
  return toRgb(decodePng(new Uint8Array(readFileSync(path))));
}

function maxLevelDiff(a: RgbImage, b: RgbImage): number {
  assert.deepEqual([a.width, a.height], [b.width, b.height], "image size");
  let worst = 0;
  for (let i = 0; i < a.data.length; i++) worst = Math.max(worst, Math.abs(a.data[i] - b.data[i]));
  return worst;
}

function infotextExtra(doc: RunDoc): Record<string, string | number | boolean> {
  return { ...recordFromInfotext(parseInfotext(doc.infotexts[0])).extra };
}

/** --fast's options one by one (without its TAESD lookup and low memory). */
const FAST_FLAGS = [
  "--quantize",
  "int8",
  "--deep-cache",
  "3",
  "--todo",
  "2",
  "--quantize-text-encoder",
  "int8",
];

const FAST_ENGINE = {
  decoder: "taesd",
  deepCacheInterval: 3,
  unetQuantization: "int8",
  todoFactor: 2,
  todoMaxDepth: 1,
  textEncoderQuantization: "int8",
};

describe("sdlite generate --taesd org/name and --fast", () => {
  /** int8 + DeepCache 3 + ToDo 2 + the fixture TAESD given as a path: what both hub runs must reproduce. */
  let reference: RunDoc;

  before(async () => {
    const ws = workspace();
    ({ doc: reference } = await generate([...FAST_FLAGS, "--taesd", TINY_TAESD, "-o", ws.out], ws.env));
    assert.deepEqual(reference.engine, { ...FAST_ENGINE, taesd: { path: TINY_TAESD } });
  });

  test("--taesd org/name: fetched once into the HF cache (its diffusers files only), decodes as the local folder", async () => {
    const ws = workspace();
    hub.resetLog();
    const { run, doc } = await generate([...FAST_FLAGS, "--taesd", TAESD_REPO, "-o", ws.out], ws.env);
    assert.match(run.stderr, /^TAESD sdlite-test\/taesd from the Hugging Face hub \(cache first\)/m);
    const snapshots = join(ws.hfCache, "models--sdlite-test--taesd", "snapshots");
    assert.equal(doc.engine.taesd?.repo, TAESD_REPO);
    assert.ok(
      doc.engine.taesd?.path.startsWith(snapshots),
      `TAESD opened from the cache: ${doc.engine.taesd?.path}`,
    );
    assert.ok(existsSync(join(doc.engine.taesd.path, "diffusion_pytorch_model.safetensors")));
    const fetched = hub.requests.filter((r) => r.url.includes("/resolve/")).map((r) => r.url);
    assert.ok(!fetched.some((u) => /README|\.bin$/.test(u)), `only config + safetensors fetched: ${fetched}`);
    assert.ok(fetched.some((u) => u.endsWith("/config.json")));
    assert.equal(
      maxLevelDiff(image(doc.files[0]), image(reference.files[0])),
      0,
      "same image as the fixture TAESD",
    );
    assert.equal(infotextExtra(doc)["VAE Decoder"], "TAESD");

    hub.resetLog();
    const again = await generate(["--taesd", TAESD_REPO, "-o", ws.out], { ...ws.env, HF_HUB_OFFLINE: "1" });
    assert.deepEqual(hub.requests, [], "a cached TAESD is used offline without any request");
    assert.equal(again.doc.engine.taesd?.path, doc.engine.taesd.path);
  });

  test("--fast: int8, DeepCache 3 and madebyollin/taesd from the hub; offline from the cache", async () => {
    const ws = workspace();
    const { run, doc } = await generate(["--fast", "-o", ws.out], ws.env);
    assert.match(run.stderr, /^TAESD madebyollin\/taesd from the Hugging Face hub/m);
    assert.deepEqual(doc.engine, {
      preset: "fast",
      ...FAST_ENGINE,
      taesd: { path: doc.engine.taesd?.path, repo: "madebyollin/taesd" },
    });
    assert.ok(doc.engine.taesd?.path.startsWith(join(ws.hfCache, "models--madebyollin--taesd", "snapshots")));
    assert.equal(
      maxLevelDiff(image(doc.files[0]), image(reference.files[0])),
      0,
      "same image as the explicit options",
    );
    const extra = infotextExtra(doc);
    assert.equal(extra["VAE Decoder"], "TAESD");
    assert.equal(extra["DeepCache interval"], 3);
    assert.equal(extra["UNet quantization"], "int8");
    assert.equal(extra["ToDo factor"], 2);

    hub.resetLog();
    const offline = await generate(["--fast", "-o", ws.out], { ...ws.env, HF_HUB_OFFLINE: "1" });
    assert.deepEqual(hub.requests, []);
    assert.equal(offline.doc.engine.decoder, "taesd");
    assert.doesNotMatch(offline.run.stderr, /could not be had/);
  });

  test("--fast offline without a cached TAESD: the full VAE decodes, with a one-line note", async () => {
    const ws = workspace();
    hub.resetLog();
    const { run, doc } = await generate(["--fast", "-o", ws.out], { ...ws.env, HF_HUB_OFFLINE: "1" });
    assert.deepEqual(hub.requests, []);
    const notes = run.stderr.split("\n").filter((l) => l.includes("could not be had"));
    assert.equal(notes.length, 1, run.stderr);
    assert.match(
      notes[0],
      /^--fast: TAESD \(madebyollin\/taesd\) could not be had, so the full VAE decodes instead: .*HF_HUB_OFFLINE/,
    );
    assert.deepEqual(doc.engine, {
      preset: "fast",
      decoder: "vae",
      deepCacheInterval: 3,
      unetQuantization: "int8",
      todoFactor: 2,
      todoMaxDepth: 1,
      textEncoderQuantization: "int8",
    });
    const extra = infotextExtra(doc);
    assert.equal(extra["VAE Decoder"], undefined);
    assert.equal(extra["DeepCache interval"], 3);
    // the full VAE's image is not TAESD's: the fallback really changed the decoder
    const diff = maxLevelDiff(image(doc.files[0]), image(reference.files[0]));
    assert.ok(diff > 16, `VAE and TAESD images differ (max ${diff} levels)`);
  });

  test("--quantize-taesd int8: named in --json's engine and the infotext, a near but not equal image", async () => {
    const ws = workspace();
    const { doc } = await generate(
      [...FAST_FLAGS, "--taesd", TINY_TAESD, "--quantize-taesd", "int8", "-o", ws.out],
      ws.env,
    );
    assert.deepEqual(doc.engine, { ...FAST_ENGINE, taesd: { path: TINY_TAESD }, taesdQuantization: "int8" });
    assert.equal(infotextExtra(doc)["TAESD quantization"], "int8");
    const [a, b] = [image(doc.files[0]), image(reference.files[0])];
    let sum = 0;
    for (let i = 0; i < a.data.length; i++) sum += Math.abs(a.data[i] - b.data[i]);
    const mean = sum / a.data.length;
    // int8 products, not another decoder: every pixel near the float one (the fallback test's VAE is
    // > 16 levels away), on average well under one level (taesd-int8.test.ts: 0.48 on the fixtures)
    const diff = maxLevelDiff(a, b);
    assert.ok(diff > 0 && diff <= 16, `int8 TAESD's image is at most ${diff} levels from the float one`);
    assert.ok(mean < 1, `mean difference ${mean.toFixed(3)} levels`);
  });

  test("explicit options win over --fast (--todo 1 turns ToDo off), and --decoder vae fetches no TAESD", async () => {
    const ws = workspace();
    hub.resetLog();
    const { run, doc } = await generate(
      [
        "--fast",
        "--deep-cache",
        "1",
        "--decoder",
        "vae",
        "--todo",
        "1",
        "--quantize-text-encoder",
        "none",
        "-o",
        ws.out,
      ],
      ws.env,
    );
    assert.deepEqual(hub.requests, [], "no TAESD lookup");
    assert.doesNotMatch(run.stderr, /TAESD/);
    assert.deepEqual(doc.engine, {
      preset: "fast",
      decoder: "vae",
      deepCacheInterval: 1,
      unetQuantization: "int8",
    });
    assert.deepEqual(Object.keys(infotextExtra(doc)), ["UNet quantization"]);
  });

  test("a --taesd repo id the hub does not have fails before the model is opened, naming it", async () => {
    const ws = workspace();
    const run = await runSdlite(
      ["generate", ...ARGS, ...SMALL, "--taesd", "sdlite-test/nothing", "-o", ws.out],
      ws.env,
    );
    assert.equal(run.status, 1, describeRun(run));
    assert.match(
      run.stderr,
      /--taesd "sdlite-test\/nothing" is not a file or folder here, so it was looked up on the Hugging Face hub/,
    );
    assert.doesNotMatch(run.stderr, /loading tiny-sd15/);
    assert.ok(!existsSync(ws.out));
  });
});
