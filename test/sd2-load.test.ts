/**
 * Loading SD 2.x: detection of a single file in OpenCLIP's layout (the tiny fixture with what its
 * shapes cannot tell; a full-size SD 2.1 header with the defaults alone), the same weights as the
 * diffusers folder tensor for tensor, prediction type from overrides, A1111's .yaml and what files
 * themselves say, and each format's profile, tokenizer and scheduler.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseArchitectureOverrides } from "../src/weights/architecture/architecture-overrides.js";
import { classifyWeightFile, detectLdmCheckpoint } from "../src/weights/architecture/detect-architecture.js";
import { layersToUse } from "../src/weights/architecture/detect-open-clip.js";
import { overridesFromLdmConfig, readOverridesFile } from "../src/weights/architecture/ldm-yaml-config.js";
import { SD2_TEXT_ENCODER, SD15_VAE, SD21_UNET } from "../src/weights/architecture/model-config.js";
import { type CheckpointConfigs, ldmCheckpointKeys } from "../src/weights/key-maps/ldm-key-map.js";
import { numelOf } from "../src/weights/key-maps/tensor-mapping.js";
import { loadModel } from "../src/weights/load-model.js";
import type { LoadedWeightsModel } from "../src/weights/loaded-model.js";
import { predictionTypeFromFile } from "../src/weights/model-profile.js";
import {
  CHECKPOINT_PRESETS,
  randomCheckpointTensors,
  writeRandomCheckpoint,
} from "../src/weights/random-checkpoint.js";
import { headerShapes, refusal } from "./helpers/model-load-assertions.js";
import { SD2_FOLDER, SD2_SINGLE_FILE, sd2Manifest, TINY_SD2_OVERRIDES } from "./helpers/sd2-fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "sdlite-sd2-load-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of the tiny single file with extra `__metadata__`, extra (empty) tensors, renamed tensors. */
function variantOf(
  name: string,
  metadata: Record<string, string>,
  emptyTensors: string[] = [],
  renames: Record<string, string> = {},
): string {
  const bytes = readFileSync(SD2_SINGLE_FILE);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf-8"));
  const data = bytes.subarray(8 + headerLength);
  header.__metadata__ = { ...header.__metadata__, ...metadata };
  for (const t of emptyTensors) {
    header[t] = { dtype: "F32", shape: [0], data_offsets: [data.length, data.length] };
  }
  for (const [from, to] of Object.entries(renames)) {
    header[to] = header[from];
    delete header[from];
  }
  const json = Buffer.from(JSON.stringify(header), "utf-8");
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([length, json, data]));
  writeFileSync(`${path}.sdlite.json`, JSON.stringify(TINY_SD2_OVERRIDES));
  return path;
}

test("tiny SD2 single file: OpenCLIP layout detected, its shapes + the README's values give the folder's configs", () => {
  const shapes = headerShapes(SD2_SINGLE_FILE);
  assert.equal(classifyWeightFile([...shapes.keys()], "tiny-sd2"), "ldm-checkpoint");
  const d = detectLdmCheckpoint(shapes, "tiny-sd2", TINY_SD2_OVERRIDES);
  const folder = loadModel(SD2_FOLDER) as LoadedWeightsModel;
  try {
    assert.equal(d.family, "sd2");
    assert.equal(d.openClipBlocks, 4);
    assert.deepEqual(d.unet.config, folder.unet.config);
    assert.deepEqual(d.vae?.config, folder.vae.config);
    assert.deepEqual(d.textEncoder?.config, folder.textEncoder.config);
    assert.equal(d.textEncoder?.assumed.hiddenAct, "default", "gelu is SD 2.x's default");
    const notInFile = sd2Manifest().single_file.architecture_not_in_file;
    assert.deepEqual(d.unet.config.attentionHeads, notInFile.unet_heads_per_block);
    assert.equal(d.textEncoder?.config.numHiddenLayers, notInFile.text_encoder_layers_to_use);
    assert.equal(d.textEncoder?.config.hiddenAct, notInFile.text_encoder_hidden_act);
  } finally {
    folder.close();
  }
  // the heads' width says the same as the per-block counts
  const byWidth = detectLdmCheckpoint(shapes, "tiny-sd2", {
    ...TINY_SD2_OVERRIDES,
    unet: { normNumGroups: 4, headChannels: 4 },
  });
  assert.deepEqual(byWidth.unet.config.attentionHeads, [2, 4, 8, 8]);
  assert.equal(byWidth.unet.assumed.attentionHeads, "override");
  // without overrides SD 2.x's 64-channel heads cannot fit 8 channels: the message says what to set
  refusal(
    () => detectLdmCheckpoint(shapes, "tiny-sd2"),
    "unsupported-config",
    /heads of 64 channels \(SD 2\.x's value: the file cannot tell\) do not divide width 8.*unet\.headChannels or unet\.attentionHeads/,
  );
});

test("single file and diffusers folder hold the same numbers, tensor for tensor (q/k/v cut from in_proj)", () => {
  const single = loadModel(SD2_SINGLE_FILE, { overrides: TINY_SD2_OVERRIDES }) as LoadedWeightsModel;
  const folder = loadModel(SD2_FOLDER) as LoadedWeightsModel;
  try {
    for (const c of ["unet", "vae", "textEncoder"] as const) {
      const names = folder[c].weights.names().sort();
      assert.deepEqual(single[c].weights.names().sort(), names, `${c} tensor names`);
      for (const name of names) {
        assert.deepEqual(single[c].weights.shape(name), folder[c].weights.shape(name), `${c} ${name} shape`);
        assert.deepEqual(single[c].weights.get(name), folder[c].weights.get(name), `${c} ${name}`);
      }
    }
    assert.deepEqual(single.textEncoder.storedDtypes, ["F16"]);
  } finally {
    single.close();
    folder.close();
  }
});

test("a full-size SD 2.1 header is SD 2.1 with the defaults alone: [5, 10, 20, 20] heads, 23 of 24 OpenCLIP blocks", () => {
  const configs: CheckpointConfigs = {
    unet: SD21_UNET,
    vae: SD15_VAE,
    textEncoder: SD2_TEXT_ENCODER,
    family: "sd2",
  };
  const keys = ldmCheckpointKeys(configs);
  const shapes = new Map(keys.map((k) => [k.key, k.mapping.ldmShape]));
  assert.ok(shapes.has("cond_stage_model.model.transformer.resblocks.23.attn.in_proj_weight"));
  assert.deepEqual(
    shapes.get("cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight"),
    [3072, 1024],
  );
  const d = detectLdmCheckpoint(shapes, "sd21");
  assert.deepEqual(d.unet.config, SD21_UNET);
  assert.deepEqual(d.textEncoder?.config, SD2_TEXT_ENCODER);
  assert.deepEqual(d.vae?.config, SD15_VAE);
  assert.ok(Object.values(d.unet.assumed).every((s) => s === "default"));
  // files converted back from a diffusers folder hold only the 23 blocks SD2 runs: all are used
  assert.equal(layersToUse(24), 23);
  assert.equal(layersToUse(23), 23);
  assert.equal(layersToUse(4), 3);
});

test("a damaged OpenCLIP tower is named: missing and wrongly shaped fused projections", () => {
  const key = "cond_stage_model.model.transformer.resblocks.1.attn.in_proj_weight";
  refusal(
    () => loadModel(variantOf("renamed.safetensors", {}, [], { [key]: `${key}_x` })),
    "missing-tensor",
    /text encoder: tensor "cond_stage_model\.model\.transformer\.resblocks\.1\.attn\.in_proj_weight" \(shape \[96, 32\]\) is missing/,
  );
  const wrong = headerShapes(SD2_SINGLE_FILE);
  wrong.set("cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight", [64, 32]);
  refusal(
    () => detectLdmCheckpoint(wrong, "bad", TINY_SD2_OVERRIDES),
    "unsupported-config",
    /\[96, 32\] \(q, k, v stacked\)/,
  );
});

test("prediction type: what files say (v_pred marker, ModelSpec, kohya), the overrides and A1111's .yaml", () => {
  assert.equal(predictionTypeFromFile(["v_pred"])?.predictionType, "v_prediction");
  assert.equal(
    predictionTypeFromFile([], { "modelspec.prediction_type": "v" })?.predictionType,
    "v_prediction",
  );
  assert.equal(predictionTypeFromFile([], { "modelspec.predict_key": "epsilon" })?.predictionType, "epsilon");
  assert.equal(
    predictionTypeFromFile([], { "modelspec.architecture": "stable-diffusion-v2-768-v" })?.predictionType,
    "v_prediction",
  );
  assert.equal(
    predictionTypeFromFile([], { "modelspec.architecture": "stable-diffusion-v2-512" })?.predictionType,
    "epsilon",
  );
  assert.equal(predictionTypeFromFile([], { ss_v_parameterization: "True" })?.predictionType, "v_prediction");
  assert.equal(predictionTypeFromFile([], { "modelspec.architecture": "stable-diffusion-v1" }), undefined);

  const plain = loadModel(SD2_SINGLE_FILE, { overrides: TINY_SD2_OVERRIDES });
  const told = loadModel(SD2_SINGLE_FILE, {
    overrides: { ...TINY_SD2_OVERRIDES, scheduler: { predictionType: "v_prediction" } },
  });
  const marked = loadModel(variantOf("marked.safetensors", {}, ["v_pred"]));
  const spec = loadModel(
    variantOf("spec.safetensors", { "modelspec.architecture": "stable-diffusion-v2-768-v" }),
  );
  try {
    assert.deepEqual(
      { ...plain.profile },
      { family: "sd2", turbo: false, predictionType: "epsilon", predictionTypeFrom: "default" },
    );
    for (const [m, from] of [
      [told, "override"],
      [marked, "file"],
      [spec, "file"],
    ] as const) {
      assert.equal(m.profile.predictionType, "v_prediction", from);
      assert.equal(m.profile.predictionTypeFrom, from);
      assert.equal(
        m.scheduler.kind === "not-in-format" && m.scheduler.fallback.prediction_type,
        "v_prediction",
      );
    }
    // a single file carries no tokenizer or scheduler: SD 2.1's, from the hub repo diffusers uses
    assert.deepEqual(
      plain.tokenizer.kind === "not-in-format" && [plain.tokenizer.repo, plain.tokenizer.padToken],
      ["stabilityai/stable-diffusion-2-1", "!"],
    );
    assert.equal(
      plain.scheduler.kind === "not-in-format" && plain.scheduler.fallback._class_name,
      "PNDMScheduler",
    );
  } finally {
    for (const m of [plain, told, marked, spec]) m.close();
  }
  refusal(
    () => loadModel(variantOf("ztsnr.safetensors", {}, ["v_pred", "ztsnr"])),
    "unsupported-architecture",
    /zero terminal SNR/,
  );
});

test("A1111's LDM .yaml: parameterization, head width and scale factor; anything else is refused", () => {
  const v2 = {
    model: {
      params: {
        parameterization: "v",
        scale_factor: 0.18215,
        unet_config: {
          params: { num_head_channels: 64, use_linear_in_transformer: true, context_dim: 1024 },
        },
      },
    },
  };
  assert.deepEqual(overridesFromLdmConfig(v2, "v2.yaml"), {
    scheduler: { predictionType: "v_prediction" },
    unet: { headChannels: 64 },
    vae: { scalingFactor: 0.18215 },
  });
  const v1 = { model: { params: { unet_config: { params: { num_heads: 8, num_head_channels: -1 } } } } };
  assert.deepEqual(overridesFromLdmConfig(v1, "v1.yaml"), {
    scheduler: { predictionType: "epsilon" },
    unet: { attentionHeads: 8 },
  });
  refusal(
    () => overridesFromLdmConfig({ foo: 1 }, "x.yaml"),
    "unsupported-config",
    /not an LDM model config/,
  );
  const yaml = join(dir, "bad.yaml");
  writeFileSync(yaml, "model: [unclosed");
  refusal(() => readOverridesFile(yaml), "unsupported-config", /not valid YAML/);
  const json = join(dir, "o.json");
  writeFileSync(
    json,
    JSON.stringify({ scheduler: { prediction_type: "v" }, unet: { attention_head_dim: [5, 10, 20, 20] } }),
  );
  assert.deepEqual(readOverridesFile(json), {
    scheduler: { predictionType: "v_prediction" },
    unet: { attentionHeads: [5, 10, 20, 20] },
  });
  refusal(
    () => parseArchitectureOverrides({ scheduler: { predictionType: "x" } }, "o"),
    "unsupported-config",
    /prediction-type/,
  );
  refusal(() => readOverridesFile(join(dir, "none.json")), "missing-file", /no such file/);
});

test("folders: profile from the scheduler config and sample_size; the overrides' prediction type wins", () => {
  const folder = loadModel(SD2_FOLDER);
  const v = loadModel(SD2_FOLDER, { overrides: { scheduler: { predictionType: "v_prediction" } } });
  try {
    assert.deepEqual(
      { ...folder.profile },
      {
        family: "sd2",
        turbo: false,
        predictionType: "epsilon",
        predictionTypeFrom: "scheduler-config",
        nativeSize: 64,
      },
    );
    assert.equal(folder.tokenizer.kind, "folder");
    assert.equal(v.profile.predictionType, "v_prediction");
    assert.equal(v.scheduler.kind === "file" && v.scheduler.config.prediction_type, "v_prediction");
  } finally {
    folder.close();
    v.close();
  }
});

test("random checkpoints: tiny-sd2 loads without options as the fixture's architecture; SD 2.1 / SD-Turbo shapes detect as SD 2.1", () => {
  const path = join(dir, "random-tiny-sd2.safetensors");
  const result = writeRandomCheckpoint(path, { preset: CHECKPOINT_PRESETS["tiny-sd2"], seed: 3 });
  assert.equal(result.tensors, sd2Manifest().single_file["tiny-sd2-fp16.safetensors"].num_tensors);
  const random = loadModel(path) as LoadedWeightsModel;
  const folder = loadModel(SD2_FOLDER) as LoadedWeightsModel;
  try {
    for (const c of ["unet", "vae", "textEncoder"] as const)
      assert.deepEqual(random[c].config, folder[c].config, c);
    assert.equal(random.profile.family, "sd2");
  } finally {
    random.close();
    folder.close();
  }

  const tensors = randomCheckpointTensors({ preset: CHECKPOINT_PRESETS["sd-turbo"] });
  const params = (prefix: string) =>
    tensors.filter((t) => t.name.startsWith(prefix)).reduce((n, t) => n + numelOf(t.shape), 0);
  assert.equal(params("model.diffusion_model."), 865_910_724, "SD 2.1's UNet");
  assert.equal(params("first_stage_model."), 83_653_863, "SD's VAE");
  // OpenCLIP ViT-H/14's text tower: 24 blocks, ln_final, text_projection, logit_scale
  assert.equal(params("cond_stage_model.model."), 354_032_641);
  const detected = detectLdmCheckpoint(new Map(tensors.map((t) => [t.name, t.shape])), "sd-turbo-random");
  assert.deepEqual(detected.unet.config, SD21_UNET);
  assert.deepEqual(detected.textEncoder?.config, SD2_TEXT_ENCODER);
});
