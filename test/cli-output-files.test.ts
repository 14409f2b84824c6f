/**
 * `sdlite generate`'s output files: each image is written as soon as it is decoded, so Ctrl-C or
 * SIGTERM in a long --batch-count keeps the finished ones (complete PNGs, no temporary files) and
 * says how many; an output folder that cannot be written fails before any step runs; `-o name.png`
 * names the file, further images `name-1.png`, `name-2.png`, never overwriting.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { parseInfotext, recordFromInfotext } from "../src/image/infotext.js";
import { decodePng } from "../src/image/png.js";
import { fixturePath } from "./helpers/fixtures.js";
import { describeRun, runSdlite } from "./helpers/sdlite-cli.js";

const TINY = fixturePath("models", "tiny-sd15");
const BATCHES = 40;
const work = mkdtempSync(join(tmpdir(), "sdlite-cli-output-"));
after(() => rmSync(work, { recursive: true, force: true }));
const env = {
  SDLITE_CACHE: join(work, "graphs"),
  HF_HOME: join(work, "hf"),
  HF_HUB_OFFLINE: "1",
  HF_TOKEN: "",
};
const small = ["-m", TINY, "-W", "64", "-H", "64", "--steps", "2", "--seed", "100", "--threads", "1"];

/** Every file in `dir` is a complete 64x64 PNG of seed 100 + k; returns the seeds. */
function assertCompletePngs(dir: string): number[] {
  const names = readdirSync(dir);
  assert.deepEqual(
    names.filter((n) => !n.endsWith(".png")),
    [],
    "only PNGs (no temporary files left behind)",
  );
  return names.map((name) => {
    const png = decodePng(new Uint8Array(readFileSync(join(dir, name))));
    assert.deepEqual([png.width, png.height], [64, 64], name);
    const record = recordFromInfotext(parseInfotext(png.text.parameters));
    assert.equal(name, `${String(record.seed - 100).padStart(5, "0")}-${record.seed}.png`);
    return record.seed;
  });
}

describe("a long --batch-count stopped early keeps the finished images", () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    test(signal, async () => {
      const out = join(work, `stopped-${signal}`);
      const run = await runSdlite(
        ["generate", "a cat", ...small, "--batch-count", String(BATCHES), "-o", out],
        env,
        { signalWhen: { pattern: /^saved /m, signal, stream: "stdout" } },
      );
      assert.equal(run.status, 130, describeRun(run));
      const seeds = assertCompletePngs(out);
      assert.ok(seeds.length >= 1 && seeds.length < BATCHES, `${seeds.length} images kept`);
      assert.deepEqual(
        seeds.sort((a, b) => a - b),
        seeds.map((_, k) => 100 + k),
        "the first iterations, in order",
      );
      const said = /sdlite: interrupted; (\d+) images? (?:was|were) saved/.exec(run.stderr);
      assert.ok(said, describeRun(run));
      assert.equal(Number(said[1]), seeds.length, "the count said is the count on disk");
      assert.equal(run.stdout.split("\n").filter((l) => l.startsWith("saved ")).length, seeds.length);
    });
  }
});

test("an output folder that cannot be written fails before the model is loaded", async () => {
  const file = join(work, "a-file");
  writeFileSync(file, "not a folder");
  const run = await runSdlite(
    ["generate", "a cat", ...small, "--batch-count", "3", "-o", join(file, "out")],
    env,
  );
  assert.equal(run.status, 1, describeRun(run));
  assert.match(
    run.stderr,
    /^sdlite: cannot use the output folder .*a-file\/out: part of the path is a file, not a folder \(ENOTDIR\)\n$/,
  );
  assert.doesNotMatch(run.stderr, /step \d|loading/, "no model loaded, no step run");
  const asFile = await runSdlite(["generate", "a cat", ...small, "-o", join(file, "cat.png")], env);
  assert.equal(asFile.status, 1, describeRun(asFile));
  assert.doesNotMatch(asFile.stderr, /step \d|loading/);
});

test("-o name.png names the file; more images and later runs get -1, -2, …; an existing folder named *.png stays a folder", async () => {
  const dir = join(work, "named");
  const first = await runSdlite(
    ["generate", "a cat", ...small, "--batch-count", "2", "-o", join(dir, "cat.png")],
    env,
  );
  assert.equal(first.status, 0, describeRun(first));
  const again = await runSdlite(
    ["generate", "a cat", ...small, "--seed", "7", "-o", join(dir, "cat.png")],
    env,
  );
  assert.equal(again.status, 0, describeRun(again));
  assert.deepEqual(readdirSync(dir).sort(), ["cat-1.png", "cat-2.png", "cat.png"]);
  const seedOf = (name: string) =>
    recordFromInfotext(
      parseInfotext(decodePng(new Uint8Array(readFileSync(join(dir, name)))).text.parameters),
    ).seed;
  assert.deepEqual(["cat.png", "cat-1.png", "cat-2.png"].map(seedOf), [100, 101, 7]);
  assert.match(first.stdout, /^saved .*cat\.png \(seed 100\)\nsaved .*cat-1\.png \(seed 101\)\n/m);

  const folder = join(work, "folder.png");
  mkdirSync(folder);
  const intoFolder = await runSdlite(["generate", "a cat", ...small, "-o", folder], env);
  assert.equal(intoFolder.status, 0, describeRun(intoFolder));
  assert.deepEqual(readdirSync(folder), ["00000-100.png"]);
});
