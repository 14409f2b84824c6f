/**
 * `sdlite profile` from the command line on the tiny fixture model: a timed run (tables on stdout,
 * the JSON and both SVG charts beside it and as the last profile in the cache folder), a count-only
 * run of the --fast option set, and bad input refused in one line.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { ProfileReport } from "../src/profile/profile-report.js";
import { fixturePath } from "./helpers/fixtures.js";
import { describeRun, runSdlite } from "./helpers/sdlite-cli.js";

const dir = mkdtempSync(join(tmpdir(), "sdlite-profile-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const env = { SDLITE_CACHE: join(dir, "cache"), HF_HUB_OFFLINE: "1" };
const tiny = fixturePath("models/tiny-sd15");

describe("sdlite profile", () => {
  it("times the tiny model's stages, prints the tables and writes JSON and SVG charts", async () => {
    const json = join(dir, "out", "tiny.json");
    const run = await runSdlite(
      [
        "profile",
        "-m",
        tiny,
        "--size",
        "64",
        "--steps",
        "2",
        "--cfg",
        "7.5",
        "--threads",
        "1",
        "--hardware",
        "npu-8k-mac",
        "--json",
        json,
      ],
      env,
    );
    assert.equal(run.status, 0, describeRun(run));
    assert.match(run.stdout, /## unet \(unet\): 2 calls per image; sample \[2, 4, 8, 8\]/);
    assert.match(run.stdout, /## text_encoder \(text-encoder\): 2 calls per image/);
    assert.match(run.stdout, /\| UNet \(denoiser\) \|\s+2 \|/);
    assert.match(run.stdout, /## What if: NPU 8K MAC/);
    assert.match(run.stderr, /measuring this machine's matmul rate and memory bandwidth/);
    const report = JSON.parse(readFileSync(json, "utf-8")) as ProfileReport;
    assert.equal(report.format, "sdlite-profile");
    assert.deepEqual(
      report.networks.map((n) => n.id),
      ["text_encoder", "unet", "vae_decoder"],
    );
    for (const n of report.networks) {
      assert.ok(n.timing && n.timing.secondsPerCall > 0 && n.timing.runs === 1, `${n.id} timed`);
      // kernel time per kind adds up to the kernels' total
      const sum = Object.values(n.byKind).reduce((s, k) => s + (k.seconds ?? 0), 0);
      assert.ok(
        Math.abs(sum - n.timing.kernelSeconds) < 1e-9,
        `${n.id}: ${sum} vs ${n.timing.kernelSeconds}`,
      );
    }
    assert.ok(
      report.machine && report.machine.matmulFlopsPerSecond > 0 && report.machine.memoryBytesPerSecond > 0,
    );
    assert.equal(report.machine.threads, 1);
    assert.ok(Math.abs(report.stages.reduce((s, x) => s + (x.share ?? 0), 0) - 1) < 1e-9);
    for (const svg of ["tiny-stages.svg", "tiny-roofline.svg"]) {
      assert.match(readFileSync(join(dir, "out", svg), "utf-8"), /^<svg /);
    }
    // the last profile, for the web UI
    const last = JSON.parse(
      readFileSync(join(dir, "cache", "profile", "last.json"), "utf-8"),
    ) as ProfileReport;
    assert.equal(last.createdAt, report.createdAt);
    assert.ok(existsSync(join(dir, "cache", "profile", "last-roofline.svg")));
  });

  it("--count-only --fast: the int8 UNet and text encoder, ToDo, its DeepCache shallow branch and TAESD, without timing", async () => {
    const json = join(dir, "fast.json");
    const run = await runSdlite(
      [
        "profile",
        "-m",
        tiny,
        "--size",
        "64",
        "--steps",
        "4",
        "--cfg",
        "1",
        "--fast",
        "--count-only",
        "--json",
        json,
      ],
      env,
    );
    assert.equal(run.status, 0, describeRun(run));
    const report = JSON.parse(readFileSync(json, "utf-8")) as ProfileReport;
    assert.deepEqual(
      report.networks.map((n) => [n.id, n.callsPerImage]),
      [
        ["text_encoder", 1],
        ["unet", 2],
        ["unet_shallow", 2],
        ["taesd_decoder", 1],
      ],
    );
    assert.equal(report.settings.unetQuantization, "int8");
    // the preset's int8 text encoder and ToDo are profiled as generate and serve build them
    assert.equal(report.settings.textEncoderQuantization, "int8");
    assert.equal(report.settings.todoFactor, 2);
    assert.equal(report.optionsLabel, "--fast");
    assert.equal(report.machine, undefined);
    assert.ok(report.networks.every((n) => n.timing === undefined));
    assert.match(run.stdout, /not timed \(--count-only\): counts only\./);
    assert.match(run.stderr, /TAESD: its architecture with synthetic weights/);
  });

  it("refuses bad options and models it cannot profile in one line", async () => {
    const cases: [string[], RegExp][] = [
      [
        ["--hardware", "tpu-v9", "--count-only"],
        /--hardware tpu-v9: no such file, and not a shipped description/,
      ],
      [["--size", "100", "--count-only"], /image width must be a multiple of 8 of at least 64, got 100/],
      [
        ["-m", fixturePath("models/tiny-sd15-onnx"), "--count-only"],
        /an ONNX pipeline folder cannot be profiled/,
      ],
      [["--device", "nonesuch", "--count-only"], /--device nonesuch: not in this onnxruntime build/],
    ];
    for (const [args, message] of cases) {
      const run = await runSdlite(["profile", ...args], env);
      assert.equal(run.status, 1, describeRun(run));
      assert.match(run.stderr, message);
      assert.equal(run.stderr.trim().split("\n").length, 1, `one line: ${run.stderr}`);
    }
  });
});
