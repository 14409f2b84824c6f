/**
 * GenerationJob: plain JSON that gives the same PNG bytes wherever it runs. A job (init image and
 * all) is serialised, run in a child process and compared byte for byte with the same job run here;
 * the job's own validator refuses malformed jobs with one clear line; the version comes from
 * package.json.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import ts from "typescript";
import { decodePngRgb, readPngText } from "../src/image/png.js";
import * as sdlite from "../src/index.js";
import {
  GENERATION_JOB_VERSION,
  type GenerationJob,
  randomSeed,
  validateGenerationJob,
} from "../src/pipeline/generation-job.js";
import { encodeImage } from "../src/pipeline/job-image.js";
import { InvalidRequestError } from "../src/pipeline/request.js";
import { type GenerationJobResult, runGenerationJob } from "../src/pipeline/run-generation-job.js";
import { PACKAGE_VERSION, SDLITE_VERSION } from "../src/version.js";
import { fixturePath, manifest } from "./helpers/fixtures.js";
import { caseRequest, type PipelineCase, pipelineCase, readFixturePng } from "./helpers/pipeline-cases.js";
import { repoRoot } from "./helpers/sdlite-cli.js";

const work = mkdtempSync(join(tmpdir(), "sdlite-generation-job-"));
after(() => rmSync(work, { recursive: true, force: true }));

/** img2img_euler_8_s0.6 as a job, two iterations: the init image travels inside it. */
function img2imgJob(): GenerationJob {
  const c = pipelineCase("img2img_euler_8_s0.6");
  const { initImage, mask: _mask, ...fields } = caseRequest(c);
  // the fields the case sets (JSON has no undefined)
  const request = Object.fromEntries(
    Object.entries(fields).filter(([, v]) => v !== undefined),
  ) as typeof fields;
  return {
    version: GENERATION_JOB_VERSION,
    model: { path: fixturePath("models", "tiny-sd15") },
    loras: [],
    request: { ...request, batchCount: 2, initImage: encodeImage(initImage!, 3) },
    engine: { runtime: { threads: 1, cache: false } },
  };
}

/** Runs a job in a fresh process (stdin: the job as JSON; stdout: the result as JSON). */
function runInChild(json: string): Promise<GenerationJobResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(repoRoot, "test", "helpers", "job-child.ts")],
      {
        cwd: repoRoot,
        env: { ...process.env, SDLITE_CACHE: join(work, "child-cache") },
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf-8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf-8").on("data", (d: string) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (status) => {
      if (status !== 0) reject(new Error(`the child exited with ${status}: ${stderr}`));
      else resolve(JSON.parse(stdout) as GenerationJobResult);
    });
    child.stdin.end(json);
  });
}

describe("a GenerationJob travels as JSON", () => {
  test("a child process given the job's JSON writes the same PNG bytes and infotexts as this process", async () => {
    const job = img2imgJob();
    const json = JSON.stringify(job);
    assert.deepEqual(JSON.parse(json), job, "nothing in a job is lost by JSON");
    const [here, there] = await Promise.all([runGenerationJob(job), runInChild(json)]);
    const seed = job.request.seed;
    assert.deepEqual(
      here.images.map((i) => i.seed),
      [seed, seed + 1],
    );
    assert.equal(there.images.length, here.images.length);
    here.images.forEach((image, i) => {
      const a = Buffer.from(image.png, "base64");
      const b = Buffer.from(there.images[i].png, "base64");
      let first = -1;
      for (let k = 0; k < Math.min(a.length, b.length) && first < 0; k++) if (a[k] !== b[k]) first = k;
      assert.ok(
        a.equals(b),
        `image ${i} (seed ${image.seed}): ${a.length} vs ${b.length} PNG bytes, first difference at byte ${first}`,
      );
      assert.equal(there.images[i].infotext, image.infotext);
      assert.equal(readPngText(new Uint8Array(a)).parameters, image.infotext, "the PNG carries its infotext");
    });
    // and the image is diffusers' (the fixture), within a level
    const c = pipelineCase("img2img_euler_8_s0.6");
    const want = decodePngRgb(new Uint8Array(readFileSync(fixturePath(c.png)))).image.data;
    const got = decodePngRgb(new Uint8Array(Buffer.from(here.images[0].png, "base64"))).image.data;
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i] - got[i]));
    assert.ok(worst <= 1, `img2img job vs ${c.png}: max ${worst} levels`);
    assert.match(here.images[0].infotext, /Denoising strength: 0\.6, RNG: CPU, Version: sdlite /);
    assert.equal(here.model.name, "tiny-sd15");
    assert.ok(readFixturePng(c.init_image_png!).width > 0);
  });
});

test("library API: a LoRA tag found in a LoRA folder and the same file given outside the prompt make the same PNG; unknown tags are warnings", async () => {
  const dir = join(work, "Lora");
  mkdirSync(dir);
  copyFileSync(fixturePath("lora", "tiny-sd15-kohya.safetensors"), join(dir, "tiny-sd15-kohya.safetensors"));
  const c = manifest().lora.pipeline as PipelineCase;
  const base = {
    version: GENERATION_JOB_VERSION,
    model: { path: fixturePath("models", "tiny-sd15") },
    engine: { runtime: { threads: 1, cache: false } },
  } as const;
  const {
    prompt: _prompt,
    negativePrompt: _n,
    initImage: _i,
    mask: _m,
    strength: _s,
    ...settings
  } = caseRequest(c);
  const tagged = `${c.prompt} <lora:tiny-sd15-kohya:0.7>`;
  const fromTag = sdlite.resolveJobLoras(tagged, new sdlite.LoraCatalog(dir));
  assert.deepEqual(fromTag.warnings, []);
  const fromFile = sdlite.resolveJobLoras(c.prompt, undefined, [
    { path: join(dir, "tiny-sd15-kohya.safetensors"), weight: 0.7 },
  ]);
  const [a, b] = [
    await sdlite.runGenerationJob({
      ...base,
      loras: fromTag.loras,
      request: { ...settings, prompt: tagged },
    }),
    await sdlite.runGenerationJob({
      ...base,
      loras: fromFile.loras,
      request: { ...settings, prompt: c.prompt },
    }),
  ];
  assert.equal(
    a.images[0].infotext,
    b.images[0].infotext,
    "a file outside the prompt gets its tag in the infotext",
  );
  assert.ok(
    Buffer.from(a.images[0].png, "base64").equals(Buffer.from(b.images[0].png, "base64")),
    "same PNG bytes",
  );
  assert.match(
    a.images[0].infotext,
    /^a photo of a cat <lora:tiny-sd15-kohya:0\.7>\n.*Lora hashes: "tiny-sd15-kohya: [0-9a-f]{12}"/s,
  );
  const want = decodePngRgb(new Uint8Array(readFileSync(fixturePath(c.png)))).image.data;
  const got = decodePngRgb(new Uint8Array(Buffer.from(a.images[0].png, "base64"))).image.data;
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i] - got[i]));
  assert.ok(worst <= 1, `LoRA job vs ${c.png}: max ${worst} levels`);

  const missing = sdlite.resolveJobLoras(
    "<lora:nope:1> <hypernet:h:1> <lora:tiny-sd15-kohya:0.5:0.2> x",
    new sdlite.LoraCatalog(dir),
  );
  assert.deepEqual(missing.warnings, [
    `LoRA "nope" not found in ${dir}; generated without it`,
    'LoRA "tiny-sd15-kohya": separate text-encoder and UNet weights are not supported; 0.5 used for both',
    '<hypernet:h:1> removed from the prompt: "hypernet" networks are not supported',
  ]);
  assert.deepEqual(
    missing.loras.map((l) => [l.name, l.weight, l.inPrompt]),
    [["tiny-sd15-kohya", 0.5, true]],
  );
});

describe("validateGenerationJob", () => {
  const refuses = (change: (job: Record<string, unknown>) => void, pattern: RegExp) => {
    const job = JSON.parse(JSON.stringify(img2imgJob())) as Record<string, unknown>;
    change(job);
    assert.throws(
      () => validateGenerationJob(job),
      (err: unknown) => {
        assert.ok(err instanceof InvalidRequestError, String(err));
        assert.match(err.message, pattern);
        assert.ok(!err.message.includes("\n"), "one line");
        return true;
      },
    );
  };

  test("accepts a job as JSON gives it back", () => {
    const job = JSON.parse(JSON.stringify(img2imgJob()));
    assert.equal(validateGenerationJob(job), job);
  });

  test("refuses another version, unknown or wrong engine settings, broken images and requests", () => {
    refuses((j) => {
      j.version = 2;
    }, /generation job version 2 is not supported \(this sdlite reads version 1\)/);
    refuses((j) => {
      (j.engine as Record<string, unknown>).deepCash = 3;
    }, /unknown engine setting "deepCash"/);
    refuses((j) => {
      (j.engine as Record<string, unknown>).speed = { unetQuantization: "int4" };
    }, /engine setting speed.unetQuantization must be one of "none", "int8-linear", "int8", got "int4"/);
    refuses((j) => {
      (j.engine as Record<string, unknown>).memory = { lowMemory: 1 };
    }, /engine setting memory.lowMemory must be true or false, got 1/);
    refuses((j) => {
      (j.engine as Record<string, Record<string, unknown>>).runtime.thread = 2;
    }, /unknown engine setting "runtime.thread" \(known: executionProviders, threads, cache\)/);
    refuses((j) => {
      (j.engine as Record<string, unknown>).speed = { decoder: "taesd" };
    }, /speed.decoder "taesd" needs TAESD weights/);
    refuses((j) => {
      const request = j.request as { initImage: { data: string } };
      request.initImage.data = request.initImage.data.slice(8);
    }, /init image: data holds \d+ bytes, expected 64x64x3 = 12288/);
    refuses((j) => {
      (j.request as Record<string, unknown>).steps = 0;
    }, /steps must be an integer from 1 to 1000, got 0/);
    refuses((j) => {
      (j.request as Record<string, unknown>).prompt = "a cat <lora:x:heavy>";
    }, /prompt: <lora:x:heavy>: the weight "heavy" is not a number/);
    refuses((j) => {
      j.loras = [{ path: "x.safetensors", weight: "1", name: "x", inPrompt: false }];
    }, /job loras\[0\] weight must be a number/);
    refuses((j) => {
      j.model = { name: "m" };
    }, /job model path must be a non-empty string/);
  });
});

test("the version comes from package.json, under tsx and compiled to dist/src; random seeds are A1111's range", async () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf-8"));
  assert.equal(PACKAGE_VERSION, pkg.version);
  assert.equal(SDLITE_VERSION, `sdlite ${pkg.version}`);
  // compiled as tsc lays it out (dist/src/version.js), in a package of another version
  const pkgDir = join(work, "installed");
  mkdirSync(join(pkgDir, "dist", "src"), { recursive: true });
  writeFileSync(
    join(pkgDir, "package.json"),
    JSON.stringify({ name: "sdlite", version: "9.8.7", type: "module" }),
  );
  const source = readFileSync(join(repoRoot, "src", "version.ts"), "utf-8");
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  writeFileSync(join(pkgDir, "dist", "src", "version.js"), outputText);
  const compiled = await import(pathToFileURL(join(pkgDir, "dist", "src", "version.js")).href);
  assert.equal(compiled.SDLITE_VERSION, "sdlite 9.8.7");
  for (let i = 0; i < 100; i++) {
    const seed = randomSeed();
    assert.ok(Number.isInteger(seed) && seed >= 0 && seed < 4294967294, `seed ${seed}`);
  }
});
