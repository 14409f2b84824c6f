/**
 * SD 2.x end to end against diffusers (sd2/goldens/pipelines.safetensors): SD-Turbo's 1- and 4-step
 * Euler with trailing spacing and no CFG, SD 2.1-base DDIM with a negative prompt and Euler a at
 * 48x64, SD 2.1-768's v-prediction DDIM, each reproduced from its seed through the engine with the
 * case's scheduler config; the v-prediction case again from the fp16 single file, told "v" by an
 * A1111 .yaml beside it.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { type OpenedPipeline, openPipeline } from "../src/engine/open-pipeline.js";
import { buildTextEncoderGraph } from "../src/graph/text-encoder.js";
import { buildUNetGraph } from "../src/graph/unet.js";
import { buildVaeDecoderGraph } from "../src/graph/vae.js";
import { writeModel } from "../src/graph/write-model.js";
import { concat } from "../src/pipeline/denoise.js";
import { generate, type PipelineModels } from "../src/pipeline/generate.js";
import { encodePrompt } from "../src/pipeline/prompt-encoder.js";
import { TorchCpuGenerator } from "../src/rng/index.js";
import { createScheduler } from "../src/schedulers/registry.js";
import { parseSchedulerConfig } from "../src/schedulers/scheduler-config.js";
import { loadModel } from "../src/weights/load-model.js";
import type { LoadedWeightsModel } from "../src/weights/loaded-model.js";
import { assertClose } from "./helpers/assert-close.js";
import { fixturePath } from "./helpers/fixtures.js";
import { caseRequest, checkPipelineCase, type PipelineCase } from "./helpers/pipeline-cases.js";
import {
  SD2_FOLDER,
  SD2_SINGLE_FILE,
  sd2Golden,
  sd2Manifest,
  sd2Path,
  sd2SchedulerConfig,
} from "./helpers/sd2-fixtures.js";

interface Sd2Case extends PipelineCase {
  readonly scheduler_config_file: string;
  readonly do_classifier_free_guidance: boolean;
  readonly init_noise_sigma: number;
  readonly prompt_embeds: string;
  readonly initial_latents: string;
  readonly final_latents: string;
  readonly image: string;
}

const cases: Sd2Case[] = sd2Manifest().pipelines.cases.map((c: Sd2Case) => ({ ...c, png: `sd2/${c.png}` }));
const opened: OpenedPipeline[] = [];
const dir = mkdtempSync(join(tmpdir(), "sdlite-sd2-pipelines-"));
after(async () => {
  for (const p of opened) await p.close();
  rmSync(dir, { recursive: true, force: true });
});

async function open(path: string, options: Parameters<typeof openPipeline>[1] = {}): Promise<OpenedPipeline> {
  const p = await openPipeline(path, { runtime: { cache: false, threads: 1 }, ...options });
  opened.push(p);
  return p;
}

async function runCase(models: PipelineModels, c: Sd2Case) {
  const r = await checkPipelineCase(models, c, sd2Golden("pipelines"));
  console.log(
    `# ${c.id}: latents max |diff| ${r.worstLatent.toExponential(2)}, PNG max ${r.worstLevel} level(s)`,
  );
}

describe("SD 2.x pipelines reproduce the diffusers fixtures", () => {
  it("tiny-sd2 folder: every case with its scheduler config (Turbo 1 and 4 steps, DDIM, v-prediction DDIM, Euler a 48x64)", async () => {
    // the SD2 fixtures' tolerances are the SD1.5 ones checkPipelineCase applies
    assert.deepEqual(sd2Manifest().pipelines.tolerance.latents_per_step, { max_abs: 1e-3 });
    const pipeline = await open(SD2_FOLDER);
    assert.equal(pipeline.model.profile.family, "sd2");
    assert.equal(pipeline.models.tokenizer.padId, 0);
    for (const c of cases) {
      const schedulerConfig = parseSchedulerConfig(sd2SchedulerConfig(c.scheduler_config_file));
      await runCase({ ...pipeline.models, schedulerConfig }, c);
    }
  });

  it("ONNX pipeline folder (the built graphs written out, SD-Turbo's scheduler config): Turbo 1 step as it is", async () => {
    const onnx = join(dir, "tiny-sd-turbo-onnx");
    const model = loadModel(SD2_FOLDER) as LoadedWeightsModel;
    try {
      writeModel(
        buildTextEncoderGraph(model.textEncoder.weights, model.textEncoder.config),
        join(onnx, "text_encoder"),
      );
      writeModel(buildUNetGraph(model.unet.weights, model.unet.config), join(onnx, "unet"));
      writeModel(buildVaeDecoderGraph(model.vae.weights, model.vae.config), join(onnx, "vae_decoder"));
    } finally {
      model.close();
    }
    symlinkSync(join(SD2_FOLDER, "tokenizer"), join(onnx, "tokenizer"));
    mkdirSync(join(onnx, "scheduler"));
    copyFileSync(
      sd2Path("scheduler_configs", "sd-turbo-epsilon-trailing.json"),
      join(onnx, "scheduler", "scheduler_config.json"),
    );
    writeFileSync(
      join(onnx, "model_index.json"),
      JSON.stringify({ _class_name: "OnnxStableDiffusionPipeline" }),
    );
    const pipeline = await open(onnx);
    assert.equal(pipeline.model.format, "onnx");
    assert.deepEqual(
      { ...pipeline.model.profile },
      { family: "sd2", turbo: true, predictionType: "epsilon", predictionTypeFrom: "scheduler-config" },
    );
    await runCase(pipeline.models, cases.find((x) => x.id === "turbo_euler_trailing_1") as Sd2Case);
  });

  it("fp16 single file with an A1111 .yaml (parameterization v, 4-channel heads) and group counts: the v-prediction case as it is", async () => {
    const file = join(dir, "tiny-sd2-768-v.safetensors");
    copyFileSync(SD2_SINGLE_FILE, file);
    writeFileSync(
      join(dir, "tiny-sd2-768-v.yaml"),
      [
        "model:",
        "  target: ldm.models.diffusion.ddpm.LatentDiffusion",
        "  params:",
        '    parameterization: "v"',
        "    scale_factor: 0.18215",
        "    unet_config:",
        "      params:",
        "        num_head_channels: 4 # 64 in SD 2.x",
        "        use_linear_in_transformer: True",
        "        context_dim: 32",
        "",
      ].join("\n"),
    );
    writeFileSync(
      `${file}.sdlite.json`,
      JSON.stringify({
        unet: { normNumGroups: 4 },
        vae: { normNumGroups: 4 },
        textEncoder: { numAttentionHeads: 4 },
      }),
    );
    const pipeline = await open(file);
    assert.deepEqual(
      { ...pipeline.model.profile },
      { family: "sd2", turbo: false, predictionType: "v_prediction", predictionTypeFrom: "override" },
    );
    assert.equal(pipeline.models.schedulerConfig.predictionType, "v_prediction");
    const c = cases.find((x) => x.id === "v_ddim_6_cfg7") as Sd2Case;
    await runCase(pipeline.models, c);
  });

  it("--fast's parts on SD 2.x: int8 and DeepCache build and run; DeepCache at 1 step is the plain image (its first call is always whole)", async () => {
    const c = cases.find((x) => x.id === "turbo_euler_trailing_4") as Sd2Case;
    const schedulerConfig = parseSchedulerConfig(sd2SchedulerConfig(c.scheduler_config_file));
    const image = async (options: Parameters<typeof openPipeline>[1], steps: number) => {
      const p = await open(SD2_FOLDER, options);
      const [out] = await generate({ ...p.models, schedulerConfig }, { ...caseRequest(c), steps });
      return out.image.data;
    };
    const plain1 = await image({}, 1);
    assert.deepEqual(await image({ speed: { deepCacheInterval: 3 } }, 1), plain1, "DeepCache, 1 step");
    const plain4 = await image({}, 4);
    const fast4 = await image({ speed: { deepCacheInterval: 3, unetQuantization: "int8" } }, 4);
    const taesd4 = await image(
      { speed: { decoder: "taesd" }, taesd: fixturePath("models", "tiny-taesd") },
      4,
    );
    let worst = 0;
    for (let i = 0; i < plain4.length; i++) worst = Math.max(worst, Math.abs(plain4[i] - fast4[i]));
    console.log(`# int8 + DeepCache 3 vs plain, Turbo 4 steps (tiny random weights): max ${worst} level(s)`);
    assert.ok(worst > 0, "int8 + DeepCache change the computation");
    assert.notDeepEqual(taesd4, plain4, "TAESD decodes instead of the VAE");
  });

  it("every case's other goldens: prompt embeddings, initial latents (randn · init_noise_sigma), the image from the final latents", async () => {
    const pipeline = await open(SD2_FOLDER);
    const { tokenizer, textEncoder, vae } = pipeline.models;
    const g = sd2Golden("pipelines");
    for (const c of cases) {
      const texts = c.do_classifier_free_guidance ? [c.negative_prompt ?? "", c.prompt] : [c.prompt];
      const embeds = await Promise.all(texts.map((t) => encodePrompt(t, tokenizer, textEncoder)));
      assertClose(
        concat(embeds.map((e) => e.data)),
        g.readF32(c.prompt_embeds),
        1e-4,
        `${c.id} prompt_embeds`,
      );

      const config = parseSchedulerConfig(sd2SchedulerConfig(c.scheduler_config_file));
      const sigma = createScheduler(c.sampler, config, c.steps).initNoiseSigma;
      assertClose([sigma], [c.init_noise_sigma], 1e-5, `${c.id} init_noise_sigma`);
      const [h, w] = [c.height / 8, c.width / 8];
      const initial = new TorchCpuGenerator(c.seed).randn([1, 4, h, w]).map((v) => v * sigma);
      assertClose(initial, g.readF32(c.initial_latents), 1e-4, `${c.id} initial_latents`);

      // the VAE on diffusers' own final latents, as [0, 1] NHWC like the golden image
      const decoded = await vae.decode(g.readF32(c.final_latents), [1, 4, h, w]);
      const [H, W] = [c.height, c.width];
      const nhwc = new Float32Array(H * W * 3);
      for (let ch = 0; ch < 3; ch++) {
        for (let i = 0; i < H * W; i++) {
          nhwc[i * 3 + ch] = Math.min(1, Math.max(0, decoded[ch * H * W + i] / 2 + 0.5));
        }
      }
      assertClose(nhwc, g.readF32(c.image), 2e-3, `${c.id} image`);
    }
  });
});
