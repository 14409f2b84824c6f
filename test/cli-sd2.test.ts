/**
 * SD 2.x from the command line: an SD-Turbo single file (named so, as stabilityai/sd-turbo's
 * sd_turbo.safetensors is) runs with Turbo's defaults — Euler on SD-Turbo's trailing schedule,
 * 1 step, no CFG, 512x512 — and reproduces diffusers' 1- and 4-step Turbo cases; per-model
 * defaults for Turbo folders and 768-v models.
 */
import assert from "node:assert/strict";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { GENERIC_DEFAULTS, resolveModel, SD_TURBO_DEFAULTS } from "../src/cli/resolve-model.js";
import { toRgb } from "../src/image/color.js";
import { parseInfotext, recordFromInfotext } from "../src/image/infotext.js";
import { decodePng } from "../src/image/png.js";
import { fixturePath } from "./helpers/fixtures.js";
import {
  SD2_FOLDER,
  SD2_SINGLE_FILE,
  sd2Manifest,
  sd2Path,
  TINY_SD2_OVERRIDES,
} from "./helpers/sd2-fixtures.js";
import { describeRun, runSdlite } from "./helpers/sdlite-cli.js";

/** A spawned run reproduces a fixture PNG within this many levels (as in cli-generate.test.ts). */
const MAX_LEVELS = 2;
const dir = mkdtempSync(join(tmpdir(), "sdlite-cli-sd2-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const env = {
  SDLITE_CACHE: join(dir, "graphs"),
  HF_HOME: join(dir, "hf"),
  HF_HUB_OFFLINE: "1",
  HF_TOKEN: "",
};

/** The tiny SD2 single file under a Turbo name, with what its shapes cannot tell beside it. */
function turboFile(): string {
  const file = join(dir, "tiny-sd-turbo.safetensors");
  copyFileSync(SD2_SINGLE_FILE, file);
  writeFileSync(`${file}.sdlite.json`, JSON.stringify(TINY_SD2_OVERRIDES));
  return file;
}

function pipelineCase(id: string) {
  const c = sd2Manifest().pipelines.cases.find((x: { id: string }) => x.id === id);
  assert.ok(c, `SD2 fixture case ${id}`);
  return c;
}

function maxLevels(actual: Uint8Array | Uint8ClampedArray, expected: Uint8Array | Uint8ClampedArray): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  return worst;
}

describe("sdlite generate with SD 2.x", () => {
  const file = turboFile();
  for (const [id, extra] of [
    ["turbo_euler_trailing_1", []],
    ["turbo_euler_trailing_4", ["--steps", "4"]],
  ] as const) {
    test(`SD-Turbo single file, its defaults${extra.length ? ` and ${extra.join(" ")}` : ""}: diffusers' ${id}`, async () => {
      const c = pipelineCase(id);
      const out = join(dir, `out-${id}`);
      const run = await runSdlite(
        [
          "generate",
          c.prompt,
          "-m",
          file,
          "--seed",
          String(c.seed),
          "-W",
          "64",
          "-H",
          "64",
          ...extra,
          "--threads",
          "1",
          "--json",
          "-o",
          out,
        ],
        env,
      );
      assert.equal(run.status, 0, describeRun(run));
      const [png] = JSON.parse(run.stdout).files as string[];
      const decoded = decodePng(new Uint8Array(readFileSync(png)));
      const expected = toRgb(decodePng(new Uint8Array(readFileSync(sd2Path(c.png)))));
      const worst = maxLevels(toRgb(decoded).data, expected.data);
      console.log(`# ${id} from the CLI: max ${worst} level(s)`);
      assert.ok(worst <= MAX_LEVELS, `${id}: the CLI's PNG differs from diffusers' by ${worst} levels`);
      const record = recordFromInfotext(parseInfotext(decoded.text.parameters));
      assert.equal(record.sampler, "Euler");
      assert.equal(record.steps, c.steps);
      assert.equal(record.cfgScale, SD_TURBO_DEFAULTS.cfg);
      assert.equal(record.model, "tiny-sd-turbo");
    });
  }
});

test("--fast on SD-Turbo (int8, DeepCache 3, TAESD given as a folder): runs, and says so in --json and the infotext", async () => {
  const out = join(dir, "out-fast");
  const run = await runSdlite(
    [
      "generate",
      "a photo of a cat",
      "-m",
      turboFile(),
      "--fast",
      "--taesd",
      fixturePath("models", "tiny-taesd"),
      "--seed",
      "42",
      "-W",
      "64",
      "-H",
      "64",
      "--threads",
      "1",
      "--json",
      "-o",
      out,
    ],
    env,
  );
  assert.equal(run.status, 0, describeRun(run));
  const doc = JSON.parse(run.stdout);
  assert.deepEqual(
    [doc.engine.decoder, doc.engine.deepCacheInterval, doc.engine.unetQuantization],
    ["taesd", 3, "int8"],
    JSON.stringify(doc.engine),
  );
  const text = decodePng(new Uint8Array(readFileSync(doc.files[0]))).text.parameters;
  assert.match(text, /Steps: 1, Sampler: Euler/);
  assert.match(text, /UNet quantization: int8/);
});

test("sdlite bench -m on an SD-Turbo file times its own 1-step Euler image", async () => {
  const json = join(dir, "bench.json");
  const run = await runSdlite(
    [
      "bench",
      "-m",
      turboFile(),
      "--stages",
      "image",
      "--size",
      "64",
      "--runs",
      "1",
      "--threads",
      "1",
      "--bench-dir",
      join(dir, "bench"),
      "--json",
      json,
    ],
    env,
  );
  assert.equal(run.status, 0, describeRun(run));
  const result = JSON.parse(readFileSync(json, "utf-8"));
  assert.deepEqual(
    {
      sampler: result.plan.image.sampler,
      steps: result.plan.image.steps,
      guidance: result.plan.image.guidance,
    },
    { sampler: "Euler", steps: 1, guidance: 1 },
  );
  const image = result.stages.find(
    (s: { stage: string; variant: string }) => s.stage === "image" && s.variant === "timed",
  );
  assert.equal(image.outcome.runs[0].networks.unet.calls, 1, "one UNet call per image");
  assert.match(run.stdout, /image/);
});

test("per-model defaults: Turbo by file name or by its scheduler config, 768x768 for 768-v models, A1111's otherwise", async () => {
  // a folder like stabilityai/sd-turbo: SD 2.1's components, SD-Turbo's Euler/trailing scheduler config
  const turboFolder = join(dir, "tiny-turbo-folder");
  mkdirSync(join(turboFolder, "scheduler"), { recursive: true });
  for (const part of ["model_index.json", "unet", "vae", "text_encoder", "tokenizer"]) {
    symlinkSync(join(SD2_FOLDER, part), join(turboFolder, part));
  }
  copyFileSync(
    sd2Path("scheduler_configs", "sd-turbo-epsilon-trailing.json"),
    join(turboFolder, "scheduler", "scheduler_config.json"),
  );
  assert.deepEqual((await resolveModel(turboFolder)).defaults, SD_TURBO_DEFAULTS);
  assert.deepEqual((await resolveModel(turboFile())).defaults, SD_TURBO_DEFAULTS);
  assert.deepEqual((await resolveModel(SD2_FOLDER)).defaults, GENERIC_DEFAULTS);

  // a single file that predicts v (told by --config, here in code) is a 768-v model
  const plain = join(dir, "tiny-sd2.safetensors");
  copyFileSync(SD2_SINGLE_FILE, plain);
  writeFileSync(`${plain}.sdlite.json`, JSON.stringify(TINY_SD2_OVERRIDES));
  assert.deepEqual((await resolveModel(plain)).defaults, GENERIC_DEFAULTS);
  const v = await resolveModel(plain, { overrides: { scheduler: { predictionType: "v_prediction" } } });
  assert.deepEqual(v.defaults, { ...GENERIC_DEFAULTS, width: 768, height: 768 });
  // SD1 models keep A1111's defaults
  assert.deepEqual((await resolveModel(fixturePath("models", "tiny-sd15"))).defaults, GENERIC_DEFAULTS);
});
