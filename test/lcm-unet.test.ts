/**
 * LCM-distilled UNets with a guidance embedding (diffusers `time_cond_proj_dim`, e.g.
 * SimianLuo/LCM_Dreamshaper_v7): the embedding against its formula, the configs and files the
 * loader accepts, the UNet's `timestep_cond` path against the goldens and against an equivalent
 * plain UNet, and whole generations (batch 1, no classifier-free guidance).
 *
 * No golden was made with a guidance embedding, so the non-zero cases lean on an identity instead:
 * cond_proj(c) is added to the sinusoid before time_embedding.linear_1, so
 * linear_1(emb + W·c) = A·emb + (b + A·W·c): the LCM UNet with condition c computes exactly what
 * the plain UNet computes with linear_1's bias replaced by b + A·W·c (folded here in float64).
 */
import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type OpenedPipeline, openPipeline } from "../src/engine/open-pipeline.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { buildUNetGraph, UNET_INPUTS, UNET_OUTPUT } from "../src/graph/unet.js";
import { toRgb } from "../src/image/color.js";
import { decodePng } from "../src/image/png.js";
import { type GenerationProgress, generate } from "../src/pipeline/generate.js";
import { guidanceScaleEmbedding, lcmGuidanceCondition } from "../src/pipeline/guidance-embedding.js";
import type { TextEncoderNetwork, UNetNetwork } from "../src/pipeline/networks.js";
import type { GenerationRequest } from "../src/pipeline/request.js";
import { createRandomSource } from "../src/rng/index.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { Session } from "../src/runtime/runtime.js";
import { createScheduler } from "../src/schedulers/registry.js";
import { parseSchedulerConfig } from "../src/schedulers/scheduler-config.js";
import { parseUNetConfig } from "../src/weights/architecture/diffusers-config.js";
import { SD15_UNET } from "../src/weights/architecture/model-config.js";
import { SafetensorsFile } from "../src/weights/formats/safetensors.js";
import { type TensorToWrite, writeSafetensors } from "../src/weights/formats/safetensors-writer.js";
import { loadModel } from "../src/weights/load-model.js";
import type { LoadedWeightsModel } from "../src/weights/loaded-model.js";
import { ModelLoadError } from "../src/weights/model-load-error.js";
import { assertClose, maxDifference } from "./helpers/assert-close.js";
import { fixturePath, golden, manifest } from "./helpers/fixtures.js";
import { TINY_OVERRIDES } from "./helpers/tiny-configs.js";

const TINY = fixturePath("models", "tiny-sd15");
const DIM = 256; // LCM_Dreamshaper_v7's time_cond_proj_dim
const BASE = 8; // the tiny UNet's block_out_channels[0]: cond_proj maps DIM → BASE
const UNET_TOLERANCE: number = manifest().unet.tolerance.max_abs;

/** SimianLuo/LCM_Dreamshaper_v7's files as published (diffusers 0.22.0.dev0). */
const LCM_DREAMSHAPER_V7 = {
  modelIndex: {
    _class_name: "LatentConsistencyModelPipeline",
    _diffusers_version: "0.22.0.dev0",
    feature_extractor: ["transformers", "CLIPImageProcessor"],
    requires_safety_checker: true,
    safety_checker: ["stable_diffusion", "StableDiffusionSafetyChecker"],
    scheduler: ["diffusers", "LCMScheduler"],
    text_encoder: ["transformers", "CLIPTextModel"],
    tokenizer: ["transformers", "CLIPTokenizer"],
    unet: ["diffusers", "UNet2DConditionModel"],
    vae: ["diffusers", "AutoencoderKL"],
  },
  scheduler: {
    _class_name: "LCMScheduler",
    _diffusers_version: "0.22.0.dev0",
    beta_end: 0.012,
    beta_schedule: "scaled_linear",
    beta_start: 0.00085,
    clip_sample: false,
    clip_sample_range: 1.0,
    dynamic_thresholding_ratio: 0.995,
    num_train_timesteps: 1000,
    original_inference_steps: 50,
    prediction_type: "epsilon",
    rescale_betas_zero_snr: false,
    sample_max_value: 1.0,
    set_alpha_to_one: true,
    steps_offset: 0,
    thresholding: false,
    timestep_scaling: 10.0,
    timestep_spacing: "leading",
    trained_betas: null,
  },
  unet: {
    _class_name: "UNet2DConditionModel",
    _diffusers_version: "0.22.0.dev0",
    act_fn: "silu",
    addition_embed_type: null,
    addition_embed_type_num_heads: 64,
    addition_time_embed_dim: null,
    attention_head_dim: 8,
    attention_type: "default",
    block_out_channels: [320, 640, 1280, 1280],
    center_input_sample: false,
    class_embed_type: null,
    class_embeddings_concat: false,
    conv_in_kernel: 3,
    conv_out_kernel: 3,
    cross_attention_dim: 768,
    cross_attention_norm: null,
    down_block_types: ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    downsample_padding: 1,
    dropout: 0.0,
    dual_cross_attention: false,
    encoder_hid_dim: null,
    encoder_hid_dim_type: null,
    flip_sin_to_cos: true,
    freq_shift: 0,
    in_channels: 4,
    layers_per_block: 2,
    mid_block_only_cross_attention: null,
    mid_block_scale_factor: 1,
    mid_block_type: "UNetMidBlock2DCrossAttn",
    norm_eps: 1e-5,
    norm_num_groups: 32,
    num_attention_heads: null,
    num_class_embeds: null,
    only_cross_attention: false,
    out_channels: 4,
    projection_class_embeddings_input_dim: null,
    resnet_out_scale_factor: 1.0,
    resnet_skip_time_act: false,
    resnet_time_scale_shift: "default",
    reverse_transformer_layers_per_block: null,
    sample_size: 96,
    time_cond_proj_dim: 256,
    time_embedding_act_fn: null,
    time_embedding_dim: null,
    time_embedding_type: "positional",
    timestep_post_act: null,
    transformer_layers_per_block: 1,
    up_block_types: ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    upcast_attention: false,
    use_linear_projection: false,
  },
};

// ---------------------------------------------------------------------------------------------
// temporary models built from the tiny fixture

const tempDirs: string[] = [];
const opened: OpenedPipeline[] = [];
after(async () => {
  for (const p of opened) await p.close();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "sdlite-lcm-"));
  tempDirs.push(dir);
  return dir;
}

function readTinyUnet(): Map<string, { shape: readonly number[]; data: Float32Array }> {
  const file = SafetensorsFile.open(join(TINY, "unet", "diffusion_pytorch_model.safetensors"));
  try {
    return new Map(file.names().map((n) => [n, { shape: file.info(n).shape, data: file.readF32(n) }]));
  } finally {
    file.close();
  }
}
const tinyUnet = readTinyUnet();

/** A deterministic stand-in for a trained cond_proj: N(0, 0.1²) from the torch CPU generator. */
function randomCondProj(seed: number): Float32Array {
  return createRandomSource("cpu", seed)
    .randn([BASE, DIM])
    .map((v) => v * 0.1);
}

interface TinyModelOptions {
  modelIndex?: Record<string, unknown>;
  scheduler?: Record<string, unknown>;
  /** Added to unet/config.json. */
  unetConfig?: Record<string, unknown>;
  /** UNet tensors replaced or added (canonical names). */
  unetTensors?: Record<string, { shape: readonly number[]; data: Float32Array }>;
}

/** The tiny fixture as a diffusers folder with its UNet (and index/scheduler) changed as asked. */
function writeTinyModel(options: TinyModelOptions): string {
  const dir = tempDir();
  for (const part of ["text_encoder", "tokenizer", "vae"])
    cpSync(join(TINY, part), join(dir, part), { recursive: true });
  const json = (path: string) => JSON.parse(readFileSync(join(TINY, path), "utf-8"));
  const write = (path: string, value: unknown) => {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), JSON.stringify(value, null, 2));
  };
  write("model_index.json", options.modelIndex ?? json("model_index.json"));
  write("scheduler/scheduler_config.json", options.scheduler ?? json("scheduler/scheduler_config.json"));
  write("unet/config.json", { ...json("unet/config.json"), ...options.unetConfig });
  const tensors = new Map(tinyUnet);
  for (const [name, t] of Object.entries(options.unetTensors ?? {})) tensors.set(name, t);
  writeSafetensors(
    join(dir, "unet", "diffusion_pytorch_model.safetensors"),
    [...tensors].map(([name, t]): TensorToWrite => ({ name, dtype: "F32", shape: t.shape, data: t.data })),
  );
  return dir;
}

/** An LCM UNet: the tiny UNet plus `time_embedding.cond_proj.weight` [BASE, DIM]. */
function writeLcmModel(condProj: Float32Array, extra: TinyModelOptions = {}): string {
  return writeTinyModel({
    modelIndex: LCM_DREAMSHAPER_V7.modelIndex,
    ...extra,
    unetConfig: { time_cond_proj_dim: DIM },
    unetTensors: { "time_embedding.cond_proj.weight": { shape: [BASE, DIM], data: condProj } },
  });
}

/** linear_1's bias with A·W·c folded in (float64 sums): see the header. */
function foldedLinear1Bias(condProj: Float32Array, cond: Float32Array): Float32Array {
  const a = tinyUnet.get("time_embedding.linear_1.weight")!;
  const bias = tinyUnet.get("time_embedding.linear_1.bias")!.data;
  const [out, inp] = a.shape;
  const v = Array.from({ length: inp }, (_, i) => {
    let s = 0;
    for (let j = 0; j < DIM; j++) s += condProj[i * DIM + j] * cond[j];
    return s;
  });
  return Float32Array.from({ length: out }, (_, k) => {
    let s = bias[k];
    for (let i = 0; i < inp; i++) s += a.data[k * inp + i] * v[i];
    return s;
  });
}

/** The plain tiny UNet with linear_1's bias replaced: equivalent to the LCM UNet fed `cond`. */
function writeFoldedModel(condProj: Float32Array, cond: Float32Array): string {
  return writeTinyModel({
    unetTensors: {
      "time_embedding.linear_1.bias": { shape: [32], data: foldedLinear1Bias(condProj, cond) },
    },
  });
}

async function unetSession(dir: string): Promise<Session> {
  const model = loadModel(dir) as LoadedWeightsModel;
  try {
    const graph = buildUNetGraph(model.unet.weights, model.unet.config, { attention: "mha" });
    return await onnxruntimeNode().createSession(serializeModel(graph), { intraOpNumThreads: 1 });
  } finally {
    model.close();
  }
}

async function open(dir: string, deepCacheInterval?: number): Promise<OpenedPipeline> {
  const p = await openPipeline(dir, { runtime: { cache: false, threads: 1 }, speed: { deepCacheInterval } });
  opened.push(p);
  return p;
}

// ---------------------------------------------------------------------------------------------

describe("guidance-scale embedding (LatentConsistencyModelPipeline.get_guidance_scale_embedding)", () => {
  it("w = 0 is sin(0) = 0 then cos(0) = 1; an odd width is zero-padded at the end", () => {
    const even = guidanceScaleEmbedding(0, 8);
    assert.deepEqual([...even], [0, 0, 0, 0, 1, 1, 1, 1]);
    const odd = guidanceScaleEmbedding(0, 7);
    assert.deepEqual([...odd], [0, 0, 0, 1, 1, 1, 0]);
  });

  it("width 4, w = 1.5: W = 1500, frequencies 1 and 10000^-1, by hand within 1e-6", () => {
    // half = 2, so freq_k = exp(-k·ln(10000)/(2 − 1)): 1 and 1e-4; 1500 is exact in float32
    const expected = [Math.sin(1500), Math.sin(0.15), Math.cos(1500), Math.cos(0.15)];
    assertClose(guidanceScaleEmbedding(1.5, 4), expected, 1e-6, "embedding(1.5, 4)");
  });

  it("matches the formula in float32 (numpy) within 1e-6 with correctly rounded exp/sin/cos, odd width included", () => {
    // Python, float32 throughout: W = f32(w)·1000; e = f32(ln 10000)/(half−1); arg_k = f32(k·−e);
    // freq_k = f32(exp(arg_k)); x_k = W·freq_k; f32(sin x_k), f32(cos x_k); zero pad. Each entry is
    // [index, that value, numpy's own float32 exp/sin/cos]. Library float32 exp is not correctly
    // rounded (numpy: 59 of 128 frequencies are 1 ulp off; torch's SLEEF exp is within 1 ulp), and
    // W multiplies a 1-ulp frequency difference: entries may differ from those by up to W·2⁻²³.
    const references: [number, number, [number, number, number][]][] = [
      [
        7.0, // LCM_Dreamshaper_v7's default guidance 8 → w = 7
        256,
        [
          [0, 0.5068854093551636, 0.5068854689598083],
          [1, 0.8042871356010437, 0.8042871356010437],
          [2, -0.8604797124862671, -0.86072838306427],
          [17, -0.9550836682319641, -0.9550836682319641],
          [63, -0.3223614990711212, -0.32236146926879883],
          [127, 0.6442176103591919, 0.6442176103591919],
          [128, 0.8620134592056274, 0.8620133996009827],
          [129, 0.5942408442497253, 0.5942408442497253],
          [200, 0.9958349466323853, 0.9958349466323853],
          [255, 0.7648422122001648, 0.7648422122001648],
        ],
      ],
      [
        0.5,
        7,
        [
          [0, -0.4677717983722687, -0.4677717983722687],
          [1, -0.9589242935180664, -0.958924412727356],
          [2, 0.049979161471128464, 0.049979161471128464],
          [3, -0.8838492631912231, -0.8838492631912231],
          [4, 0.28366219997406006, 0.28366172313690186],
          [5, 0.9987502694129944, 0.9987502694129944],
          [6, 0, 0],
        ],
      ],
      [
        2.25,
        32,
        [
          [0, 0.5807584524154663, 0.5807584524154663],
          [1, -0.9652712941169739, -0.9652712941169739],
          [5, -0.6912339925765991, -0.6912339925765991],
          [15, 0.22310633957386017, 0.22310633957386017],
          [16, 0.8140759468078613, 0.8140759468078613],
          [17, 0.2612495422363281, 0.2612495422363281],
          [31, 0.9747940897941589, 0.9747940897941589],
        ],
      ],
    ];
    for (const [w, dim, values] of references) {
      const emb = guidanceScaleEmbedding(w, dim);
      assert.equal(emb.length, dim);
      const at = values.map(([i]) => emb[i]);
      const where = `embedding(${w}, ${dim}) at ${values.map(([i]) => i).join(",")}`;
      assertClose(
        at,
        values.map(([, v]) => v),
        1e-6,
        where,
      );
      assertClose(
        at,
        values.map(([, , v]) => v),
        1000 * w * 2 ** -23,
        `${where} vs numpy's float32 exp`,
      );
    }
  });

  it("the pipeline embeds guidance − 1 once per batch item; widths below 4 are refused", () => {
    const two = lcmGuidanceCondition(8, DIM, 2);
    const one = guidanceScaleEmbedding(7, DIM);
    assert.deepEqual([...two.subarray(0, DIM)], [...one]);
    assert.deepEqual([...two.subarray(DIM)], [...one]);
    assert.throws(() => guidanceScaleEmbedding(1, 3), /whole number >= 4/);
  });
});

describe("loading LCM models with a guidance embedding", () => {
  it("LCM_Dreamshaper_v7's unet/config.json is SD1.5's UNet plus time_cond_proj_dim 256", () => {
    assert.deepEqual(parseUNetConfig(LCM_DREAMSHAPER_V7.unet), { ...SD15_UNET, timeCondProjDim: 256 });
    assert.equal("timeCondProjDim" in parseUNetConfig({ time_cond_proj_dim: null }), false);
    for (const bad of [0, 2.5, "256"]) {
      assert.throws(
        () => parseUNetConfig({ time_cond_proj_dim: bad }),
        /"time_cond_proj_dim" must be a positive/,
      );
    }
  });

  it("a LatentConsistencyModelPipeline folder loads (LCMScheduler config, cond_proj weight checked and served)", () => {
    const condProj = randomCondProj(11);
    const dir = writeLcmModel(condProj, { scheduler: LCM_DREAMSHAPER_V7.scheduler });
    const model = loadModel(dir) as LoadedWeightsModel;
    try {
      assert.equal(model.format, "diffusers");
      assert.equal(model.unet.config.timeCondProjDim, DIM);
      assert.deepEqual(model.unet.weights.shape("time_embedding.cond_proj.weight"), [BASE, DIM]);
      assert.deepEqual([...model.unet.weights.get("time_embedding.cond_proj.weight")], [...condProj]);
      assert.equal(model.scheduler.kind, "file");
      const config = parseSchedulerConfig(model.scheduler.kind === "file" ? model.scheduler.config : {});
      // LCM's four steps on the 50-step origin schedule, as diffusers' LCMScheduler sets them
      assert.deepEqual([...createScheduler("LCM", config, 4).timesteps], [999, 759, 499, 259]);
    } finally {
      model.close();
    }
  });

  it("a folder whose config promises a guidance embedding but lacks cond_proj is refused, naming it", () => {
    const dir = writeTinyModel({ unetConfig: { time_cond_proj_dim: DIM } });
    assert.throws(
      () => loadModel(dir),
      (err: unknown) =>
        err instanceof ModelLoadError &&
        /time_embedding\.cond_proj\.weight.*\[8, 256\].*missing/.test(err.message),
    );
  });

  it("a single file with model.diffusion_model.time_embedding.cond_proj.weight is detected as LCM", () => {
    const source = SafetensorsFile.open(fixturePath("single_file", "tiny-sd15-fp16.safetensors"));
    const condProj = randomCondProj(12);
    const path = join(tempDir(), "tiny-lcm.safetensors");
    try {
      writeSafetensors(path, [
        ...source.names().map(
          (name): TensorToWrite => ({
            name,
            dtype: source.info(name).dtype,
            shape: source.info(name).shape,
            data: () => source.readRaw(name).bytes,
          }),
        ),
        {
          name: "model.diffusion_model.time_embedding.cond_proj.weight",
          dtype: "F32",
          shape: [BASE, DIM],
          data: condProj,
        },
      ]);
    } finally {
      source.close();
    }
    const model = loadModel(path, { overrides: TINY_OVERRIDES }) as LoadedWeightsModel;
    try {
      assert.equal(model.unet.config.timeCondProjDim, DIM);
      assert.deepEqual([...model.unet.weights.get("time_embedding.cond_proj.weight")], [...condProj]);
    } finally {
      model.close();
    }
  });
});

describe("UNet graph with timestep_cond", () => {
  const condProj = randomCondProj(5);
  const cond = guidanceScaleEmbedding(7, DIM);
  let lcm: Session;
  let plain: Session;
  let folded: Session;
  const g = golden("unet");
  const c = manifest().unet.cases.find((x: { id: string }) => x.id === "b1_t999");
  const feeds = (batch: number, timestepCond?: Float32Array, condBatch = batch) => {
    const sample = g.readF32(c.sample);
    const context = g.readF32(c.encoder_hidden_states);
    const repeat = (x: Float32Array) =>
      Float32Array.from({ length: x.length * batch }, (_, i) => x[i % x.length]);
    return {
      [UNET_INPUTS.sample]: { dims: [batch, 4, 8, 8], data: repeat(sample) },
      [UNET_INPUTS.timestep]: { dims: [batch], data: new Float32Array(batch).fill(999) },
      [UNET_INPUTS.encoderHiddenStates]: { dims: [batch, 77, 32], data: repeat(context) },
      ...(timestepCond && {
        [UNET_INPUTS.timestepCond]: {
          dims: [condBatch, DIM],
          data: Float32Array.from({ length: condBatch * DIM }, (_, i) => timestepCond[i % DIM]),
        },
      }),
    };
  };
  const run = async (s: Session, f: ReturnType<typeof feeds>) =>
    (await s.run(f, [UNET_OUTPUT]))[UNET_OUTPUT].data as Float32Array;

  before(async () => {
    lcm = await unetSession(writeLcmModel(condProj));
    plain = await unetSession(TINY);
    folded = await unetSession(writeFoldedModel(condProj, cond));
  });
  after(async () => {
    for (const s of [lcm, plain, folded]) await s?.release();
  });

  it("only LCM UNets have the input, [timestep_cond_batch, 256]", () => {
    assert.deepEqual(lcm.inputNames, ["sample", "timestep", "encoder_hidden_states", "timestep_cond"]);
    assert.deepEqual(plain.inputNames, ["sample", "timestep", "encoder_hidden_states"]);
  });

  it(`a zero condition adds nothing (cond_proj has no bias): golden b1_t999 within ${UNET_TOLERANCE}`, async (t) => {
    const out = await run(lcm, feeds(1, new Float32Array(DIM)));
    const d = assertClose(
      out,
      g.readF32(c.out),
      UNET_TOLERANCE,
      "LCM UNet, zero timestep_cond vs golden b1_t999",
    );
    t.diagnostic(`max |diff| ${d.maxAbs.toExponential(2)}`);
  });

  it(`the guidance-8 embedding equals the plain UNet with A·W·c folded into linear_1's bias, within ${UNET_TOLERANCE}`, async (t) => {
    const out = await run(lcm, feeds(1, cond));
    const d = assertClose(out, await run(folded, feeds(1)), UNET_TOLERANCE, "LCM UNet vs folded plain UNet");
    const moved = maxDifference(out, g.readF32(c.out)).maxAbs;
    assert.ok(moved > 1e-2, `the embedding should change the prediction; it moved it by only ${moved}`);
    t.diagnostic(
      `max |diff| ${d.maxAbs.toExponential(2)}; the embedding moved the output by up to ${moved.toFixed(3)}`,
    );
  });

  it("a [1, 256] condition broadcasts over the batch like diffusers", async () => {
    const broadcast = await run(lcm, feeds(2, cond, 1));
    const full = await run(lcm, feeds(2, cond, 2));
    assertClose(broadcast, full, 1e-6, "timestep_cond [1, 256] vs [2, 256]");
    assertClose(full.subarray(full.length / 2), await run(folded, feeds(1)), UNET_TOLERANCE, "batch item 1");
  });
});

describe("generate with an LCM UNet: batch 1, no CFG, guidance through the embedding", () => {
  const lcmCase = manifest().pipelines.cases.find((x: { id: string }) => x.id === "txt2img_lcm_4_nocfg");
  const request = (guidance: number, extra: Partial<GenerationRequest> = {}): GenerationRequest => ({
    prompt: lcmCase.prompt,
    sampler: "LCM",
    steps: 4,
    guidance,
    seed: lcmCase.seed,
    width: 64,
    height: 64,
    ...extra,
  });

  interface UNetCall {
    batch: number;
    contextLength: number;
    timestepCond?: Float32Array;
  }
  /** The pipeline's networks with the UNet's calls and the text encoder's batches recorded. */
  function recorded(p: OpenedPipeline) {
    const calls: UNetCall[] = [];
    const encoded: number[] = [];
    const inner = p.models.unet;
    const unet: UNetNetwork = {
      inChannels: inner.inChannels,
      timeCondProjDim: inner.timeCondProjDim,
      predict(input) {
        const { shape, context, timestepCond } = input;
        calls.push({ batch: shape[0], contextLength: context.length, timestepCond });
        return inner.predict(input);
      },
    };
    const te = p.models.textEncoder;
    const textEncoder: TextEncoderNetwork = {
      hiddenSize: te.hiddenSize,
      encode(ids, batch, clipSkip) {
        encoded.push(batch);
        return te.encode(ids, batch, clipSkip);
      },
    };
    return { models: { ...p.models, unet, textEncoder }, calls, encoded };
  }

  async function latentsPerStep(models: OpenedPipeline["models"], req: GenerationRequest) {
    const steps: Float32Array[] = [];
    const [image] = await generate(models, req, {
      onProgress: (p: GenerationProgress) => {
        if (p.stage === "denoise" && p.latents) steps.push(p.latents);
      },
    });
    return { steps, image };
  }

  it("zero cond_proj at guidance 8: one UNet call per step at batch 1, negative prompt unused, diffusers' LCM fixture reproduced", async (t) => {
    const p = await open(
      writeLcmModel(new Float32Array(BASE * DIM), { scheduler: lcmCase.scheduler_config }),
    );
    assert.equal(p.models.unet.timeCondProjDim, DIM);
    const { models, calls, encoded } = recorded(p);
    const { steps, image } = await latentsPerStep(models, request(8, { negativePrompt: "blurry" }));

    assert.deepEqual(encoded, [1], "the prompt alone is encoded (LCM pipelines take no negative prompt)");
    assert.deepEqual(
      calls.map((x) => x.batch),
      [1, 1, 1, 1],
      "UNet batch per step",
    );
    const expectedCond = lcmGuidanceCondition(8, DIM, 1);
    for (const call of calls) {
      assert.equal(call.contextLength, 77 * 32, "prompt embedding only");
      assert.deepEqual(
        [...(call.timestepCond ?? [])],
        [...expectedCond],
        "timestep_cond = embedding of 8 − 1",
      );
    }
    // cond_proj = 0: the UNet is the plain tiny one, so this is diffusers' LCM run without CFG
    const g = golden("pipelines");
    const perStep = g.readF32(lcmCase.latents_per_step);
    const size = perStep.length / 4;
    let worst = 0;
    steps.forEach((latents, i) => {
      const d = assertClose(
        latents,
        perStep.subarray(i * size, (i + 1) * size),
        1e-3,
        `latents after step ${i}`,
      );
      worst = Math.max(worst, d.maxAbs);
    });
    const expected = toRgb(decodePng(new Uint8Array(readFileSync(fixturePath(lcmCase.png)))));
    const levels = maxDifference(image.image.data, expected.data).maxAbs;
    assert.ok(levels <= 1, `PNG differs by ${levels} levels (at most 1 allowed)`);
    t.diagnostic(`latents max |diff| ${worst.toExponential(2)}, PNG max ${levels} level(s)`);
  });

  it("random cond_proj: guidance 8 equals the folded plain UNet run without guidance; guidance 2 differs", async (t) => {
    const condProj = randomCondProj(9);
    const lcm = await open(writeLcmModel(condProj, { scheduler: lcmCase.scheduler_config }));
    const folded = await open(writeFoldedModel(condProj, guidanceScaleEmbedding(7, DIM)));
    const { models, calls } = recorded(lcm);
    const eight = await latentsPerStep(models, request(8));
    assert.deepEqual(
      calls.map((x) => x.batch),
      [1, 1, 1, 1],
    );
    const reference = await latentsPerStep(folded.models, request(1));
    let worst = 0;
    eight.steps.forEach((latents, i) => {
      const d = assertClose(
        latents,
        reference.steps[i],
        1e-4,
        `LCM (guidance 8) vs folded plain UNet, step ${i}`,
      );
      worst = Math.max(worst, d.maxAbs);
    });
    const two = await latentsPerStep(lcm.models, request(2));
    const apart = maxDifference(two.steps[3], eight.steps[3]).maxAbs;
    assert.ok(apart > 1e-3, `guidance 2 and 8 should give different latents; max difference ${apart}`);
    t.diagnostic(`vs folded: max |diff| ${worst.toExponential(2)}; guidance 2 vs 8: ${apart.toFixed(3)}`);
  });

  it("a batch of 2 runs the UNet at batch 2 with the embedding repeated", async () => {
    const lcm = await open(writeLcmModel(randomCondProj(10)));
    const { models, calls } = recorded(lcm);
    await generate(models, request(4, { steps: 1, batchSize: 2 }));
    assert.equal(calls.length, 1);
    assert.equal(calls[0].batch, 2);
    assert.deepEqual([...(calls[0].timestepCond ?? [])], [...lcmGuidanceCondition(4, DIM, 2)]);
  });

  it("DeepCache: the shallow branch takes the embedding too (same inputs: the full UNet's output)", async (t) => {
    const dir = writeLcmModel(randomCondProj(13));
    const cached = await open(dir, 2);
    const plainRun = await open(dir);
    assert.equal(cached.models.unet.timeCondProjDim, DIM);
    const g = golden("unet");
    const c = manifest().unet.cases.find((x: { id: string }) => x.id === "b1_t999");
    const args = {
      sample: g.readF32(c.sample),
      shape: [1, 4, 8, 8] as const,
      timestep: Float32Array.of(999),
      context: g.readF32(c.encoder_hidden_states),
      tokens: 77,
    };
    const cond8 = lcmGuidanceCondition(8, DIM, 1);
    const expected = await plainRun.models.unet.predict({ ...args, timestepCond: cond8 });
    const run = cached.models.unet.startRun?.();
    assert.ok(run, "a DeepCache UNet starts runs");
    const full = await run.predict({ ...args, timestepCond: cond8 });
    const shallow = await run.predict({ ...args, timestepCond: cond8 });
    assertClose(full, expected, 1e-5, "DeepCache full call vs plain UNet");
    const d = assertClose(
      shallow,
      expected,
      1e-4,
      "DeepCache shallow call (feature from the same inputs) vs plain UNet",
    );
    await run.predict({ ...args, timestepCond: cond8 }); // call 3: full again, then call 4 is shallow
    const other = await run.predict({ ...args, timestepCond: lcmGuidanceCondition(2, DIM, 1) });
    const moved = maxDifference(other, shallow).maxAbs;
    assert.ok(
      moved > 1e-4,
      `the shallow call should use timestep_cond; a different guidance moved it by ${moved}`,
    );
    await assert.rejects(run.predict(args), /needs its guidance embedding "timestep_cond" \[batch, 256\]/);
    t.diagnostic(`shallow vs plain max |diff| ${d.maxAbs.toExponential(2)}`);
  });
});
