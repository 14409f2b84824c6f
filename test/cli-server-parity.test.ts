/**
 * `sdlite generate` and `sdlite serve` make the same GenerationJob from the same request, so they
 * write the same PNG bytes and the same `parameters` text: txt2img (with a negative prompt, Clip
 * skip 2 and two iterations), img2img, inpainting with A1111's inpainting fields, outpainting, a `<lora:name:weight>` tag with a textual-inversion
 * embedding (the CLI reading --lora-dir and --embeddings-dir, the server its folders) and the speed
 * settings of --fast (int8 UNet, DeepCache 3, TAESD) with the tiny fixture models. The CLI runs as its own process, the server in this one.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { serveEngineOptions } from "../src/cli/commands/serve.js";
import { toRgb } from "../src/image/color.js";
import { outpaintCanvas } from "../src/image/outpaint-canvas.js";
import { decodePng, decodePngRgb, encodePng, readPngText } from "../src/image/png.js";
import type { Pixels } from "../src/image/types.js";
import type { JobEngine } from "../src/pipeline/job-engine.js";
import { createServer } from "../src/server/create-server.js";
import { writeSafetensors } from "../src/weights/formats/safetensors-writer.js";
import { fixturePath } from "./helpers/fixtures.js";
import { type PipelineCase, pipelineCase } from "./helpers/pipeline-cases.js";
import { describeRun, runSdlite } from "./helpers/sdlite-cli.js";

const TINY = fixturePath("models", "tiny-sd15");
const TINY_TAESD = fixturePath("models", "tiny-taesd");
const LORA = "tiny-sd15-kohya";

const work = mkdtempSync(join(tmpdir(), "sdlite-parity-"));
const cache = join(work, "cache");
process.env.SDLITE_CACHE = cache;
const loraDir = join(work, "Lora");
const embeddingsDir = join(work, "embeddings");
const servers: FastifyInstance[] = [];

before(() => {
  mkdirSync(loraDir);
  copyFileSync(fixturePath("lora", `${LORA}.safetensors`), join(loraDir, `${LORA}.safetensors`));
  // a textual-inversion embedding of two vectors at the tiny text encoder's width (32)
  mkdirSync(embeddingsDir);
  const data = Float32Array.from({ length: 2 * 32 }, (_, i) => Math.cos(i * 0.3));
  writeSafetensors(join(embeddingsDir, "inkstyle.safetensors"), [
    { name: "emb_params", dtype: "F32", shape: [2, 32], data },
  ]);
});

after(async () => {
  for (const app of servers) await app.close();
  rmSync(work, { recursive: true, force: true });
});

async function server(engine: JobEngine): Promise<FastifyInstance> {
  const app = await createServer({
    model: TINY,
    modelsDir: fixturePath("models"),
    hubCacheDir: false,
    loraDir,
    embeddingsDir,
    engine,
    webDir: false,
  });
  servers.push(app);
  return app;
}

interface Made {
  png: Buffer;
  parameters: string;
}

let runs = 0;
/** The CLI's PNG files (bytes) and their infotexts. */
async function viaCli(args: string[]): Promise<Made[]> {
  const out = join(work, `out${runs++}`);
  const run = await runSdlite(
    [
      "generate",
      ...args,
      "--threads",
      "1",
      "--lora-dir",
      loraDir,
      "--embeddings-dir",
      embeddingsDir,
      "--json",
      "-o",
      out,
    ],
    { SDLITE_CACHE: cache, HF_HOME: join(work, "hf"), HF_HUB_OFFLINE: "1", HF_TOKEN: "" },
  );
  assert.equal(run.status, 0, describeRun(run));
  const doc = JSON.parse(run.stdout) as { files: string[]; infotexts: string[] };
  return doc.files.map((file, i) => ({ png: readFileSync(file), parameters: doc.infotexts[i] }));
}

/** The server's images (bytes) and the infotexts of its `info`. */
async function viaServer(
  app: FastifyInstance,
  route: string,
  body: Record<string, unknown>,
): Promise<Made[]> {
  const r = await app.inject({ method: "POST", url: `/sdapi/v1/${route}`, payload: body });
  assert.equal(r.statusCode, 200, r.body);
  const { images, info } = r.json() as { images: string[]; info: string };
  const { infotexts } = JSON.parse(info) as { infotexts: string[] };
  return images.map((b64, i) => ({ png: Buffer.from(b64, "base64"), parameters: infotexts[i] }));
}

function assertSame(cli: Made[], served: Made[], label: string): void {
  assert.equal(served.length, cli.length, `${label}: image count`);
  cli.forEach((c, i) => {
    const s = served[i];
    assert.equal(s.parameters, c.parameters, `${label}: image ${i} parameters`);
    assert.equal(readPngText(new Uint8Array(s.png)).parameters, c.parameters, `${label}: server PNG's text`);
    assert.equal(readPngText(new Uint8Array(c.png)).parameters, c.parameters, `${label}: CLI PNG's text`);
    let first = -1;
    for (let k = 0; k < Math.min(c.png.length, s.png.length) && first < 0; k++)
      if (c.png[k] !== s.png[k]) first = k;
    assert.ok(
      c.png.equals(s.png),
      `${label}: image ${i}: CLI ${c.png.length} bytes vs server ${s.png.length}, first difference at byte ${first}`,
    );
  });
}

const base64File = (path: string) => readFileSync(path).toString("base64");

/** A fixture case's settings as `generate` options and as A1111 body fields. */
function caseSettings(c: PipelineCase) {
  const cli = [c.prompt, "--sampler", c.sampler, "--steps", String(c.steps), "--cfg", String(c.guidance)];
  cli.push("--seed", String(c.seed), "-W", String(c.width), "-H", String(c.height));
  const body = {
    prompt: c.prompt,
    sampler_name: c.sampler,
    steps: c.steps,
    cfg_scale: c.guidance,
    seed: c.seed,
    width: c.width,
    height: c.height,
  };
  return { cli, body };
}

describe("the CLI and the server make identical PNGs for the same request", () => {
  let plain: FastifyInstance;
  before(async () => {
    plain = await server({ runtime: { threads: 1 } });
  });

  test("txt2img: negative prompt, Clip skip 2, two iterations", async () => {
    const c = pipelineCase("txt2img_ddim_2_negative");
    const { cli: args, body } = caseSettings(c);
    const cli = await viaCli([
      ...args,
      "-m",
      TINY,
      "--negative",
      c.negative_prompt!,
      "--clip-skip",
      "2",
      "--batch-count",
      "2",
    ]);
    const served = await viaServer(plain, "txt2img", {
      ...body,
      negative_prompt: c.negative_prompt,
      n_iter: 2,
      override_settings: { CLIP_stop_at_last_layers: 2 },
    });
    assertSame(cli, served, "txt2img");
    assert.match(
      cli[1].parameters,
      new RegExp(`Seed: ${c.seed + 1}, .*Clip skip: 2, RNG: CPU, Version: sdlite `),
    );
  });

  test("img2img", async () => {
    const c = pipelineCase("img2img_euler_8_s0.6");
    const init = fixturePath(c.init_image_png!);
    const { cli: args, body } = caseSettings(c);
    const cli = await viaCli([...args, "-m", TINY, "--init-image", init, "--strength", String(c.strength)]);
    const served = await viaServer(plain, "img2img", {
      ...body,
      init_images: [base64File(init)],
      denoising_strength: c.strength,
    });
    assertSame(cli, served, "img2img");
    assert.doesNotMatch(cli[0].parameters, /Clip skip/, "Clip skip 1 is left out, as A1111 does");
  });

  test("inpainting with the 9-channel model: A1111's API defaults (Only masked, fill, mask blur 4)", async () => {
    const c = pipelineCase("inpaint_ddim_8");
    const [init, mask] = [fixturePath(c.init_image_png!), fixturePath(c.mask_png!)];
    const { cli: args, body } = caseSettings(c);
    const model = fixturePath("models", "tiny-sd15-inpaint");
    const cli = await viaCli([
      ...args,
      "-m",
      model,
      "--init-image",
      init,
      "--mask",
      mask,
      "--strength",
      String(c.strength),
      "--mask-blur",
      "4",
      "--inpainting-fill",
      "fill",
      "--inpaint-full-res",
      "--inpaint-padding",
      "0",
    ]);
    const served = await viaServer(plain, "img2img", {
      ...body,
      init_images: [base64File(init)],
      mask: base64File(mask),
      denoising_strength: c.strength,
      override_settings: { sd_model_checkpoint: "tiny-sd15-inpaint" },
    });
    assertSame(cli, served, "inpaint");
    assert.match(
      cli[0].parameters,
      /Mask blur: 4, Inpaint area: Only masked, Masked area padding: 0, Masked content: fill/,
    );
  });

  test("outpainting: --outpaint, and img2img with the canvas and mask it stands for", async () => {
    const c = pipelineCase("inpaint_ddim_8");
    const init = fixturePath(c.init_image_png!);
    const model = fixturePath("models", "tiny-sd15-inpaint");
    const settings = ["--sampler", "Euler a", "--steps", "3", "--cfg", "7.5", "--seed", "5"];
    const cli = await viaCli([
      "a beach",
      ...settings,
      "-m",
      model,
      "--init-image",
      init,
      "--outpaint",
      "left:20,down:8",
    ]);
    // the canvas (rounded to 88x72) and mask --outpaint makes, blur 4 reaching 4 pixels into the image
    const canvas = outpaintCanvas(
      toRgb(decodePng(readFileSync(init))),
      { left: 20, right: 0, up: 0, down: 8 },
      4,
      4,
    );
    const png = (pixels: Pixels) => Buffer.from(encodePng(pixels)).toString("base64");
    const served = await viaServer(plain, "img2img", {
      prompt: "a beach",
      sampler_name: "Euler a",
      steps: 3,
      cfg_scale: 7.5,
      seed: 5,
      width: 88,
      height: 72,
      init_images: [png({ ...canvas.image, channels: 3 })],
      mask: png({ ...canvas.mask, channels: 1 }),
      mask_blur: 4,
      inpainting_fill: 0,
      inpaint_full_res: false,
      override_settings: { sd_model_checkpoint: "tiny-sd15-inpaint" },
    });
    assertSame(cli, served, "outpaint");
    assert.match(cli[0].parameters, /Size: 88x72, .*Mask blur: 4, Masked content: fill/);
  });

  test("a <lora:name:weight> tag found in the LoRA folder, a textual-inversion embedding", async () => {
    const prompt = `a photo of a cat, inkstyle <lora:${LORA}:0.7>`;
    const cli = await viaCli([prompt, "-m", TINY, "--steps", "4", "--seed", "42", "-W", "64", "-H", "64"]);
    const served = await viaServer(plain, "txt2img", {
      prompt,
      sampler_name: "Euler a",
      steps: 4,
      cfg_scale: 7.5,
      seed: 42,
      width: 64,
      height: 64,
    });
    assertSame(cli, served, "LoRA tag");
    assert.match(cli[0].parameters, new RegExp(`^${prompt}\\n`), "the prompt as typed, tag included");
    assert.match(
      cli[0].parameters,
      new RegExp(`TI hashes: "inkstyle: [0-9a-f]{12}", Lora hashes: "${LORA}: [0-9a-f]{12}"`),
    );
  });

  test("hires fix: --hires-* options and A1111's enable_hr / hr_* fields", async () => {
    const settings = {
      prompt: "a castle",
      sampler_name: "Euler a",
      steps: 3,
      cfg_scale: 6,
      seed: 5,
      width: 64,
      height: 48,
    };
    const args = [
      "a castle",
      "-m",
      TINY,
      "--steps",
      "3",
      "--cfg",
      "6",
      "--seed",
      "5",
      "-W",
      "64",
      "-H",
      "48",
    ];
    const lanczos = await viaCli([
      ...args,
      "--hires-scale",
      "1.5",
      "--hires-upscaler",
      "Lanczos",
      "--hires-steps",
      "2",
      "--denoising-strength",
      "0.55",
      "--hires-sampler",
      "DDIM",
    ]);
    const lanczosServed = await viaServer(plain, "txt2img", {
      ...settings,
      enable_hr: true,
      hr_scale: 1.5,
      hr_upscaler: "Lanczos",
      hr_second_pass_steps: 2,
      denoising_strength: 0.55,
      hr_sampler_name: "DDIM",
    });
    assertSame(lanczos, lanczosServed, "hires Lanczos");
    assert.match(
      lanczos[0].parameters,
      /Size: 64x48, Model: tiny-sd15, Denoising strength: 0\.55, RNG: CPU, Hires sampler: DDIM, Hires upscale: 1\.5, Hires steps: 2, Hires upscaler: Lanczos, Version: sdlite /,
    );
    assert.equal(decodePngRgb(new Uint8Array(lanczos[0].png)).image.width, 96);

    const latent = await viaCli([...args, "--hires-resize", "128x0", "--hires-upscaler", "Latent (nearest)"]);
    const latentServed = await viaServer(plain, "txt2img", {
      ...settings,
      enable_hr: true,
      hr_resize_x: 128,
      hr_upscaler: "Latent (nearest)",
    });
    assertSame(latent, latentServed, "hires Latent (nearest)");
    assert.match(
      latent[0].parameters,
      /Denoising strength: 0\.75, .*Hires resize: 128x0, Hires upscaler: Latent \(nearest\)/,
    );
  });

  test("--fast: int8 UNet, DeepCache 3, TAESD, ToDo 2, int8 text encoder; the speed entries in both infotexts", async () => {
    const fast = await server(serveEngineOptions({ fast: true, taesd: TINY_TAESD, threads: 1 }));
    const args = [
      "a red ball",
      "-m",
      TINY,
      "--sampler",
      "Euler",
      "--steps",
      "4",
      "--cfg",
      "1",
      "--seed",
      "7",
    ];
    const cli = await viaCli([...args, "-W", "64", "-H", "64", "--fast", "--taesd", TINY_TAESD]);
    const served = await viaServer(fast, "txt2img", {
      prompt: "a red ball",
      sampler_name: "Euler",
      steps: 4,
      cfg_scale: 1,
      seed: 7,
      width: 64,
      height: 64,
    });
    assertSame(cli, served, "--fast");
    assert.match(
      served[0].parameters,
      /, VAE Decoder: TAESD, DeepCache interval: 3, UNet quantization: int8, ToDo factor: 2, ToDo max depth: 1, Text encoder quantization: int8, Version: sdlite /,
    );
  });
});
