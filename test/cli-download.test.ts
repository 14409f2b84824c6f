/**
 * `sdlite generate -m org/name` spawned against the fake hub (HF_ENDPOINT): the model is
 * downloaded into HF_HUB_CACHE and generates the fixture image; a second run makes no request; an
 * interrupted download resumes where it stopped; a corrupted one fails cleanly and leaves nothing
 * corrupt in the cache. Without -m, the default model runs with its own settings.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { toRgb } from "../src/image/color.js";
import { parseInfotext, recordFromInfotext } from "../src/image/infotext.js";
import { decodePng } from "../src/image/png.js";
import type { RgbImage } from "../src/image/types.js";
import { FakeHub } from "./helpers/fake-hub.js";
import { fixturePath, manifest } from "./helpers/fixtures.js";
import { folderFiles } from "./helpers/folder-files.js";
import { describeRun, runSdlite } from "./helpers/sdlite-cli.js";

const REPO = "sdlite-test/tiny";
const UNET = "unet/diffusion_pytorch_model.safetensors";
const TINY_FILES = folderFiles(fixturePath("models", "tiny-sd15"));
const UNET_SHA256 = createHash("sha256").update(TINY_FILES[UNET]).digest("hex");
const MAX_LEVELS = 2;

let hub: FakeHub;
const tempDirs: string[] = [];

before(async () => {
  hub = await FakeHub.start();
  hub.addRepo(REPO, TINY_FILES);
  hub.addRepo("Lykon/dreamshaper-8-lcm", TINY_FILES);
});

after(async () => {
  await hub.close();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh HF cache, graph cache and output folder, with the hub at the fake one. */
function workspace() {
  const dir = mkdtempSync(join(tmpdir(), "sdlite-cli-download-"));
  tempDirs.push(dir);
  const hfCache = join(dir, "hf-hub");
  return {
    hfCache,
    out: join(dir, "outputs"),
    blobs: join(hfCache, "models--sdlite-test--tiny", "blobs"),
    env: {
      HF_ENDPOINT: hub.endpoint,
      HF_HUB_CACHE: hfCache,
      HF_HOME: join(dir, "hf-home"),
      HF_HUB_OFFLINE: "",
      HF_TOKEN: "",
      SDLITE_CACHE: join(dir, "graphs"),
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: manifest JSON
function pipelineCase(id: string): any {
  // biome-ignore lint/suspicious/noExplicitAny: manifest JSON
  return manifest().pipelines.cases.find((c: any) => c.id === id);
}

const EULER_A = pipelineCase("txt2img_euler_a_4");
const EULER_A_ARGS = [EULER_A.prompt, "--sampler", "Euler a", "--steps", "4", "--cfg", "7.5", "--seed", "42"];
const SMALL = ["-W", "64", "-H", "64", "--threads", "1"];

function readImage(path: string): { image: RgbImage; parameters: string } {
  const png = decodePng(new Uint8Array(readFileSync(path)));
  return { image: toRgb(png), parameters: png.text.parameters };
}

function maxLevelDiff(a: RgbImage, b: RgbImage): number {
  assert.deepEqual([a.width, a.height], [b.width, b.height], "image size");
  let worst = 0;
  for (let i = 0; i < a.data.length; i++) worst = Math.max(worst, Math.abs(a.data[i] - b.data[i]));
  return worst;
}

function assertMatchesFixture(file: string, png: string, label: string): void {
  const worst = maxLevelDiff(readImage(file).image, readImage(fixturePath(png)).image);
  console.log(`# ${label}: max ${worst} level(s) from ${png}`);
  assert.ok(worst <= MAX_LEVELS, `${label}: ${worst} levels from the fixture`);
}

/** Every blob in the cache holds exactly the bytes its name (sha256 or git sha1) promises. */
function assertBlobsIntact(blobs: string): string[] {
  const names = existsSync(blobs) ? readdirSync(blobs) : [];
  for (const name of names) {
    if (name.endsWith(".incomplete") || name.endsWith(".lock")) continue;
    const bytes = readFileSync(join(blobs, name));
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const gitSha1 = createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
    assert.ok(name === sha256 || name === gitSha1, `blob ${name} holds other bytes than its name says`);
  }
  return names;
}

describe("sdlite generate -m org/name downloads from the hub", () => {
  test("downloads into HF_HUB_CACHE and generates; a second run makes no request", async () => {
    const ws = workspace();
    hub.resetLog();
    const first = await runSdlite(
      ["generate", ...EULER_A_ARGS, "-m", REPO, ...SMALL, "-o", ws.out, "--json"],
      ws.env,
    );
    assert.equal(first.status, 0, describeRun(first));
    const doc = JSON.parse(first.stdout);
    const snapshot = join(ws.hfCache, "models--sdlite-test--tiny", "snapshots");
    assert.equal(doc.model.repo, REPO);
    assert.ok(doc.model.path.startsWith(snapshot), `model opened from the cache: ${doc.model.path}`);
    assert.ok(
      hub.requests.some((r) => r.server === "cdn"),
      "the weights came from the (fake) CDN",
    );
    assert.match(first.stderr, /^model sdlite-test\/tiny from the Hugging Face hub/m);
    assert.match(first.stderr, /^download 100% \(.* of .*\) /m, "non-TTY download progress lines");
    assertMatchesFixture(doc.files[0], EULER_A.png, "downloaded tiny-sd15");
    assert.equal(recordFromInfotext(parseInfotext(readImage(doc.files[0]).parameters)).model, REPO);

    hub.resetLog();
    const second = await runSdlite(
      ["generate", ...EULER_A_ARGS, "-m", REPO, ...SMALL, "-o", ws.out, "--json"],
      ws.env,
    );
    assert.equal(second.status, 0, describeRun(second));
    assert.deepEqual(hub.requests, [], "the cached snapshot is used without any request");
    assert.ok(!second.stderr.includes("download "), `nothing downloaded:\n${second.stderr}`);
    const again = JSON.parse(second.stdout);
    assert.equal(maxLevelDiff(readImage(again.files[0]).image, readImage(doc.files[0]).image), 0);
  });

  test("an interrupted download fails with a hint, and the next run resumes it with a Range request", async () => {
    const ws = workspace();
    // more cuts than the downloader retries within one run
    for (let i = 0; i < 4; i++) hub.cutNext(UNET, 20_000);
    const cut = await runSdlite(["generate", ...EULER_A_ARGS, "-m", REPO, ...SMALL, "-o", ws.out], ws.env);
    assert.equal(cut.status, 1, describeRun(cut));
    assert.equal(cut.stdout, "");
    assert.match(
      cut.stderr,
      /^sdlite: download of "unet\/diffusion_pytorch_model\.safetensors" .* was interrupted at \d+ of \d+ bytes .*run the same command again to resume$/m,
    );
    const incomplete = join(ws.blobs, `${UNET_SHA256}.incomplete`);
    const kept = statSync(incomplete).size;
    assert.ok(kept > 0 && kept < TINY_FILES[UNET].length, `partial UNet kept (${kept} bytes)`);
    assertBlobsIntact(ws.blobs);

    hub.resetLog();
    const resumed = await runSdlite(
      ["generate", ...EULER_A_ARGS, "-m", REPO, ...SMALL, "-o", ws.out],
      ws.env,
    );
    assert.equal(resumed.status, 0, describeRun(resumed));
    const unetGets = hub.requests.filter((r) => r.server === "cdn" && r.url.includes(UNET_SHA256));
    assert.deepEqual(
      unetGets.map((r) => r.range),
      [`bytes=${kept}-`],
      "the UNet download continued where it stopped",
    );
    assert.ok(!existsSync(incomplete));
    assert.ok(assertBlobsIntact(ws.blobs).includes(UNET_SHA256));
    const saved = /^saved (.+) \(seed 42\)$/m.exec(resumed.stdout);
    assert.ok(saved, resumed.stdout);
    assertMatchesFixture(saved[1], EULER_A.png, "resumed download");
  });

  test("a corrupted download fails cleanly and leaves nothing corrupt in the cache", async () => {
    const ws = workspace();
    hub.corrupt(UNET);
    let run: Awaited<ReturnType<typeof runSdlite>>;
    try {
      run = await runSdlite(["generate", ...EULER_A_ARGS, "-m", REPO, ...SMALL, "-o", ws.out], ws.env);
    } finally {
      hub.corrupt(UNET, false);
    }
    assert.equal(run.status, 1, describeRun(run));
    assert.equal(run.stdout, "");
    const last = run.stderr.trimEnd().split("\n").at(-1) ?? "";
    assert.match(
      last,
      /^sdlite: download of "unet\/diffusion_pytorch_model\.safetensors" .* is corrupt: sha256 [0-9a-f]{64} does not match/,
    );
    assert.ok(!/\n\s+at /.test(run.stderr), "no stack trace");
    const names = assertBlobsIntact(ws.blobs);
    assert.ok(!names.some((n) => n.startsWith(UNET_SHA256)), `no UNet blob or partial file: ${names}`);
    const snapshots = join(ws.hfCache, "models--sdlite-test--tiny", "snapshots");
    for (const commit of readdirSync(snapshots))
      assert.ok(!existsSync(join(snapshots, commit, UNET)), "no UNet link");
    assert.ok(!existsSync(ws.out), "no images");
  });
});

describe("sdlite generate without -m", () => {
  test("downloads the default model and runs it with LCM, 4 steps, CFG 1 (the LCM fixture)", async () => {
    const ws = workspace();
    const c = pipelineCase("txt2img_lcm_4_nocfg");
    const run = await runSdlite(
      ["generate", c.prompt, "--seed", String(c.seed), ...SMALL, "-o", ws.out, "--json"],
      ws.env,
    );
    assert.equal(run.status, 0, describeRun(run));
    const doc = JSON.parse(run.stdout);
    assert.equal(doc.model.repo, "Lykon/dreamshaper-8-lcm");
    assertMatchesFixture(doc.files[0], c.png, "default model (LCM, 4 steps, CFG 1)");
    const record = recordFromInfotext(parseInfotext(doc.infotexts[0]));
    assert.deepEqual(
      [record.sampler, record.steps, record.cfgScale, record.seed, record.model],
      ["LCM", 4, 1, c.seed, "Lykon/dreamshaper-8-lcm"],
    );
  });
});
