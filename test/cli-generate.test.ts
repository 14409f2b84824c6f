/**
 * `sdlite generate` end to end, spawned as a process: the pipeline fixtures reproduced from the
 * command line (images within 2 levels, infotexts that parse back to the settings used), output
 * files, --json, progress lines, and the one-line errors.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, describe, test } from "node:test";
import { toRgb } from "../src/image/color.js";
import { parseInfotext, recordFromInfotext } from "../src/image/infotext.js";
import { modelShortHash } from "../src/image/model-hash.js";
import { decodePng, decodePngRgb, encodePng } from "../src/image/png.js";
import { sha256File } from "../src/image/sha256-file.js";
import type { RgbImage } from "../src/image/types.js";
import { resolveSampler } from "../src/schedulers/registry.js";
import { SafetensorsFile } from "../src/weights/formats/safetensors.js";
import { writeSafetensors } from "../src/weights/formats/safetensors-writer.js";
import { safetensorsDataSha256 } from "./helpers/addnet-hash.js";
import { fixturePath, manifest } from "./helpers/fixtures.js";
import { type CliRun, describeRun, runSdlite } from "./helpers/sdlite-cli.js";
import { TINY_OVERRIDES } from "./helpers/tiny-configs.js";

// biome-ignore lint/suspicious/noExplicitAny: manifest JSON
type PipelineCase = any;

const TINY = fixturePath("models", "tiny-sd15");
const TINY_INPAINT = fixturePath("models", "tiny-sd15-inpaint");
const KOHYA_LORA = fixturePath("lora", "tiny-sd15-kohya.safetensors");
/** A spawned run reproduces a fixture PNG within this many levels (the library test gets ≤ 1). */
const MAX_LEVELS = 2;

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A folder of its own per test: graph cache, HF home (offline) and outputs. */
function workspace() {
  const dir = mkdtempSync(join(tmpdir(), "sdlite-cli-generate-"));
  tempDirs.push(dir);
  return {
    dir,
    out: join(dir, "outputs"),
    env: { SDLITE_CACHE: join(dir, "graphs"), HF_HOME: join(dir, "hf"), HF_HUB_OFFLINE: "1", HF_TOKEN: "" },
  };
}

function pipelineCase(id: string): PipelineCase {
  const c = manifest().pipelines.cases.find((x: PipelineCase) => x.id === id);
  assert.ok(c, `fixture case ${id} exists`);
  return c;
}

/** Command-line arguments that ask for a fixture case. */
function caseArgs(c: PipelineCase, { size = true } = {}): string[] {
  const args = [c.prompt, "--sampler", c.sampler, "--steps", String(c.steps), "--cfg", String(c.guidance)];
  args.push("--seed", String(c.seed));
  if (size) args.push("-W", String(c.width), "-H", String(c.height));
  if (c.negative_prompt) args.push("--negative", c.negative_prompt);
  if (c.init_image_png)
    args.push("--init-image", fixturePath(c.init_image_png), "--strength", String(c.strength));
  if (c.mask_png) args.push("--mask", fixturePath(c.mask_png));
  return args;
}

interface JsonResult {
  files: string[];
  seeds: number[];
  infotexts: string[];
  model: { name: string; path: string; repo?: string };
  engine: Record<string, unknown>;
  timings: Record<string, unknown>;
}

async function generateJson(args: string[], ws: ReturnType<typeof workspace>) {
  const run = await runSdlite(["generate", ...args, "--json", "--threads", "1", "-o", ws.out], ws.env);
  assert.equal(run.status, 0, describeRun(run));
  let doc: JsonResult;
  try {
    doc = JSON.parse(run.stdout);
  } catch {
    assert.fail(`stdout is not one JSON object:\n${run.stdout}`);
  }
  return { run, doc };
}

function readPng(path: string) {
  const png = decodePng(new Uint8Array(readFileSync(path)));
  return { image: toRgb(png), text: png.text };
}

/** Largest per-channel difference in levels; the images must have the same size. */
function maxLevelDiff(actual: RgbImage, expected: RgbImage, label: string): number {
  assert.deepEqual([actual.width, actual.height], [expected.width, expected.height], `${label}: image size`);
  let worst = 0;
  let where = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const d = Math.abs(actual.data[i] - expected.data[i]);
    if (d > worst) [worst, where] = [d, i];
  }
  const px = Math.floor(where / 3);
  console.log(
    `# ${label}: max ${worst} level(s) at x=${px % expected.width} y=${Math.floor(px / expected.width)} channel ${where % 3}`,
  );
  return worst;
}

/** The written PNG matches the fixture PNG, and its infotext reads back as the settings used. */
function checkAgainstFixture(file: string, c: PipelineCase, expected: Record<string, unknown>) {
  const { image, text } = readPng(file);
  const worst = maxLevelDiff(image, readPng(fixturePath(c.png)).image, c.id);
  assert.ok(worst <= MAX_LEVELS, `${c.id}: the CLI's PNG differs from the fixture by ${worst} levels`);
  assert.ok(text.parameters, `${c.id}: PNG has a "parameters" text chunk`);
  const record = recordFromInfotext(parseInfotext(text.parameters));
  const sampler = resolveSampler(c.sampler);
  assert.deepEqual(
    record,
    {
      prompt: c.prompt,
      ...(c.negative_prompt ? { negativePrompt: c.negative_prompt } : {}),
      steps: c.steps,
      sampler: sampler.sampler,
      ...(sampler.karras ? { scheduleType: "Karras" } : {}),
      cfgScale: c.guidance,
      seed: c.seed,
      width: c.width,
      height: c.height,
      model: "tiny-sd15",
      rng: "CPU",
      version: "sdlite 0.1.0",
      ...expected,
    },
    `${c.id}: infotext of ${file}`,
  );
  return text.parameters;
}

function assertOneLineError(run: CliRun, pattern: RegExp) {
  assert.equal(run.status, 1, describeRun(run));
  assert.equal(run.stdout, "", "nothing on stdout");
  const lines = run.stderr.trimEnd().split("\n");
  const last = lines.at(-1) ?? "";
  assert.match(last, /^(sdlite: |error: )/, `the error is the last stderr line:\n${run.stderr}`);
  assert.match(last, pattern);
  assert.ok(!/\n\s+at /.test(run.stderr), `no stack trace:\n${run.stderr}`);
}

describe("sdlite generate reproduces the pipeline fixtures", () => {
  test("txt2img Euler a 4 steps: image, infotext, --json shape and progress lines; the fp16 single file with --config gives the same image and never overwrites", async () => {
    const ws = workspace();
    const c = pipelineCase("txt2img_euler_a_4");
    const { run, doc } = await generateJson(["-m", TINY, ...caseArgs(c)], ws);
    assert.deepEqual(Object.keys(doc).sort(), ["engine", "files", "infotexts", "model", "seeds", "timings"]);
    // what actually ran: without speed options, the exact path (full VAE, whole UNet each step, fp32)
    assert.deepEqual(doc.engine, { decoder: "vae", deepCacheInterval: 1, unetQuantization: "none" });
    assert.deepEqual(doc.seeds, [42]);
    assert.equal(doc.files.length, 1);
    assert.equal(basename(doc.files[0]), "00000-42.png");
    assert.deepEqual(doc.model, { name: "tiny-sd15", path: TINY });
    for (const key of ["resolveModelMs", "loadMs", "generateMs", "totalMs", "stepsPerSecond"]) {
      assert.equal(typeof doc.timings[key], "number", `timings.${key}`);
    }
    assert.equal(doc.timings.denoiseSteps, 4);
    assert.deepEqual(Object.keys(doc.timings.stagesMs as object).sort(), [
      "decode",
      "denoise",
      "encode-prompt",
    ]);
    // where the process's time went: each network's session, and the time before the first step
    const startup = doc.timings.startup as {
      sessions: { network: string; createMs: number; runs: number }[];
      beforeFirstStepMs: number;
      processMs: number;
    };
    assert.deepEqual(
      startup.sessions.map((s) => [s.network, s.runs]),
      [
        ["text_encoder", 2], // the prompt and the (empty) negative prompt
        ["unet", 4],
        ["vae_decoder", 1],
      ],
    );
    assert.ok(startup.beforeFirstStepMs > 0 && startup.beforeFirstStepMs < startup.processMs);
    const infotext = checkAgainstFixture(doc.files[0], c, {});
    assert.deepEqual(doc.infotexts, [infotext]);
    // not a terminal: plain progress lines on stderr, one per step
    const steps = run.stderr.split("\n").filter((l) => l.startsWith("step "));
    assert.deepEqual(
      steps.map((l) => l.split(",")[0]),
      ["step 1/4", "step 2/4", "step 3/4", "step 4/4"],
      run.stderr,
    );
    assert.match(steps[3], /^step 4\/4, [\d.]+ (it\/s|s\/it), ETA /);
    for (const stage of ["loading tiny-sd15", "encoding prompt", "decoding"]) {
      assert.ok(run.stderr.split("\n").includes(stage), `stderr has "${stage}":\n${run.stderr}`);
    }

    // the same model as an LDM single file in fp16, its architecture details from --config
    const single = fixturePath("single_file", "tiny-sd15-fp16.safetensors");
    const config = join(ws.dir, "tiny.json");
    writeFileSync(config, JSON.stringify(TINY_OVERRIDES));
    const file = await generateJson(["-m", single, "--config", config, ...caseArgs(c)], ws);
    // never overwrite: the second image with the same seed gets the next number
    assert.deepEqual(readdirSync(ws.out).sort(), ["00000-42.png", "00001-42.png"]);
    assert.equal(basename(file.doc.files[0]), "00001-42.png");
    const a = readPng(doc.files[0]);
    const b = readPng(file.doc.files[0]);
    assert.equal(maxLevelDiff(b.image, a.image, "fp16 single file vs diffusers folder"), 0);
    const record = recordFromInfotext(parseInfotext(b.text.parameters));
    assert.equal(record.model, "tiny-sd15-fp16");
    assert.equal(record.modelHash, modelShortHash(await sha256File(single)), "AutoV2 hash of the file");
    const hashes = JSON.parse(readFileSync(join(ws.env.SDLITE_CACHE, "hashes.json"), "utf-8"));
    assert.equal(hashes.sha256[single].sha256, await sha256File(single), "kept for the next run");
    assert.equal(
      recordFromInfotext(parseInfotext(a.text.parameters)).modelHash,
      undefined,
      "folders have none",
    );
  });

  test("txt2img DPM++ 2M Karras 8 steps; with the graphs stored, the UNet loads in a worker thread (SDLITE_UNET_WORKER=0: here) and the image is the same", async () => {
    const c = pipelineCase("txt2img_dpmpp_2m_karras_8");
    const ws = workspace();
    const inThread = { ...ws, env: { ...ws.env, SDLITE_UNET_WORKER: "0" } };
    const byDefault = { ...ws, env: { ...ws.env, SDLITE_UNET_WORKER: undefined } };
    const cold = await generateJson(["-m", TINY, ...caseArgs(c)], byDefault);
    checkAgainstFixture(cold.doc.files[0], c, {});
    type Startup = { sessions: { network: string; thread: string; createdAtMs: number }[] };
    const unetOf = (doc: JsonResult) => {
      const sessions = (doc.timings.startup as Startup).sessions;
      const unet = sessions.find((s) => s.network === "unet");
      const textEncoder = sessions.find((s) => s.network === "text_encoder");
      assert.ok(unet && textEncoder, JSON.stringify(sessions));
      return { thread: unet.thread, beforeTextEncoder: unet.createdAtMs < textEncoder.createdAtMs };
    };
    // a cold cache builds the UNet's graph after the prompt is encoded, then loads it in the worker
    assert.deepEqual(unetOf(cold.doc), { thread: "worker", beforeTextEncoder: false });
    const warm = await generateJson(["-m", TINY, ...caseArgs(c)], byDefault);
    assert.deepEqual(unetOf(warm.doc), { thread: "worker", beforeTextEncoder: true });
    const here = await generateJson(["-m", TINY, ...caseArgs(c)], inThread);
    assert.deepEqual(unetOf(here.doc), { thread: "main", beforeTextEncoder: false });
    const pixels = (file: string) => readPng(file).image.data;
    assert.deepEqual(pixels(warm.doc.files[0]), pixels(cold.doc.files[0]));
    assert.deepEqual(pixels(here.doc.files[0]), pixels(cold.doc.files[0]));
  });

  test("--scheduler apart from the sampler: DPM++ 2M + Karras (or --schedule-type) is the DPM++ 2M Karras fixture; Euler a + Exponential is written as A1111 does", async () => {
    const c = pipelineCase("txt2img_dpmpp_2m_karras_8");
    assert.equal(c.sampler, "DPM++ 2M Karras");
    const split = caseArgs(c).map((a) => (a === c.sampler ? "DPM++ 2M" : a));
    const a = await generateJson(["-m", TINY, ...split, "--scheduler", "Karras"], workspace());
    checkAgainstFixture(a.doc.files[0], c, {});
    const b = await generateJson(["-m", TINY, ...split, "--schedule-type", "karras"], workspace());
    checkAgainstFixture(b.doc.files[0], c, {});
    const args = [
      "-m",
      TINY,
      "a cat",
      "--seed",
      "3",
      "-W",
      "64",
      "-H",
      "64",
      "--steps",
      "3",
      "--sampler",
      "Euler a",
    ];
    const exp = await generateJson([...args, "--scheduler", "exponential"], workspace());
    assert.match(exp.doc.infotexts[0], /Steps: 3, Sampler: Euler a, Schedule type: Exponential, CFG scale/);
    const auto = await generateJson(args, workspace());
    assert.doesNotMatch(auto.doc.infotexts[0], /Schedule type/, "Automatic is not written");
    assert.notDeepEqual(
      readPng(exp.doc.files[0]).image.data,
      readPng(auto.doc.files[0]).image.data,
      "the schedule changes the image",
    );
  });

  test("--help lists every schedule type and the --schedule-type alias", async () => {
    const run = await runSdlite(["generate", "--help"], {});
    assert.equal(run.status, 0, describeRun(run));
    const help = run.stdout.replace(/\s+/g, " ");
    assert.match(help, /--scheduler <name>/);
    assert.match(help, /--schedule-type <name> same as --scheduler/);
    assert.match(
      help,
      /Automatic, Uniform, Karras, Exponential, Polyexponential, SGM Uniform, KL Optimal, Align Your Steps, Simple, Normal, DDIM, Beta/,
    );
  });

  test("speed flags: --deep-cache 1 --quantize none --weight-storage fp16 is the plain run (the tiny model's weights are fp16 values); --deep-cache 2 --quantize int8 runs and stays close", async () => {
    const c = pipelineCase("txt2img_dpmpp_2m_karras_8");
    const plain = await generateJson(
      ["-m", TINY, ...caseArgs(c), "--deep-cache", "1", "--quantize", "none", "--weight-storage", "fp16"],
      workspace(),
    );
    checkAgainstFixture(plain.doc.files[0], c, {});
    const fast = await generateJson(
      ["-m", TINY, ...caseArgs(c), "--deep-cache", "2", "--quantize", "int8"],
      workspace(),
    );
    const a = decodePngRgb(new Uint8Array(readFileSync(plain.doc.files[0]))).image.data;
    const b = decodePngRgb(new Uint8Array(readFileSync(fast.doc.files[0]))).image.data;
    let sq = 0;
    for (let i = 0; i < a.length; i++) sq += (a[i] - b[i]) ** 2;
    const psnr = 10 * Math.log10((255 * 255) / Math.max(sq / a.length, 1e-12));
    assert.ok(psnr > 30 && psnr < 200, `int8 + DeepCache PSNR vs fp32 ${psnr.toFixed(1)} dB`);
  });

  test("--conv-algorithm winograd-f4-shallow: Winograd UNet convs reproduce the fixture; an unknown algorithm is refused", async () => {
    const c = pipelineCase("txt2img_dpmpp_2m_karras_8");
    const { doc } = await generateJson(
      ["-m", TINY, ...caseArgs(c), "--conv-algorithm", "winograd-f4-shallow"],
      workspace(),
    );
    checkAgainstFixture(doc.files[0], c, {});
    const bad = await runSdlite(["generate", "-m", TINY, "x", "--conv-algorithm", "fft"], workspace().env);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--conv-algorithm.*fft|fft.*--conv-algorithm/);
  });

  test("img2img Euler 8 steps, strength 0.6, size taken from the init image", async () => {
    const c = pipelineCase("img2img_euler_8_s0.6");
    const { doc } = await generateJson(["-m", TINY, ...caseArgs(c, { size: false })], workspace());
    checkAgainstFixture(doc.files[0], c, { denoisingStrength: 0.6 });
  });

  test("inpainting with the 9-channel model (init + mask PNGs)", async () => {
    const c = pipelineCase("inpaint_ddim_8");
    const { doc } = await generateJson(["-m", TINY_INPAINT, ...caseArgs(c)], workspace());
    checkAgainstFixture(doc.files[0], c, { model: "tiny-sd15-inpaint", denoisingStrength: 1 });
  });

  test("kohya LoRA at 0.7; `sdlite info` prints the PNG's parameters", async () => {
    const ws = workspace();
    const c = manifest().lora.pipeline;
    const { run, doc } = await generateJson(["-m", TINY, ...caseArgs(c), "--lora", `${KOHYA_LORA}:0.7`], ws);
    assert.ok(!run.stderr.includes("warning"), `a LoRA that fits has no warning:\n${run.stderr}`);
    const addnet = await safetensorsDataSha256(KOHYA_LORA);
    const infotext = checkAgainstFixture(doc.files[0], c, {
      prompt: `${c.prompt} <lora:tiny-sd15-kohya:0.7>`,
      loraHashes: [{ name: "tiny-sd15-kohya", hash: addnet.slice(0, 12) }],
    });
    const info = await runSdlite(["info", doc.files[0]], ws.env);
    assert.equal(info.status, 0, describeRun(info));
    const shown = JSON.parse(info.stdout);
    assert.equal(shown.raw, infotext);
    assert.equal(shown.prompt, `${c.prompt} <lora:tiny-sd15-kohya:0.7>`);
    assert.deepEqual(shown.parameters, parseInfotext(infotext).parameters);
    assert.equal(shown.parameters["Lora hashes"], `tiny-sd15-kohya: ${addnet.slice(0, 12)}`);
    assert.equal(shown.parameters.Seed, 42);
  });
});

describe("sdlite generate output", () => {
  test("batch size 2 × batch count 2 → 4 files, seeds s..s+3; an unmatched LoRA key is a warning", async () => {
    const ws = workspace();
    // one module that fits the model, one that does not
    const source = SafetensorsFile.open(KOHYA_LORA);
    const fits = source.names().filter((n) => n.startsWith("lora_te_text_model_encoder_layers_0_mlp_fc1."));
    const tensors = fits.flatMap((n) =>
      [n, n.replace("lora_te_text_model_encoder_layers_0_mlp_fc1", "lora_unet_no_such_block")].map(
        (name) => ({
          name,
          dtype: "F32" as const,
          shape: source.info(n).shape,
          data: source.readF32(n),
        }),
      ),
    );
    source.close();
    const lora = join(ws.dir, "half-fits.safetensors");
    writeSafetensors(lora, tensors);
    const args = ["a photo of a cat", "-m", TINY, "--steps", "2", "-W", "64", "-H", "64", "--seed", "100"];
    const { run, doc } = await generateJson(
      [...args, "--batch-size", "2", "--batch-count", "2", "--lora", lora],
      ws,
    );
    assert.deepEqual(doc.seeds, [100, 101, 102, 103]);
    assert.deepEqual(
      doc.files.map((f) => basename(f)),
      ["00000-100.png", "00001-101.png", "00002-102.png", "00003-103.png"],
    );
    assert.deepEqual(
      readdirSync(ws.out).sort(),
      doc.files.map((f) => basename(f)),
    );
    doc.files.forEach((f, i) => {
      const record = recordFromInfotext(parseInfotext(readPng(f).text.parameters));
      assert.equal(record.seed, 100 + i);
      assert.deepEqual(
        record.loraHashes?.map((h) => h.name),
        ["half-fits"],
      );
    });
    const warning = run.stderr.split("\n").find((l) => l.startsWith("warning:"));
    assert.ok(warning, `a warning about the unmatched keys:\n${run.stderr}`);
    assert.match(warning, /3 key\(s\) of LoRA half-fits\.safetensors match nothing/);
    assert.match(warning, /lora_unet_no_such_block\.alpha/);
    assert.match(run.stderr, /^decoding \(batch 2\/2\)$/m);
  });

  test("no seed: a random one, printed; an init image of another size is resized to a multiple of 8", async () => {
    const ws = workspace();
    const init = join(ws.dir, "init-67x70.png");
    const data = new Uint8Array(67 * 70 * 3).map((_, i) => (i * 7) % 256);
    writeFileSync(init, encodePng({ width: 67, height: 70, channels: 3, data }));
    const run = await runSdlite(
      ["generate", "a watercolor landscape", "-m", TINY, "--steps", "2", "--init-image", init, "-o", ws.out],
      ws.env,
    );
    assert.equal(run.status, 0, describeRun(run));
    const seed = Number(/^seed (\d+) \(random\)$/m.exec(run.stderr)?.[1]);
    assert.ok(Number.isInteger(seed), `random seed printed:\n${run.stderr}`);
    const saved = /^saved (.+) \(seed (\d+)\)$/m.exec(run.stdout);
    assert.ok(saved, `stdout names the file:\n${run.stdout}`);
    assert.equal(Number(saved[2]), seed);
    assert.equal(basename(saved[1]), `00000-${seed}.png`);
    const { image, text } = readPng(saved[1]);
    assert.deepEqual([image.width, image.height], [64, 64]);
    const record = recordFromInfotext(parseInfotext(text.parameters));
    assert.equal(record.seed, seed);
    assert.deepEqual([record.width, record.height, record.denoisingStrength], [64, 64, 0.75]);
  });
});

test("Ctrl-C stops a run at the next step: exit 130, no half-made files", async () => {
  const ws = workspace();
  const args = ["generate", "a cat", "-m", TINY, "-W", "64", "-H", "64", "--steps", "1000", "--seed", "1"];
  const run = await runSdlite([...args, "-o", ws.out], ws.env, {
    signalWhen: { pattern: /^step 2\/1000/m, signal: "SIGINT" },
  });
  assert.equal(run.status, 130, describeRun(run));
  assert.equal(run.stdout, "");
  assert.match(run.stderr, /^interrupted: stopping after the current step/m);
  assert.match(run.stderr, /\nsdlite: interrupted; 0 images were saved\n$/);
  const steps = run.stderr.split("\n").filter((l) => l.startsWith("step ")).length;
  assert.ok(steps < 1000, `stopped early (${steps} steps)`);
  assert.ok(!existsSync(ws.out), "no output files");
});

describe("sdlite generate errors: exit 1, one clear line", () => {
  const base = ["generate", "a cat", "--seed", "1", "-W", "64", "-H", "64", "--steps", "2"];

  test("unknown sampler lists the choices", async () => {
    const ws = workspace();
    const run = await runSdlite([...base, "-m", TINY, "--sampler", "Euler b", "-o", ws.out], ws.env);
    assertOneLineError(
      run,
      /unknown sampler "Euler b"; valid choices: Euler a, Euler, .*DPM\+\+ 2M Karras.*LCM/,
    );
  });

  test("a schedule type the sampler cannot take, or an unknown one", async () => {
    const ws = workspace();
    const ddim = await runSdlite(
      [...base, "-m", TINY, "--sampler", "DDIM", "--scheduler", "Karras", "-o", ws.out],
      ws.env,
    );
    assertOneLineError(ddim, /sampler "DDIM" has no Karras schedule: it steps through its own timesteps/);
    const unknown = await runSdlite([...base, "-m", TINY, "--scheduler", "cosine", "-o", ws.out], ws.env);
    assertOneLineError(unknown, /unknown schedule type "cosine"; valid choices: Automatic, Uniform, Karras/);
    // without -m the default model's sampler is LCM: refused before any download
    const lcm = await runSdlite([...base, "--scheduler", "Beta", "-o", ws.out], ws.env);
    assertOneLineError(lcm, /sampler "LCM" has no Beta schedule/);
  });

  test("a size that is not a multiple of 8", async () => {
    const ws = workspace();
    const run = await runSdlite([...base, "-m", TINY, "-W", "100", "-o", ws.out], ws.env);
    assertOneLineError(run, /width must be a multiple of 8, got 100 \(try 104\)/);
  });

  test("a model path that does not exist", async () => {
    const ws = workspace();
    const missing = join(ws.dir, "no-such-model.safetensors");
    const run = await runSdlite([...base, "-m", missing, "-o", ws.out], ws.env);
    assertOneLineError(run, /no-such-model\.safetensors: no such file or folder/);
  });

  test("strength out of range", async () => {
    const ws = workspace();
    const init = fixturePath("pipelines", "img2img_euler_8_s0.6_init.png");
    const run = await runSdlite(
      [...base, "-m", TINY, "--init-image", init, "--strength", "1.5", "-o", ws.out],
      ws.env,
    );
    assertOneLineError(run, /strength must be in \(0, 1\], got 1\.5/);
  });

  test("a corrupt model file", async () => {
    const ws = workspace();
    const corrupt = join(ws.dir, "broken.safetensors");
    // a valid start of the real file, cut off: the header promises tensors that are not there
    const bytes = readFileSync(fixturePath("single_file", "tiny-sd15-fp16.safetensors"));
    writeFileSync(corrupt, bytes.subarray(0, 200_000));
    const run = await runSdlite([...base, "-m", corrupt, "-o", ws.out], ws.env);
    assertOneLineError(run, /broken\.safetensors: .*(truncated|shorter|size|bytes)/i);
    assert.deepEqual(readdirSync(ws.dir).includes("outputs"), false, "no output folder for a failed run");
  });
});
