/**
 * A damaged cache entry never changes an image: `sdlite generate` notices a flipped byte in the
 * saved optimised UNet or in a built graph, says so in one line, rebuilds, and writes the same
 * PNG as before; `sdlite cache verify` reports damage (exit 1) and `ls`/`clear` show and empty the
 * cache.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fixturePath } from "./helpers/fixtures.js";
import { describeRun, runSdlite } from "./helpers/sdlite-cli.js";

const TINY = fixturePath("models", "tiny-sd15");
const dir = mkdtempSync(join(tmpdir(), "sdlite-cli-cache-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const cacheRoot = join(dir, "cache");
const env = { SDLITE_CACHE: cacheRoot, HF_HOME: join(dir, "hf"), HF_HUB_OFFLINE: "1" };

async function generate(extraEnv: Record<string, string> = {}) {
  const args = ["generate", "a red cube", "-m", TINY, "--steps", "2", "-W", "64", "-H", "64"];
  const run = await runSdlite([...args, "--seed", "5", "--threads", "1", "-o", join(dir, "out"), "--json"], {
    ...env,
    ...extraEnv,
  });
  assert.equal(run.status, 0, describeRun(run));
  const file: string = JSON.parse(run.stdout).files[0];
  return { run, pixels: readFileSync(file) };
}

/** The entry folder of `cache` whose key starts with `kind`. */
function entryDir(cache: "graphs" | "optimized", kind: string): string {
  const key = readdirSync(join(cacheRoot, cache)).find((k) => k.startsWith(`${kind}-`));
  assert.ok(key, `a ${cache} entry for ${kind}`);
  return join(cacheRoot, cache, key);
}

function flipMiddleByte(path: string): void {
  const bytes = readFileSync(path);
  bytes[bytes.length >> 1] ^= 0x40;
  writeFileSync(path, bytes);
}

describe("sdlite and a damaged cache", () => {
  test("a flipped byte is noticed, rebuilt with a note, and the image stays the same; verify, ls and clear", async () => {
    const first = await generate();
    assert.doesNotMatch(first.run.stderr, /damaged/);

    // the saved optimised UNet is what a warm run loads
    const optimizedUnet = entryDir("optimized", "unet");
    flipMiddleByte(join(optimizedUnet, "model.onnx.data"));
    const second = await generate();
    const notes = second.run.stderr.split("\n").filter((l) => l.startsWith("cache: "));
    assert.deepEqual(
      notes,
      [
        `cache: optimized/${optimizedUnet.split("/").at(-1)} is damaged (model.onnx.data: content differs from its SHA-256); saving it again`,
      ],
      second.run.stderr,
    );
    assert.ok(second.pixels.equals(first.pixels), "the same PNG as before the damage");

    // the built graph, loaded directly when optimised models are off
    const graphUnet = entryDir("graphs", "unet");
    const weights = readdirSync(graphUnet).find((f) => f.endsWith(".bin"));
    assert.ok(weights);
    flipMiddleByte(join(graphUnet, weights));
    const verify = await runSdlite(["cache", "verify", "--json"], env);
    assert.equal(verify.status, 1, describeRun(verify));
    const report = JSON.parse(verify.stdout);
    assert.equal(report.damaged, 1);
    const damaged = report.entries.filter((e: { state: string }) => e.state !== "ok");
    assert.deepEqual(damaged, [
      {
        entry: `graphs/${graphUnet.split("/").at(-1)}`,
        state: "damaged",
        reason: `${weights}: content differs from its SHA-256`,
      },
    ]);
    assert.equal(report.entries.length, 6, "three graphs and three optimised models");
    const clean = await runSdlite(["cache", "verify"], env);
    assert.equal(clean.status, 0, describeRun(clean));
    assert.match(clean.stdout, /5 entries checked, 0 damaged/);

    // damage found by a run, not by verify: rebuilt from the checkpoint
    const third = await generate({ SDLITE_OPTIMIZED_MODELS: "0" });
    assert.ok(third.pixels.equals(first.pixels), "the rebuilt graph gives the same PNG");
    flipMiddleByte(join(entryDir("graphs", "unet"), weights));
    const fourth = await generate({ SDLITE_OPTIMIZED_MODELS: "0" });
    assert.match(fourth.run.stderr, /^cache: graphs\/unet-[0-9a-f]+ is damaged \(.*\); rebuilding it$/m);
    assert.ok(fourth.pixels.equals(first.pixels), "the same PNG after the rebuild");

    const ls = await runSdlite(["cache", "ls"], env);
    assert.equal(ls.status, 0, describeRun(ls));
    assert.match(ls.stdout, new RegExp(`^sdlite cache: ${cacheRoot}$`, "m"));
    assert.match(ls.stdout, /^graphs\/unet-[0-9a-f]+ +[\d.]+ [KM]iB +\d{4}-/m);
    const cleared = await runSdlite(["cache", "clear", "--json"], env);
    assert.equal(cleared.status, 0, describeRun(cleared));
    assert.equal(JSON.parse(cleared.stdout).entries, 6);
    const empty = JSON.parse((await runSdlite(["cache", "ls", "--json"], env)).stdout);
    assert.deepEqual(empty.entries, []);
  });
});
