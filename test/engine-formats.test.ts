/**
 * One tiny model in three formats — the fp16 single file, the diffusers folder and the hub-style
 * ONNX pipeline folder — opened through openPipeline gives the same networks and the same images.
 * Built graphs from the same weights are bit-identical; the ONNX export agrees within the module
 * tolerance (fixtures README section 2).
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { type EngineOptions, type OpenedPipeline, openPipeline } from "../src/engine/open-pipeline.js";
import { toRgb } from "../src/image/color.js";
import { imageToTensor } from "../src/image/convert.js";
import type { RgbImage } from "../src/image/types.js";
import { generate } from "../src/pipeline/generate.js";
import type { LatentDistribution, Shape4, VaeNetwork } from "../src/pipeline/networks.js";
import { createRandomSource } from "../src/rng/index.js";
import { assertClose, maxDifference } from "./helpers/assert-close.js";
import { fixturePath, golden, manifest } from "./helpers/fixtures.js";
import { caseRequest, pipelineCase, readFixturePng } from "./helpers/pipeline-cases.js";
import { TINY_OVERRIDES } from "./helpers/tiny-configs.js";

const MODULE_TOLERANCE = manifest().unet.tolerance.max_abs as number; // 1e-4, all three modules
const opened: OpenedPipeline[] = [];
after(async () => {
  for (const p of opened) await p.close();
});

async function open(path: string, options: EngineOptions = {}): Promise<OpenedPipeline> {
  const p = await openPipeline(fixturePath(path), { ...options, runtime: { cache: false, threads: 1 } });
  opened.push(p);
  return p;
}

type Formats = { label: string; pipeline: OpenedPipeline }[];
let tinyFormats: Promise<Formats> | undefined;
/** The same tiny-sd15 weights as single file, diffusers folder and ONNX folder (opened once). */
function tiny(): Promise<Formats> {
  tinyFormats ??= (async () => [
    {
      label: "single file",
      pipeline: await open("single_file/tiny-sd15-fp16.safetensors", { overrides: TINY_OVERRIDES }),
    },
    { label: "diffusers folder", pipeline: await open("models/tiny-sd15") },
    { label: "ONNX folder", pipeline: await open("models/tiny-sd15-onnx") },
  ])();
  return tinyFormats;
}

function shape4(dims: readonly number[]): Shape4 {
  assert.equal(dims.length, 4);
  return [dims[0], dims[1], dims[2], dims[3]];
}

/** Each format against the golden (1e-4); single file and diffusers folder bit-identical. */
function compareFormats(what: string, outputs: Float32Array[], formats: Formats, expected: Float32Array) {
  const diffs = outputs.map((out, i) =>
    assertClose(out, expected, MODULE_TOLERANCE, `${what}, ${formats[i].label} vs diffusers golden`),
  );
  const same = maxDifference(outputs[0], outputs[1]);
  assert.equal(
    same.maxAbs,
    0,
    `${what}: single file vs diffusers folder differ by ${same.maxAbs} at index ${same.index} (same weights, same graph: must be identical)`,
  );
  const onnx = assertClose(
    outputs[2],
    outputs[1],
    MODULE_TOLERANCE,
    `${what}: ONNX folder vs diffusers folder`,
  );
  console.log(
    `# ${what}: vs golden ${diffs.map((d, i) => `${formats[i].label} ${d.maxAbs.toExponential(2)}`).join(", ")}; ONNX vs built ${onnx.maxAbs.toExponential(2)}`,
  );
}

function levelDifference(a: RgbImage, b: RgbImage): { max: number; mean: number } {
  assert.equal(a.width, b.width);
  assert.equal(a.height, b.height);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.data.length };
}

describe("tiny-sd15 as single file, diffusers folder and ONNX folder", () => {
  it("text encoder: the same embeddings for every golden prompt", async () => {
    const formats = await tiny();
    const g = golden("text_encoder");
    for (const c of manifest().text_encoder.cases) {
      const ids = Int32Array.from(g.readInts(c.input_ids));
      const outputs = await Promise.all(formats.map((f) => f.pipeline.models.textEncoder.encode(ids, 1, 1)));
      compareFormats(`text encoder "${c.prompt}"`, outputs, formats, g.readF32(c.last_hidden_state));
    }
  });

  it("UNet: the same prediction on 8x8 latents (64x64 images), batch 1 and batch 2", async () => {
    const formats = await tiny();
    const g = golden("unet");
    for (const id of ["b1_t999", "b2_t500_cfg"]) {
      const c = manifest().unet.cases.find((c: { id: string }) => c.id === id);
      const shape = shape4(c.shape);
      assert.deepEqual([shape[2], shape[3]], [8, 8], `${id} is an 8x8-latent case`);
      const sample = g.readF32(c.sample);
      const timestep = g.readF32(c.timestep);
      const context = g.readF32(c.encoder_hidden_states);
      const outputs = await Promise.all(
        formats.map((f) => f.pipeline.models.unet.predict({ sample, shape, timestep, context, tokens: 77 })),
      );
      compareFormats(`UNet ${id}`, outputs, formats, g.readF32(c.out));
    }
  });

  it("UNet: latents that are not multiples of 8 run from weights but are a clear error for the ONNX export", async () => {
    const formats = await tiny();
    const g = golden("unet");
    const c = manifest().unet.cases.find((c: { id: string }) => c.id === "b1_8x12_t250");
    const shape = shape4(c.shape);
    const input = {
      sample: g.readF32(c.sample),
      shape,
      timestep: g.readF32(c.timestep),
      context: g.readF32(c.encoder_hidden_states),
      tokens: 77,
    };
    for (const f of formats.slice(0, 2)) {
      const out = await f.pipeline.models.unet.predict(input);
      assertClose(out, g.readF32(c.out), MODULE_TOLERANCE, `UNet b1_8x12_t250, ${f.label}`);
    }
    await assert.rejects(
      formats[2].pipeline.models.unet.predict(input),
      /unet[/\\]model\.onnx: this ONNX UNet was exported with fixed ×2 upsampling and only runs latents whose sides are multiples of 8 \(images whose sides are multiples of 64 px\); got 8×12 latents \(64×96 px\)/,
    );
    // and through generate: a 64x96 request on the ONNX folder fails with the same message
    await assert.rejects(
      generate(formats[2].pipeline.models, { ...caseRequest(pipelineCase("txt2img_euler_a_4")), width: 96 }),
      /multiples of 64 px\); got 8×12 latents \(64×96 px\)/,
    );
  });

  it("VAE decoder: the same image from 8x8, 8x12 and 5x7 latents (the ONNX decoder takes any size)", async () => {
    const formats = await tiny();
    const g = golden("vae");
    for (const c of manifest().vae.cases.filter((c: { kind: string }) => c.kind === "decode")) {
      const latents = g.readF32(c.latents);
      const shape = shape4(g.info(c.latents).shape);
      const outputs = await Promise.all(formats.map((f) => f.pipeline.models.vae.decode(latents, shape)));
      compareFormats(`VAE ${c.id}`, outputs, formats, g.readF32(c.vae_decode));
    }
    // odd sizes too (no golden: the formats against each other)
    const shape: Shape4 = [1, 4, 5, 7];
    const latents = createRandomSource("cpu", 57).randn(shape);
    const outputs = await Promise.all(formats.map((f) => f.pipeline.models.vae.decode(latents, shape)));
    assert.equal(outputs[2].length, 3 * 40 * 56, "5x7 latents decode to 40x56 px");
    assert.equal(maxDifference(outputs[0], outputs[1]).maxAbs, 0, "VAE 5x7: single file vs diffusers folder");
    const d = assertClose(
      outputs[2],
      outputs[1],
      MODULE_TOLERANCE,
      "VAE 5x7: ONNX folder vs diffusers folder",
    );
    console.log(`# VAE 5x7 latents: ONNX vs built ${d.maxAbs.toExponential(2)}`);
  });

  it("txt2img (Euler a, 4 steps): the same PNG from all three formats", async () => {
    const formats = await tiny();
    const c = pipelineCase("txt2img_euler_a_4");
    const expected = toRgb(readFixturePng(c.png));
    const images: RgbImage[] = [];
    for (const f of formats) {
      const [result] = await generate(f.pipeline.models, caseRequest(c));
      const d = levelDifference(result.image, expected);
      assert.ok(
        d.max <= 1,
        `${c.id}, ${f.label}: PNG differs from diffusers' by ${d.max} levels (at most 1)`,
      );
      images.push(result.image);
    }
    for (const i of [0, 2]) {
      const d = levelDifference(images[i], images[1]);
      assert.ok(d.max <= 1, `${c.id}: ${formats[i].label} vs diffusers folder differ by ${d.max} levels`);
      console.log(`# ${c.id}: ${formats[i].label} vs diffusers folder max ${d.max} level(s)`);
    }
  });
});

describe("tiny-sd15-inpaint as single file and diffusers folder", () => {
  it("9-channel UNet and a whole inpainting run agree", async () => {
    const single = await open("single_file/tiny-sd15-inpainting-fp16.safetensors", {
      overrides: TINY_OVERRIDES,
    });
    const folder = await open("models/tiny-sd15-inpaint");
    assert.equal(single.models.unet.inChannels, 9);
    assert.equal(folder.models.unet.inChannels, 9);

    const g = golden("unet");
    const u = manifest().unet.cases.find((c: { id: string }) => c.id === "inpaint9_b1_t500");
    const input = {
      sample: g.readF32(u.sample),
      shape: shape4(u.shape),
      timestep: g.readF32(u.timestep),
      context: g.readF32(u.encoder_hidden_states),
      tokens: 77,
    };
    const outputs = [await single.models.unet.predict(input), await folder.models.unet.predict(input)];
    for (const [i, label] of ["single file", "diffusers folder"].entries()) {
      assertClose(outputs[i], g.readF32(u.out), MODULE_TOLERANCE, `inpaint UNet, ${label} vs golden`);
    }
    assert.equal(
      maxDifference(outputs[0], outputs[1]).maxAbs,
      0,
      "inpaint UNet: single file vs folder must be identical",
    );

    const c = pipelineCase("inpaint_ddim_8");
    const expected = toRgb(readFixturePng(c.png));
    const [fromSingle] = await generate(single.models, caseRequest(c));
    const [fromFolder] = await generate(folder.models, caseRequest(c));
    for (const [label, image] of [
      ["single file", fromSingle.image],
      ["diffusers folder", fromFolder.image],
    ] as const) {
      const d = levelDifference(image, expected);
      assert.ok(d.max <= 1, `${c.id}, ${label}: PNG differs from diffusers' by ${d.max} levels (at most 1)`);
    }
    const d = levelDifference(fromSingle.image, fromFolder.image);
    assert.ok(d.max <= 1, `${c.id}: single file vs folder differ by ${d.max} levels`);
    console.log(`# ${c.id}: single file vs diffusers folder max ${d.max} level(s)`);
  });
});

/** Records what the wrapped VAE's encoder returned. */
class RecordingVae implements VaeNetwork {
  readonly encoded: LatentDistribution[] = [];
  constructor(private readonly inner: VaeNetwork) {}
  get scalingFactor() {
    return this.inner.scalingFactor;
  }
  decode(latents: Float32Array, shape: Shape4) {
    return this.inner.decode(latents, shape);
  }
  async encode(image: Float32Array, shape: Shape4) {
    const d = await this.inner.encode(image, shape);
    this.encoded.push(d);
    return d;
  }
}

/** z = (sample − mean) / std over all elements: a posterior sample has z ~ N(0, 1). */
function zStats(sample: Float32Array, mean: Float32Array, std: Float32Array) {
  let sum = 0;
  let squares = 0;
  for (let i = 0; i < mean.length; i++) {
    const z = (sample[i] - mean[i]) / std[i];
    sum += z;
    squares += z * z;
  }
  return { n: mean.length, mean: sum / mean.length, rms: Math.sqrt(squares / mean.length) };
}

describe("ONNX vae_encoder: samples the posterior inside the graph", () => {
  it("its output is distributed as diffusers' posterior, and differs between runs", async () => {
    const onnx = (await tiny())[2].pipeline;
    const g = golden("vae");
    let all = { n: 0, sum: 0, squares: 0 };
    for (const c of manifest().vae.cases.filter((c: { kind: string }) => c.kind === "encode")) {
      const image = g.readF32(c.image);
      const shape = shape4(g.info(c.image).shape);
      const first = await onnx.models.vae.encode(image, shape);
      const second = await onnx.models.vae.encode(image, shape);
      assert.ok(
        maxDifference(first.mean, second.mean).maxAbs > 0,
        `${c.id}: two ONNX encodes of one image are identical — the graph was expected to draw fresh noise`,
      );
      const z = zStats(first.mean, g.readF32(c.mean), g.readF32(c.std));
      all = { n: all.n + z.n, sum: all.sum + z.mean * z.n, squares: all.squares + z.rms * z.rms * z.n };
    }
    const mean = all.sum / all.n;
    const rms = Math.sqrt(all.squares / all.n);
    console.log(
      `# ONNX encoder samples: z over ${all.n} latents has mean ${mean.toFixed(3)}, rms ${rms.toFixed(3)}`,
    );
    // standard errors at n = 640: 0.04 (mean), 0.03 (rms); these bounds are > 6 of them
    assert.ok(Math.abs(mean) < 0.25, `z mean ${mean} (a posterior sample has 0)`);
    assert.ok(rms > 0.8 && rms < 1.2, `z rms ${rms} (a posterior sample has 1)`);
  });

  it("img2img runs; given the graph's own posterior sample the image is diffusers' within 1 level", async () => {
    const [, folder, onnx] = (await tiny()).map((f) => f.pipeline);
    const c = pipelineCase("img2img_euler_8_s0.6");
    const recording = new RecordingVae(onnx.models.vae);
    const [fromOnnx] = await generate({ ...onnx.models, vae: recording }, caseRequest(c));
    assert.equal(recording.encoded.length, 1);
    const sample = recording.encoded[0];
    assert.ok(sample.mean.every(Number.isFinite), "the ONNX posterior sample is finite");

    // the sample is a draw from the posterior diffusers computes for this init image
    const image = caseRequest(c).initImage as RgbImage;
    const posterior = await folder.models.vae.encode(imageToTensor(image), [1, 3, image.height, image.width]);
    const z = zStats(sample.mean, posterior.mean, posterior.std);
    assert.ok(
      Math.abs(z.mean) < 0.4 && z.rms > 0.7 && z.rms < 1.3,
      `init image sample: z mean ${z.mean}, rms ${z.rms}`,
    );

    // the rest of the pipeline is deterministic: replay that sample through the diffusers folder
    const replay: VaeNetwork = {
      scalingFactor: folder.models.vae.scalingFactor,
      decode: (latents, shape) => folder.models.vae.decode(latents, shape),
      encode: async () => sample,
    };
    const [replayed] = await generate({ ...folder.models, vae: replay }, caseRequest(c));
    const d = levelDifference(fromOnnx.image, replayed.image);
    assert.ok(
      d.max <= 1,
      `${c.id}: ONNX vs diffusers folder given the same posterior sample: ${d.max} levels`,
    );
    const vsGolden = levelDifference(fromOnnx.image, toRgb(readFixturePng(c.png)));
    console.log(
      `# ${c.id}: ONNX vs replay max ${d.max} level(s); vs diffusers' golden (other posterior draw) mean ${vsGolden.mean.toFixed(1)}, max ${vsGolden.max} levels`,
    );
  });
});
