/**
 * The A1111-compatible endpoints against the tiny fixture models: each endpoint's shape, the
 * pipeline fixtures reproduced through txt2img/img2img (inpainting, a LoRA from a prompt tag),
 * model switching, png-info, and bad requests answered with a 4xx while the server keeps serving.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import jpeg from "jpeg-js";
import { toRgb } from "../src/image/color.js";
import { decodePng, encodePng } from "../src/image/png.js";
import { createServer } from "../src/server/create-server.js";
import { fixturePath, manifest } from "./helpers/fixtures.js";

const work = mkdtempSync(join(tmpdir(), "sdlite-server-a1111-"));
process.env.SDLITE_CACHE = join(work, "cache");
const loraDir = join(work, "Lora");
let app: FastifyInstance;

before(async () => {
  mkdirSync(loraDir);
  copyFileSync(fixturePath("lora/tiny-sd15-kohya.safetensors"), join(loraDir, "tiny-sd15-kohya.safetensors"));
  // a safetensors file that is not a LoRA: using it must fail that one job only
  copyFileSync(
    fixturePath("models/tiny-taesd/diffusion_pytorch_model.safetensors"),
    join(loraDir, "not-a-lora.safetensors"),
  );
  app = await createServer({
    model: fixturePath("models/tiny-sd15"),
    modelsDir: fixturePath("models"),
    hubCacheDir: false,
    loraDir,
    engine: { runtime: { threads: 1 } },
    webDir: false,
    bodyLimit: 4 * 1024 * 1024,
  });
});

after(async () => {
  await app?.close();
  rmSync(work, { recursive: true, force: true });
});

function fixtureBase64(path: string): string {
  return readFileSync(fixturePath(path)).toString("base64");
}

/** Max |difference| in levels between a returned base64 PNG and a fixture PNG, and where. */
function compareWithFixture(base64: string, fixture: string, label: string): number {
  const got = toRgb(decodePng(new Uint8Array(Buffer.from(base64, "base64"))));
  const want = toRgb(decodePng(new Uint8Array(readFileSync(fixturePath(fixture)))));
  assert.deepEqual([got.width, got.height], [want.width, want.height], `${label}: image size`);
  let max = 0;
  let at = 0;
  for (let i = 0; i < want.data.length; i++) {
    const d = Math.abs(got.data[i] - want.data[i]);
    if (d > max) [max, at] = [d, i];
  }
  const px = Math.floor(at / 3);
  assert.ok(
    max <= 2,
    `${label}: PNG differs from ${fixture} by ${max} levels at x=${px % want.width}, y=${Math.floor(px / want.width)}, channel ${at % 3} (at most 2 allowed)`,
  );
  return max;
}

/** A fixture case's seed, sampler, steps, CFG scale and size as A1111 body fields. */
function a1111Settings(c: {
  seed: number;
  sampler: string;
  steps: number;
  guidance: number;
  width: number;
  height: number;
}) {
  return {
    seed: c.seed,
    sampler_name: c.sampler,
    steps: c.steps,
    cfg_scale: c.guidance,
    width: c.width,
    height: c.height,
  };
}

async function post(url: string, payload: unknown) {
  return app.inject({ method: "POST", url, payload: payload as Record<string, unknown> });
}

function parseInfo(body: { info: string }) {
  return JSON.parse(body.info) as Record<string, unknown> & {
    seed: number;
    all_seeds: number[];
    infotexts: string[];
    sdlite_ignored_fields: string[];
    sdlite_warnings: string[];
  };
}

async function assertStillServing() {
  const r = await app.inject({ method: "GET", url: "/sdapi/v1/samplers" });
  assert.equal(r.statusCode, 200, "the server still answers");
}

describe("A1111 generation endpoints", () => {
  it("txt2img reproduces txt2img_euler_a_4 and reports its seed and settings", async () => {
    const c = manifest().pipelines.cases.find((x: { id: string }) => x.id === "txt2img_euler_a_4");
    const r = await post("/sdapi/v1/txt2img", {
      prompt: c.prompt,
      seed: c.seed,
      sampler_name: "Euler a",
      steps: c.steps,
      cfg_scale: c.guidance,
      width: c.width,
      height: c.height,
      restore_faces: true,
      enable_hr: false,
      hr_scale: 2,
      subseed: -1,
      alwayson_scripts: { ADetailer: { args: [] } },
    });
    assert.equal(r.statusCode, 200, r.body);
    const body = r.json();
    assert.deepEqual(Object.keys(body).sort(), ["images", "info", "parameters"]);
    assert.equal(body.images.length, 1);
    const max = compareWithFixture(body.images[0], c.png, "txt2img");
    console.log(`# txt2img vs ${c.png}: max ${max} level(s)`);
    const info = parseInfo(body);
    assert.equal(info.seed, 42);
    assert.deepEqual(info.all_seeds, [42]);
    assert.equal(info.sampler_name, "Euler a");
    assert.equal(info.steps, 4);
    assert.equal(info.cfg_scale, 7.5);
    assert.deepEqual([info.width, info.height], [64, 64]);
    assert.equal(info.sd_model_name, "tiny-sd15");
    assert.deepEqual(info.sdlite_ignored_fields, ["alwayson_scripts", "restore_faces"]);
    assert.match(
      info.infotexts[0],
      /^a photo of a cat\nSteps: 4, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 64x64/,
    );
    assert.equal(body.parameters.seed, 42, "parameters echo the request");
    // the PNG carries the same infotext
    const png = decodePng(new Uint8Array(Buffer.from(body.images[0], "base64")));
    assert.equal(png.text.parameters, info.infotexts[0]);
  });

  it("img2img reproduces img2img_euler_8_s0.6 from a data-URL init image", async () => {
    const c = manifest().pipelines.cases.find((x: { kind: string }) => x.kind === "img2img");
    const r = await post("/sdapi/v1/img2img", {
      init_images: [`data:image/png;base64,${fixtureBase64(c.init_image_png)}`],
      denoising_strength: c.strength,
      prompt: c.prompt,
      ...a1111Settings(c),
    });
    assert.equal(r.statusCode, 200, r.body);
    const body = r.json();
    const max = compareWithFixture(body.images[0], c.png, "img2img");
    console.log(`# img2img vs ${c.png}: max ${max} level(s)`);
    const info = parseInfo(body);
    assert.equal(info.denoising_strength, c.strength);
    assert.match(info.infotexts[0], /Denoising strength: 0\.6/);
    assert.equal(body.parameters.init_images, null, "images are not echoed back");
  });

  it("inpainting with the 9-channel model (override_settings) reproduces inpaint_ddim_8 under the mask, the init image elsewhere", async () => {
    const c = manifest().pipelines.cases.find((x: { kind: string }) => x.kind === "inpaint");
    const r = await post("/sdapi/v1/img2img", {
      init_images: [fixtureBase64(c.init_image_png)],
      mask: fixtureBase64(c.mask_png),
      denoising_strength: c.strength,
      prompt: c.prompt,
      ...a1111Settings(c),
      mask_blur: 0,
      // A1111's "original" content over the whole picture: diffusers' loop; A1111 pastes the init back
      inpainting_fill: 1,
      inpaint_full_res: false,
      override_settings: { sd_model_checkpoint: "tiny-sd15-inpaint" },
    });
    assert.equal(r.statusCode, 200, r.body);
    const body = r.json();
    const got = toRgb(decodePng(new Uint8Array(Buffer.from(body.images[0], "base64"))));
    const init = toRgb(decodePng(new Uint8Array(readFileSync(fixturePath(c.init_image_png)))));
    const mask = decodePng(new Uint8Array(readFileSync(fixturePath(c.mask_png)))).data;
    for (let i = 0; i < mask.length; i++) {
      if (mask[i] === 0)
        assert.deepEqual([...got.data.subarray(i * 3, i * 3 + 3)], [...init.data.subarray(i * 3, i * 3 + 3)]);
    }
    const unmaskedAsFixture = Buffer.from(got.data);
    const want = toRgb(decodePng(new Uint8Array(readFileSync(fixturePath(c.png)))));
    for (let i = 0; i < mask.length; i++) {
      if (mask[i] === 0) unmaskedAsFixture.set(want.data.subarray(i * 3, i * 3 + 3), i * 3);
    }
    const max = compareWithFixture(
      Buffer.from(
        encodePng({ width: got.width, height: got.height, channels: 3, data: unmaskedAsFixture }),
      ).toString("base64"),
      c.png,
      "inpaint",
    );
    console.log(`# inpaint vs ${c.png}: max ${max} level(s)`);
    const info = parseInfo(body);
    assert.equal(info.sd_model_name, "tiny-sd15-inpaint");
    assert.equal(info.is_using_inpainting_conditioning, true);
    // the override applied to that request only
    const options = (await app.inject({ method: "GET", url: "/sdapi/v1/options" })).json();
    assert.equal(options.sd_model_checkpoint, "tiny-sd15");
  });

  it("img2img resizes an init image of another size (JPEG too) to width × height, mask inverted", async () => {
    const rgba = Buffer.alloc(40 * 24 * 4);
    for (let i = 0; i < 40 * 24; i++) rgba.set([(i * 7) % 256, (i * 3) % 256, 128, 255], i * 4);
    const init = jpeg.encode({ width: 40, height: 24, data: rgba }, 90).data.toString("base64");
    const r = await post("/sdapi/v1/img2img", {
      init_images: [init],
      mask: fixtureBase64("pipelines/inpaint_ddim_8_mask.png"),
      inpainting_mask_invert: 1,
      inpaint_full_res: false,
      prompt: "a cat",
      steps: 4,
      denoising_strength: 0.5,
      width: 64,
      height: 64,
    });
    assert.equal(r.statusCode, 200, r.body);
    const png = decodePng(new Uint8Array(Buffer.from(r.json().images[0], "base64")));
    assert.deepEqual([png.width, png.height], [64, 64]);
  });

  it("A1111's inpainting fields out of range answer 422 with the field's name", async () => {
    const base = {
      init_images: [fixtureBase64("pipelines/inpaint_ddim_8_init.png")],
      mask: fixtureBase64("pipelines/inpaint_ddim_8_mask.png"),
      prompt: "a cat",
      steps: 1,
      width: 64,
      height: 64,
    };
    for (const [field, value, pattern] of [
      ["inpainting_fill", 4, /inpainting_fill must be an integer from 0 to 3/],
      ["mask_blur", 65, /mask_blur must be an integer from 0 to 64/],
      ["mask_blur_y", -1, /mask_blur_y must be an integer/],
      ["inpaint_full_res_padding", 1.5, /inpaint_full_res_padding must be integer/],
    ] as const) {
      const r = await post("/sdapi/v1/img2img", { ...base, [field]: value });
      assert.equal(r.statusCode, 422, `${field}: ${r.body}`);
      assert.match(r.json().detail, pattern);
    }
    await assertStillServing();
  });

  it("a <lora:tiny-sd15-kohya:0.7> tag applies the LoRA and reproduces txt2img_lora_euler_a_4", async () => {
    const c = manifest().lora.pipeline;
    const prompt = `${c.prompt} <lora:tiny-sd15-kohya:0.7>`;
    const r = await post("/sdapi/v1/txt2img", {
      prompt,
      ...a1111Settings(c),
    });
    assert.equal(r.statusCode, 200, r.body);
    const body = r.json();
    const max = compareWithFixture(body.images[0], c.png, "txt2img with LoRA");
    console.log(`# LoRA txt2img vs ${c.png}: max ${max} level(s)`);
    const info = parseInfo(body);
    assert.equal(info.prompt, prompt, "the infotext keeps the tag, as A1111 does");
    assert.match(info.infotexts[0], /Lora hashes: "tiny-sd15-kohya: [0-9a-f]{12}"/);
    assert.deepEqual(info.sdlite_warnings, []);
  });

  it("an unknown LoRA is reported, not fatal; a file that is not a LoRA fails that job alone", async () => {
    const r = await post("/sdapi/v1/txt2img", {
      prompt: "cat <lora:nowhere:1>",
      steps: 1,
      width: 64,
      height: 64,
    });
    assert.equal(r.statusCode, 200, r.body);
    assert.match(parseInfo(r.json()).sdlite_warnings[0], /LoRA "nowhere" not found/);
    const bad = await post("/sdapi/v1/txt2img", {
      prompt: "cat <lora:not-a-lora:1>",
      steps: 1,
      width: 64,
      height: 64,
    });
    assert.equal(bad.statusCode, 422, bad.body);
    assert.match(bad.json().detail, /not a LoRA file/);
    await assertStillServing();
  });

  it("batches: batch_size × n_iter images with consecutive seeds; send_images false returns none", async () => {
    const r = await post("/sdapi/v1/txt2img", {
      prompt: "a cat",
      seed: 100,
      batch_size: 2,
      n_iter: 2,
      steps: 2,
      width: 64,
      height: 64,
    });
    assert.equal(r.statusCode, 200, r.body);
    const info = parseInfo(r.json());
    assert.equal(r.json().images.length, 4);
    assert.deepEqual(info.all_seeds, [100, 101, 102, 103]);
    assert.equal(info.infotexts.length, 4);
    const quiet = await post("/sdapi/v1/txt2img", {
      prompt: "a cat",
      steps: 1,
      width: 64,
      height: 64,
      send_images: false,
    });
    assert.deepEqual(quiet.json().images, []);
    assert.ok(Number.isInteger(parseInfo(quiet.json()).seed), "seed -1 became a real seed");
  });
});

describe("A1111 scheduler field", () => {
  const base = { prompt: "a cat", seed: 3, steps: 2, width: 64, height: 64 };

  it("any schedule type on a σ sampler, written as A1111 writes it; old folded names too", async () => {
    const r = await post("/sdapi/v1/txt2img", { ...base, sampler_name: "Euler a", scheduler: "SGM Uniform" });
    assert.equal(r.statusCode, 200, r.body);
    const info = parseInfo(r.json());
    assert.deepEqual([info.sampler_name, info.scheduler], ["Euler a", "SGM Uniform"]);
    assert.match(info.infotexts[0], /Steps: 2, Sampler: Euler a, Schedule type: SGM Uniform, CFG scale/);
    assert.deepEqual(info.extra_generation_params, { "Schedule type": "SGM Uniform" });
    assert.deepEqual([info.sdlite_ignored_fields, info.sdlite_warnings], [[], []]);
    // A1111 names: sgm_uniform is the same schedule; "DPM++ 2M Exponential" folds it into the sampler
    const byName = await post("/sdapi/v1/txt2img", {
      ...base,
      sampler_name: "Euler a",
      scheduler: "sgm_uniform",
    });
    assert.equal(byName.json().images[0], r.json().images[0], "name and label give the same image");
    const folded = parseInfo(
      (await post("/sdapi/v1/txt2img", { ...base, sampler_name: "DPM++ 2M Exponential" })).json(),
    );
    assert.deepEqual([folded.sampler_name, folded.scheduler], ["DPM++ 2M", "Exponential"]);
  });

  it("where A1111 goes on regardless (DDIM takes no schedule, an unknown name), so does sdlite, and says so", async () => {
    for (const [sampler, scheduler, why] of [
      ["DDIM", "Karras", /sampler "DDIM" has no Karras schedule/],
      ["Euler", "cosine", /unknown schedule type "cosine"/],
    ] as const) {
      const r = await post("/sdapi/v1/txt2img", { ...base, sampler_name: sampler, scheduler });
      assert.equal(r.statusCode, 200, r.body);
      const info = parseInfo(r.json());
      assert.equal(info.scheduler, "Automatic");
      assert.deepEqual(info.sdlite_ignored_fields, ["scheduler"]);
      assert.match(info.sdlite_warnings[0], why);
      assert.doesNotMatch(info.infotexts[0], /Schedule type/);
    }
    await assertStillServing();
  });
});

describe("A1111 hires fix fields", () => {
  const body = { prompt: "a tower", steps: 2, seed: 3, width: 64, height: 64, enable_hr: true };

  it("bad hires settings are answered 4xx before queueing, naming the field", async () => {
    for (const [extra, why] of [
      [{ hr_upscaler: "4x-Nowhere" }, /hr_upscaler: could not find upscaler named "4x-Nowhere"/],
      [{ hr_second_pass_steps: 500 }, /hr_second_pass_steps must be from 0 to/],
      [{ denoising_strength: 0 }, /denoising_strength must be in \(0, 1\]/],
      [{ hr_scale: 40 }, /hires scale must be/],
      [{ hr_resize_x: 4096, hr_resize_y: 4096 }, /hires fix size 4096x4096 is too large/],
      [
        { denoising_strength: 0.3 },
        /hires fix second pass: img2img strength 0\.3 with 2 steps leaves no denoising step/,
      ],
      [{ hr_sampler_name: "Nope" }, /Sampler not found/],
    ] as const) {
      const r = await post("/sdapi/v1/txt2img", { ...body, ...extra });
      assert.ok(
        r.statusCode >= 400 && r.statusCode < 500,
        `${JSON.stringify(extra)}: ${r.statusCode} ${r.body}`,
      );
      assert.match(r.json().detail, why);
    }
    await assertStillServing();
  });

  it("eta is honoured with DDIM (`Eta DDIM`), reported as ignored with a σ sampler", async () => {
    const ddim = await post("/sdapi/v1/txt2img", {
      ...body,
      enable_hr: false,
      sampler_name: "DDIM",
      eta: 0.4,
    });
    assert.equal(ddim.statusCode, 200, ddim.body);
    const info = parseInfo(ddim.json());
    assert.deepEqual(info.sdlite_ignored_fields, []);
    assert.match(info.infotexts[0], /Eta DDIM: 0\.4/);
    const euler = parseInfo(
      (
        await post("/sdapi/v1/txt2img", { ...body, enable_hr: false, sampler_name: "Euler", eta: 0.4 })
      ).json(),
    );
    assert.deepEqual(euler.sdlite_ignored_fields, ["eta"]);
  });
});

describe("A1111 discovery and settings endpoints", () => {
  it("samplers, schedulers, upscalers, sd-vae, memory, progress", async () => {
    const get = async (url: string) => {
      const r = await app.inject({ method: "GET", url });
      assert.equal(r.statusCode, 200, `${url}: ${r.body}`);
      return r.json();
    };
    const samplers = await get("/sdapi/v1/samplers");
    assert.ok(samplers.length >= 10);
    for (const s of samplers) assert.deepEqual(Object.keys(s).sort(), ["aliases", "name", "options"]);
    assert.ok(samplers.some((s: { name: string }) => s.name === "Euler a"));
    const schedulers = await get("/sdapi/v1/schedulers");
    // A1111's modules/sd_schedulers.py list, in its order and shape
    assert.deepEqual(
      schedulers.map((s: { label: string }) => s.label),
      [
        "Automatic",
        "Uniform",
        "Karras",
        "Exponential",
        "Polyexponential",
        "SGM Uniform",
        "KL Optimal",
        "Align Your Steps",
        "Simple",
        "Normal",
        "DDIM",
        "Beta",
      ],
    );
    assert.deepEqual(schedulers[5], {
      name: "sgm_uniform",
      label: "SGM Uniform",
      aliases: ["SGMUniform"],
      default_rho: -1,
      need_inner_model: true,
    });
    assert.deepEqual(schedulers[2], {
      name: "karras",
      label: "Karras",
      aliases: null,
      default_rho: 7,
      need_inner_model: false,
    });
    for (const s of schedulers) {
      assert.deepEqual(Object.keys(s).sort(), [
        "aliases",
        "default_rho",
        "label",
        "name",
        "need_inner_model",
      ]);
    }
    const upscalers = (await get("/sdapi/v1/upscalers")) as { name: string }[];
    assert.deepEqual(
      upscalers.map((u) => u.name),
      ["None", "Lanczos", "Nearest"],
    );
    assert.deepEqual(await get("/sdapi/v1/sd-vae"), []);
    const memory = await get("/sdapi/v1/memory");
    assert.ok(memory.ram.total > 0 && memory.ram.free >= 0);
    const progress = await get("/sdapi/v1/progress");
    assert.deepEqual(Object.keys(progress).sort(), [
      "current_image",
      "current_task",
      "eta_relative",
      "progress",
      "state",
      "textinfo",
    ]);
    assert.deepEqual(Object.keys(progress.state).sort(), [
      "interrupted",
      "job",
      "job_count",
      "job_no",
      "job_timestamp",
      "sampling_step",
      "sampling_steps",
      "skipped",
      "stopping_generation",
    ]);
    assert.equal(progress.progress, 0);
    for (const url of ["/sdapi/v1/interrupt", "/sdapi/v1/skip"]) {
      const r = await app.inject({ method: "POST", url });
      assert.equal(r.statusCode, 200, `${url} with nothing running`);
    }
  });

  it("sd-models lists -m and the models folder; refresh-checkpoints; loras lists the LoRA folder", async () => {
    const models = (await app.inject({ method: "GET", url: "/sdapi/v1/sd-models" })).json();
    for (const m of models) {
      assert.deepEqual(Object.keys(m).sort(), [
        "config",
        "defaults",
        "filename",
        "hash",
        "model_name",
        "sha256",
        "title",
      ]);
    }
    assert.equal(models[0].model_name, "tiny-sd15", "-m comes first");
    // sdlite's addition: what the model runs with where a request leaves a field out (SD1.x: A1111's)
    assert.deepEqual(models[0].defaults, {
      sampler_name: "Euler a",
      steps: 20,
      cfg_scale: 7.5,
      width: 512,
      height: 512,
    });
    assert.deepEqual(models.map((m: { title: string }) => m.title).sort(), [
      "tiny-sd15",
      "tiny-sd15-inpaint",
      "tiny-sd15-onnx",
    ]);
    const refresh = await app.inject({ method: "POST", url: "/sdapi/v1/refresh-checkpoints" });
    assert.equal(refresh.statusCode, 200);
    const loras = (await app.inject({ method: "GET", url: "/sdapi/v1/loras" })).json();
    const kohya = loras.find((l: { name: string }) => l.name === "tiny-sd15-kohya");
    assert.deepEqual(Object.keys(kohya).sort(), ["alias", "metadata", "name", "path"]);
    assert.equal(kohya.path, join(loraDir, "tiny-sd15-kohya.safetensors"));
    assert.equal(typeof kohya.metadata, "object");
  });

  it("options: CLIP_stop_at_last_layers and a model switch, queued like a job", async () => {
    const set = await post("/sdapi/v1/options", {
      sd_model_checkpoint: "tiny-sd15-onnx",
      CLIP_stop_at_last_layers: 2,
      some_client_setting: "kept",
    });
    assert.equal(set.statusCode, 200, set.body);
    const options = (await app.inject({ method: "GET", url: "/sdapi/v1/options" })).json();
    assert.equal(options.sd_model_checkpoint, "tiny-sd15-onnx");
    assert.equal(options.CLIP_stop_at_last_layers, 2);
    assert.equal(options.some_client_setting, "kept");
    const onnx = await post("/sdapi/v1/txt2img", {
      prompt: "a cat",
      steps: 2,
      width: 64,
      height: 64,
      seed: 1,
    });
    assert.equal(onnx.statusCode, 200, onnx.body);
    const onnxInfo = parseInfo(onnx.json());
    assert.equal(onnxInfo.sd_model_name, "tiny-sd15-onnx");
    assert.equal(onnxInfo.clip_skip, 1, "an ONNX text encoder has only its last layer");
    assert.match(onnxInfo.sdlite_warnings[0], /Clip skip 2 is not available with an ONNX pipeline folder/);

    const missing = await post("/sdapi/v1/options", { sd_model_checkpoint: "no-such-model" });
    assert.equal(missing.statusCode, 404);
    assert.match(missing.json().detail, /no-such-model/);
    const back = await post("/sdapi/v1/options", { sd_model_checkpoint: "tiny-sd15" });
    assert.equal(back.statusCode, 200, back.body);
    assert.equal(
      (await app.inject({ method: "GET", url: "/sdapi/v1/options" })).json().sd_model_checkpoint,
      "tiny-sd15",
    );
    const r = await post("/sdapi/v1/txt2img", { prompt: "a cat", steps: 2, width: 64, height: 64, seed: 1 });
    assert.equal(r.statusCode, 200, r.body);
    const info = parseInfo(r.json());
    assert.equal(info.sd_model_name, "tiny-sd15");
    assert.equal(info.clip_skip, 2);
    assert.match(info.infotexts[0], /Model: tiny-sd15, Clip skip: 2/);
    const tooDeep = await post("/sdapi/v1/txt2img", {
      prompt: "a cat",
      steps: 1,
      width: 64,
      height: 64,
      override_settings: { CLIP_stop_at_last_layers: 3 },
    });
    assert.equal(tooDeep.statusCode, 422, "the tiny text encoder has two layers");
    assert.match(tooDeep.json().detail, /clip skip 3/);
    assert.equal((await post("/sdapi/v1/options", { CLIP_stop_at_last_layers: 1 })).statusCode, 200);
  });

  it("the smaller endpoints clients probe answer in A1111's shapes; unload and reload are queued", async () => {
    const expected: [string, unknown][] = [
      ["/internal/ping", {}],
      [
        "/sdapi/v1/latent-upscale-modes",
        [
          "Latent",
          "Latent (antialiased)",
          "Latent (bicubic)",
          "Latent (bicubic antialiased)",
          "Latent (nearest)",
          "Latent (nearest-exact)",
        ].map((name) => ({ name })),
      ],
      ["/sdapi/v1/face-restorers", []],
      ["/sdapi/v1/hypernetworks", []],
      ["/sdapi/v1/prompt-styles", []],
      ["/sdapi/v1/embeddings", { loaded: {}, skipped: {} }],
      ["/sdapi/v1/scripts", { txt2img: [], img2img: [] }],
      ["/sdapi/v1/cmd-flags", {}],
    ];
    for (const [url, body] of expected) {
      const r = await app.inject({ method: "GET", url });
      assert.equal(r.statusCode, 200, url);
      assert.deepEqual(r.json(), body, url);
    }
    assert.equal((await post("/sdapi/v1/unload-checkpoint", {})).statusCode, 200);
    assert.equal((await post("/sdapi/v1/reload-checkpoint", {})).statusCode, 200);
    const r = await post("/sdapi/v1/txt2img", { prompt: "a cat", steps: 1, width: 64, height: 64 });
    assert.equal(r.statusCode, 200, "generation works after an unload and reload");
  });

  it("png-info reads back a generated PNG's parameters", async () => {
    const gen = await post("/sdapi/v1/txt2img", {
      prompt: "a red ball",
      negative_prompt: "blurry",
      seed: 5,
      steps: 2,
      width: 64,
      height: 64,
      sampler_name: "DPM++ 2M",
      scheduler: "Karras",
    });
    assert.equal(gen.statusCode, 200, gen.body);
    const r = await post("/sdapi/v1/png-info", { image: `data:image/png;base64,${gen.json().images[0]}` });
    assert.equal(r.statusCode, 200, r.body);
    const body = r.json();
    assert.deepEqual(Object.keys(body).sort(), ["info", "items", "parameters"]);
    assert.equal(body.info, parseInfo(gen.json()).infotexts[0]);
    assert.equal(body.parameters.Prompt, "a red ball");
    assert.equal(body.parameters["Negative prompt"], "blurry");
    assert.equal(body.parameters.Seed, "5");
    assert.equal(body.parameters.Sampler, "DPM++ 2M");
    assert.equal(body.parameters["Schedule type"], "Karras");
    assert.deepEqual([body.parameters["Size-1"], body.parameters["Size-2"]], ["64", "64"]);
  });
});

describe("bad requests get a 4xx in A1111's error shape, and the server keeps serving", () => {
  const base = { prompt: "a cat", width: 64, height: 64, steps: 2 };
  const cases: [string, string, unknown, number, RegExp][] = [
    ["wrong type", "/sdapi/v1/txt2img", { ...base, steps: "many" }, 422, /steps/],
    [
      "wrong type (object for a number)",
      "/sdapi/v1/txt2img",
      { ...base, cfg_scale: { a: 1 } },
      422,
      /cfg_scale/,
    ],
    ["huge size", "/sdapi/v1/txt2img", { ...base, width: 4096, height: 4096 }, 422, /too large/],
    [
      "a long thin size",
      "/sdapi/v1/txt2img",
      { ...base, width: 8192, height: 64 },
      422,
      /at most 4096 pixels/,
    ],
    ["steps 10000", "/sdapi/v1/txt2img", { ...base, steps: 10000 }, 422, /steps must be from 1 to 150/],
    ["too many images", "/sdapi/v1/txt2img", { ...base, batch_size: 8, n_iter: 4 }, 422, /at most 16 images/],
    [
      "unknown sampler",
      "/sdapi/v1/txt2img",
      { ...base, sampler_name: "Magic Sampler" },
      404,
      /Sampler not found.*Euler a/,
    ],
    [
      "bad base64",
      "/sdapi/v1/img2img",
      { ...base, init_images: ["!!!not base64!!!"] },
      422,
      /init_images\[0\] is not valid base64/,
    ],
    [
      "not an image",
      "/sdapi/v1/img2img",
      { ...base, init_images: [Buffer.from("GIF89a....").toString("base64")] },
      422,
      /expected a PNG or JPEG image, got a GIF/,
    ],
    ["img2img without an image", "/sdapi/v1/img2img", { ...base }, 422, /init_images/],
    [
      "bad LoRA weight",
      "/sdapi/v1/txt2img",
      { ...base, prompt: "cat <lora:tiny-sd15-kohya:lots>" },
      422,
      /not a number/,
    ],
    [
      "unknown override model",
      "/sdapi/v1/txt2img",
      { ...base, override_settings: { sd_model_checkpoint: "nope" } },
      404,
      /nope/,
    ],
    ["png-info without a PNG", "/sdapi/v1/png-info", { image: "aGVsbG8=" }, 422, /expected a PNG or JPEG/],
  ];
  for (const [name, url, payload, status, message] of cases) {
    it(name, async () => {
      const r = await post(url, payload);
      assert.equal(r.statusCode, status, `${name}: ${r.body}`);
      const body = r.json();
      assert.deepEqual(Object.keys(body).sort(), ["body", "detail", "error", "errors"]);
      assert.match(body.detail, message);
      await assertStillServing();
    });
  }

  it("a body that is not JSON, or too large", async () => {
    const notJson = await app.inject({
      method: "POST",
      url: "/sdapi/v1/txt2img",
      headers: { "content-type": "application/json" },
      payload: "{prompt: oops",
    });
    assert.equal(notJson.statusCode, 400, notJson.body);
    assert.ok(notJson.json().detail.length > 0);
    const huge = await app.inject({
      method: "POST",
      url: "/sdapi/v1/img2img",
      headers: { "content-type": "application/json" },
      payload: JSON.stringify({ ...base, init_images: ["A".repeat(5 * 1024 * 1024)] }),
    });
    assert.equal(huge.statusCode, 413, huge.body);
    assert.match(huge.json().detail, /larger than 4194304 bytes/);
    const unknown = await app.inject({ method: "GET", url: "/sdapi/v1/no-such-endpoint" });
    assert.equal(unknown.statusCode, 404);
    await assertStillServing();
  });
});
