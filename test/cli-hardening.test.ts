/**
 * What crashed, hung or printed a raw error from the command line (issue 16), spawned as a user
 * runs it: long prompts (SIGSEGV at ~29 KB of command line: onnxruntime's telemetry read it with
 * a routine recursing per character), huge upscale factors and claimed image sizes, LoRA weights
 * that are not numbers, output paths that are files or cannot be made, a batch count of 10000.
 * Each is exit 0, or exit 1 with one line on stderr (130 after Ctrl-C).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { readPngText } from "../src/image/png.js";
import { fixturePath } from "./helpers/fixtures.js";
import { claimedSizePng, hostilePng } from "./helpers/hostile-png.js";
import { type CliRun, describeRun, runSdlite } from "./helpers/sdlite-cli.js";

const TINY = fixturePath("models", "tiny-sd15");
const LORA = fixturePath("lora", "tiny-sd15-kohya.safetensors");
const root = mkdtempSync(join(tmpdir(), "sdlite-cli-hardening-"));
after(() => rmSync(root, { recursive: true, force: true }));
const env = {
  SDLITE_CACHE: join(root, "cache"),
  HF_HOME: join(root, "hf"),
  HF_HUB_OFFLINE: "1",
  HF_TOKEN: "",
};

function quick(prompt: string, out: string, extra: string[] = []): Promise<CliRun> {
  const args = ["generate", prompt, "-m", TINY, "-W", "64", "-H", "64", "--steps", "1", "--seed", "1"];
  return runSdlite([...args, "--threads", "1", "-o", out, ...extra], env);
}

/** Exit 1 and exactly one line on stderr, matching `pattern`. */
function assertOneLineError(run: CliRun, pattern: RegExp): void {
  assert.equal(run.status, 1, describeRun(run));
  const lines = run.stderr.trim().split("\n");
  assert.equal(lines.length, 1, describeRun(run));
  assert.match(lines[0], pattern, describeRun(run));
}

describe("long prompts", () => {
  test("prompts and negative prompts of 1, 10, 30 and 100 KB generate", {
    timeout: 300_000,
  }, async () => {
    for (const [kb, negativeKb] of [
      [1, 1],
      [10, 10],
      [30, 30],
      [100, 100],
    ]) {
      const prompt = "a red barn, ".repeat(Math.ceil((kb * 1024) / 12));
      const out = join(root, `long-${kb}`);
      const negative = "fog, ".repeat(Math.ceil((negativeKb * 1024) / 5));
      const run = await quick(prompt, out, ["--negative", negative]);
      assert.equal(run.status, 0, `${kb} KB: ${describeRun(run).slice(0, 2000)}`);
      const [file] = readdirSync(out);
      const parameters = readPngText(readFileSync(join(out, file))).parameters;
      assert.ok(parameters.startsWith(prompt.trim()));
      assert.ok(
        parameters.includes(`\nNegative prompt: ${negative.trim()}`),
        `${kb} KB: the negative prompt`,
      );
    }
  });
});

describe("long runs show their scale at once", () => {
  test("--batch-count 10000 prints each batch with an ETA at once; each image is written as it is made; Ctrl-C keeps them and exits 130", {
    timeout: 120_000,
  }, async () => {
    const out = join(root, "many");
    const started = performance.now();
    const run = await runSdlite(
      ["generate", "a cat", "-m", TINY, "-W", "64", "-H", "64", "--steps", "1", "--seed", "1"].concat([
        "--batch-count",
        "10000",
        "--threads",
        "1",
        "-o",
        out,
      ]),
      env,
      { signalWhen: { pattern: /^step 1\/1 \(batch 3\/10000\)/m, signal: "SIGINT" } },
    );
    const seconds = (performance.now() - started) / 1000;
    assert.equal(run.status, 130, describeRun(run));
    assert.match(
      run.stderr,
      /^step 1\/1 \(batch 1\/10000\), .*ETA \d/m,
      "the scale, stated on the first step",
    );
    const saved = readdirSync(out);
    assert.ok(saved.length >= 3, `images saved before Ctrl-C: ${saved.join(", ")}`);
    assert.ok(
      run.stderr.includes(`\nsdlite: interrupted; ${saved.length} images were saved (last: `),
      describeRun(run),
    );
    assert.ok(seconds < 60, `${seconds.toFixed(1)} s to start and stop`);
  });
});

describe("sizes are checked before anything is allocated", () => {
  const image = join(root, "small.png");
  writeFileSync(image, hostilePng({ width: 64, height: 64 }));

  test("upscale --scale 1000 and an 8000x8000 input at x4 are refused up front", async () => {
    assertOneLineError(
      await runSdlite(["upscale", image, "-u", "Lanczos", "--scale", "1000", "-o", join(root, "x.png")], env),
      /upscaling 64x64 by 1000 gives 64000x64000, more than the 8192x8192 pixels sdlite makes/,
    );
    const big = join(root, "big.png");
    writeFileSync(big, claimedSizePng(8000, 8000));
    assertOneLineError(
      await runSdlite(["upscale", big, "-u", "Lanczos", "-o", join(root, "y.png")], env),
      /8000x8000 by 4 gives 32000x32000, more than the 8192x8192/,
    );
    assert.ok(!existsSync(join(root, "x.png")) && !existsSync(join(root, "y.png")));
  });

  test("an init image claiming 60000x60000 is refused with the limit", async () => {
    const huge = join(root, "huge.png");
    writeFileSync(huge, claimedSizePng(60_000, 60_000));
    assertOneLineError(
      await quick("a cat", join(root, "out-huge"), ["--init-image", huge]),
      /init image .*huge\.png: the PNG is 60000x60000, more than the 67108864 pixels \(8192x8192\)/,
    );
  });
});

describe("arguments that were taken for something else", () => {
  test("--lora FILE:abc and FILE:NaN say the weight is invalid", async () => {
    for (const weight of ["abc", "NaN"]) {
      assertOneLineError(
        await quick("a cat", join(root, "out-lora"), ["--lora", `${LORA}:${weight}`]),
        new RegExp(`the weight "${weight}" is not a number`),
      );
    }
  });

  test("-o naming a file, a path through a file, or a folder that cannot be made", async () => {
    const file = join(root, "existing-file");
    writeFileSync(file, "keep me");
    assertOneLineError(
      await quick("a cat", file),
      /cannot use the output folder .*existing-file: .*existing-file is a file, not a folder/,
    );
    assertOneLineError(await quick("a cat", join(file, "sub")), /part of the path is a file, not a folder/);
    assert.equal(readFileSync(file, "utf-8"), "keep me");
    // Node's recursive mkdir spins forever here (ENOENT from procfs, then EEXIST for /proc)
    const proc = await quick("a cat", "/proc/sdlite-test-output");
    assert.equal(proc.status, 1, describeRun(proc));
    assert.match(
      proc.stderr.trim().split("\n").at(-1)!,
      /cannot create the output folder \/proc\/sdlite-test-output/,
    );
  });
});
