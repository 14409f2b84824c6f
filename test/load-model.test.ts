import assert from "node:assert/strict";
import {
  closeSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { detectLdmCheckpoint } from "../src/weights/architecture/detect-architecture.js";
import { f32ToF16 } from "../src/weights/formats/dtype.js";
import { SafetensorsFile } from "../src/weights/formats/safetensors.js";
import { type TensorToWrite, writeSafetensors } from "../src/weights/formats/safetensors-writer.js";
import { ldmCheckpointKeys, type Sd1Configs } from "../src/weights/key-maps/ldm-key-map.js";
import { numelOf } from "../src/weights/key-maps/tensor-mapping.js";
import { type LoadModelOptions, loadModel } from "../src/weights/load-model.js";
import type { LoadedModel, LoadedWeightsModel, WeightsComponent } from "../src/weights/loaded-model.js";
import {
  CHECKPOINT_PRESETS,
  randomCheckpointTensors,
  writeRandomCheckpoint,
} from "../src/weights/random-checkpoint.js";
import { maxDifference } from "./helpers/assert-close.js";
import { fixturePath, manifest } from "./helpers/fixtures.js";
import { refusal } from "./helpers/model-load-assertions.js";
import { TINY_OVERRIDES, TINY_SD15 } from "./helpers/tiny-configs.js";
import { writeTorchCheckpoint } from "./helpers/torch-checkpoint-writer.js";

const dir = mkdtempSync(join(tmpdir(), "sdlite-load-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const SINGLE = fixturePath("single_file", "tiny-sd15-fp16.safetensors");
const SINGLE_INPAINT = fixturePath("single_file", "tiny-sd15-inpainting-fp16.safetensors");
const FOLDER = fixturePath("models", "tiny-sd15");
const FOLDER_INPAINT = fixturePath("models", "tiny-sd15-inpaint");

function weightsModel(model: LoadedModel): LoadedWeightsModel {
  assert.notEqual(model.format, "onnx");
  return model as LoadedWeightsModel;
}

function load(path: string, options?: LoadModelOptions): LoadedWeightsModel {
  return weightsModel(loadModel(path, options));
}

/** Every tensor bit for bit: same names, shapes and float32 values (max |diff| must be 0). */
function assertSameWeights(
  label: string,
  actual: WeightsComponent<unknown>,
  expected: WeightsComponent<unknown>,
) {
  assert.deepEqual(actual.weights.names().sort(), expected.weights.names().sort(), `${label}: tensor names`);
  let worst = { maxAbs: 0, name: "" };
  for (const name of expected.weights.names()) {
    assert.deepEqual(actual.weights.shape(name), expected.weights.shape(name), `${label}: shape of ${name}`);
    const a = actual.weights.get(name);
    const e = expected.weights.get(name);
    assert.equal(a.length, e.length, `${label}: length of ${name}`);
    const d = maxDifference(a, e);
    if (d.maxAbs > worst.maxAbs) worst = { maxAbs: d.maxAbs, name };
    assert.ok(
      Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
        Buffer.from(e.buffer, e.byteOffset, e.byteLength),
      ),
      `${label}: ${name} differs, max |diff| ${d.maxAbs} at index ${d.index} (got ${d.actual}, expected ${d.expected})`,
    );
  }
  return worst.maxAbs;
}

test("fp16 single file through the LDM maps == diffusers folder, bit for bit, configs included", () => {
  const single = load(SINGLE, { overrides: TINY_OVERRIDES });
  const folder = load(FOLDER);
  try {
    assert.equal(single.format, "single-file");
    assert.equal(folder.format, "diffusers");
    assert.deepEqual(single.unet.storedDtypes, ["F16"]);
    assert.deepEqual(folder.unet.storedDtypes, ["F32"]);
    for (const c of ["unet", "vae", "textEncoder"] as const) {
      assert.deepEqual(single[c].config, folder[c].config, `${c} config: detected vs config.json`);
      assert.equal(assertSameWeights(c, single[c], folder[c]), 0);
    }
    assert.equal(single.unet.weights.names().length, 686);
    assert.equal(single.vae.weights.names().length, 248);
    assert.equal(single.textEncoder.weights.names().length, 36);
    // the VAE attention kernels [C, C, 1, 1] are served as the linear weights [C, C]
    assert.deepEqual(single.vae.weights.shape("decoder.mid_block.attentions.0.to_q.weight"), [32, 32]);
  } finally {
    single.close();
    folder.close();
  }
});

test("inpainting single file == tiny-sd15-inpaint folder, bit for bit", () => {
  const single = load(SINGLE_INPAINT, { overrides: TINY_OVERRIDES });
  const folder = load(FOLDER_INPAINT);
  try {
    assert.equal(single.inpainting, true);
    assert.equal(folder.inpainting, true);
    for (const c of ["unet", "vae", "textEncoder"] as const) {
      assert.deepEqual(single[c].config, folder[c].config, `${c} config`);
      assert.equal(assertSameWeights(c, single[c], folder[c]), 0);
    }
  } finally {
    single.close();
    folder.close();
  }
});

test("tokenizer and scheduler: folders point at theirs, a single file says it has none", () => {
  const folder = load(FOLDER);
  const single = load(SINGLE, { overrides: TINY_OVERRIDES });
  try {
    assert.deepEqual(folder.tokenizer, { kind: "folder", path: join(FOLDER, "tokenizer") });
    assert.equal(folder.scheduler.kind, "file");
    if (folder.scheduler.kind === "file") {
      assert.deepEqual(folder.scheduler.config, manifest().models["tiny-sd15"].scheduler_config);
    }
    assert.equal(single.tokenizer.kind, "not-in-format");
    assert.equal(single.scheduler.kind, "not-in-format");
    if (single.tokenizer.kind === "not-in-format")
      assert.equal(single.tokenizer.repo, "openai/clip-vit-large-patch14");
    if (single.scheduler.kind === "not-in-format") {
      // the offline fallback is SD1.5's scheduler config, which the fixture folder holds verbatim
      assert.deepEqual(single.scheduler.fallback, manifest().models["tiny-sd15"].scheduler_config);
    }
  } finally {
    folder.close();
    single.close();
  }
});

test("a <checkpoint>.sdlite.json beside the file supplies what the shapes cannot tell", () => {
  const path = join(dir, "sidecar.safetensors");
  symlinkSync(SINGLE, path);
  writeFileSync(
    `${path}.sdlite.json`,
    JSON.stringify({
      unet: { norm_num_groups: 4 },
      vae: { normNumGroups: 4 },
      textEncoder: { numAttentionHeads: 4 },
    }),
  );
  const model = load(path);
  try {
    assert.deepEqual(model.unet.config, TINY_SD15.unet);
    assert.deepEqual(model.textEncoder.config, TINY_SD15.textEncoder);
    assert.equal(model.unet.assumed.normNumGroups, "override");
    assert.equal(model.unet.assumed.attentionHeads, "default");
  } finally {
    model.close();
  }
  // options beat the sidecar
  refusal(
    () => load(path, { overrides: { unet: { normNumGroups: 3 } } }),
    "unsupported-config",
    /normNumGroups 3 \(from the overrides\) does not divide width 8/,
  );
});

/** Rewrites the fixture single file with every tensor converted to `dtype`. */
function rewriteSingleFile(path: string, dtype: "F32" | "BF16"): Map<string, Float32Array> {
  const src = SafetensorsFile.open(SINGLE);
  const expected = new Map<string, Float32Array>();
  const tensors: TensorToWrite[] = src.names().map((name) => {
    const values = src.readF32(name);
    if (dtype === "F32") {
      expected.set(name, values);
      return { name, dtype, shape: src.info(name).shape, data: values };
    }
    // BF16 = the top 16 bits of the float32 (round to nearest even); the loader must widen them back
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    const bf16 = new Uint16Array(values.length);
    const widened = new Float32Array(values.length);
    const wideBits = new Uint32Array(widened.buffer);
    for (let i = 0; i < values.length; i++) {
      bf16[i] = (bits[i] + 0x7fff + ((bits[i] >>> 16) & 1)) >>> 16;
      wideBits[i] = bf16[i] << 16;
    }
    expected.set(name, widened);
    return { name, dtype, shape: src.info(name).shape, data: bf16 };
  });
  writeSafetensors(path, tensors);
  src.close();
  return expected;
}

test("F32 and BF16 single files load to the stored values", () => {
  for (const dtype of ["F32", "BF16"] as const) {
    const path = join(dir, `tiny-${dtype}.safetensors`);
    const expected = rewriteSingleFile(path, dtype);
    const model = load(path, { overrides: TINY_OVERRIDES });
    try {
      assert.deepEqual(model.unet.storedDtypes, [dtype]);
      const ldmKeys = ldmCheckpointKeys(TINY_SD15);
      let worst = 0;
      for (const { key, component, mapping } of ldmKeys) {
        const got = model[component].weights.get(mapping.canonical);
        const d = maxDifference(got, expected.get(key) as Float32Array);
        worst = Math.max(worst, d.maxAbs);
        assert.equal(d.maxAbs, 0, `${dtype} ${key}: max |diff| ${d.maxAbs} at ${d.index}`);
      }
      assert.equal(worst, 0);
    } finally {
      model.close();
    }
  }
});

/** A diffusers folder with an fp16-only UNet, a sharded VAE and the fixture's text encoder. */
function makeVariantFolder(): string {
  const root = join(dir, "variant-folder");
  for (const sub of ["unet", "vae", "text_encoder"]) mkdirSync(join(root, sub), { recursive: true });
  copyFileSync(join(FOLDER, "model_index.json"), join(root, "model_index.json"));
  for (const sub of ["unet", "vae", "text_encoder"])
    copyFileSync(join(FOLDER, sub, "config.json"), join(root, sub, "config.json"));
  symlinkSync(
    join(FOLDER, "text_encoder", "model.safetensors"),
    join(root, "text_encoder", "model.safetensors"),
  );
  const unet = SafetensorsFile.open(join(FOLDER, "unet", "diffusion_pytorch_model.safetensors"));
  writeSafetensors(
    join(root, "unet", "diffusion_pytorch_model.fp16.safetensors"),
    unet.names().map((name) => ({
      name,
      dtype: "F16",
      shape: unet.info(name).shape,
      data: () => f32ToF16(unet.readF32(name)),
    })),
  );
  unet.close();
  const vae = SafetensorsFile.open(join(FOLDER, "vae", "diffusion_pytorch_model.safetensors"));
  const names = vae.names();
  const shards = [
    names.filter((n) => n.startsWith("encoder.")),
    names.filter((n) => !n.startsWith("encoder.")),
  ];
  const weightMap: Record<string, string> = {};
  shards.forEach((shard, i) => {
    const file = `diffusion_pytorch_model-0000${i + 1}-of-00002.safetensors`;
    for (const n of shard) weightMap[n] = file;
    writeSafetensors(
      join(root, "vae", file),
      shard.map((name) => ({ name, dtype: "F32", shape: vae.info(name).shape, data: vae.readF32(name) })),
    );
  });
  vae.close();
  writeFileSync(
    join(root, "vae", "diffusion_pytorch_model.safetensors.index.json"),
    JSON.stringify({ metadata: {}, weight_map: weightMap }),
  );
  return root;
}

test("diffusers folder: .fp16 variant and sharded weights load to the same tensors", () => {
  const root = makeVariantFolder();
  const variant = load(root, { variant: "fp16" });
  const folder = load(FOLDER);
  try {
    assert.deepEqual(variant.unet.storedDtypes, ["F16"]);
    assert.equal(variant.vae.files.length, 2);
    for (const c of ["unet", "vae", "textEncoder"] as const) {
      assert.equal(assertSameWeights(c, variant[c], folder[c]), 0);
    }
  } finally {
    variant.close();
    folder.close();
  }
});

/** The single file's VAE tensors, re-written as a standalone VAE file. */
function writeVaeFile(path: string, prefix: string): void {
  const src = SafetensorsFile.open(SINGLE);
  const names = src.names().filter((n) => n.startsWith("first_stage_model."));
  writeSafetensors(
    path,
    names.map((n) => ({
      name: prefix + n.slice("first_stage_model.".length),
      dtype: "F16",
      shape: src.info(n).shape,
      data: src.readRaw(n).bytes,
    })),
  );
  src.close();
}

test("a standalone VAE (LDM with/without prefix, diffusers file or folder) replaces the model's", () => {
  const bare = join(dir, "vae-bare.safetensors");
  const prefixed = join(dir, "vae-prefixed.safetensors");
  writeVaeFile(bare, "");
  writeVaeFile(prefixed, "first_stage_model.");
  const reference = load(FOLDER);
  try {
    for (const vae of [
      bare,
      prefixed,
      join(FOLDER, "vae", "diffusion_pytorch_model.safetensors"),
      join(FOLDER, "vae"),
    ]) {
      const model = load(SINGLE, { overrides: TINY_OVERRIDES, vae });
      try {
        assert.equal(model.vaeReplacedBy, vae);
        assert.ok(!model.vae.files.includes(SINGLE), `${vae}: the VAE must come from the given file`);
        assert.deepEqual(model.vae.config, reference.vae.config, `${vae}: config`);
        assert.equal(assertSameWeights(`vae from ${vae}`, model.vae, reference.vae), 0);
      } finally {
        model.close();
      }
    }
  } finally {
    reference.close();
  }
  refusal(() => load(bare), "not-a-model", /standalone VAE; give it as the VAE/);
  refusal(() => load(FOLDER, { vae: SINGLE }), "not-a-model", /full SD1\.x checkpoint, not a VAE/);
});

test("TAESD from its folder or its weights file, next to any format", () => {
  const cfg = manifest().models["tiny-taesd"].config;
  const expectedConfig = {
    encoderBlockOutChannels: cfg.encoder_block_out_channels,
    decoderBlockOutChannels: cfg.decoder_block_out_channels,
    numEncoderBlocks: cfg.num_encoder_blocks,
    numDecoderBlocks: cfg.num_decoder_blocks,
    latentChannels: cfg.latent_channels,
    latentMagnitude: cfg.latent_magnitude,
    latentShift: cfg.latent_shift,
    scalingFactor: cfg.scaling_factor,
  };
  const taesdDir = fixturePath("models", "tiny-taesd");
  const fromFolder = load(FOLDER, { taesd: taesdDir });
  const fromFile = load(SINGLE, {
    overrides: TINY_OVERRIDES,
    taesd: join(taesdDir, "diffusion_pytorch_model.safetensors"),
  });
  try {
    assert.deepEqual(fromFolder.taesd?.config, expectedConfig);
    assert.deepEqual(fromFile.taesd?.config, expectedConfig);
    assert.equal(fromFolder.taesd?.weights.names().length, 134);
    assert.equal(
      assertSameWeights(
        "taesd",
        fromFile.taesd as WeightsComponent<unknown>,
        fromFolder.taesd as WeightsComponent<unknown>,
      ),
      0,
    );
  } finally {
    fromFolder.close();
    fromFile.close();
  }
  refusal(
    () => load(FOLDER, { taesd: SINGLE }),
    "not-a-model",
    /expected TAESD weights.*full SD1\.x checkpoint/,
  );
});

test("ONNX pipeline folder: detected and described from the graphs", () => {
  const onnxDir = fixturePath("models", "tiny-sd15-onnx");
  const model = loadModel(onnxDir);
  try {
    assert.equal(model.format, "onnx");
    if (model.format !== "onnx") return;
    assert.equal(model.inpainting, false);
    const io = (c: typeof model.unet) => ({
      inputs: c.inputs.map((i) => [i.name, i.elementType, i.shape.length]),
      outputs: c.outputs.map((o) => [o.name, o.elementType]),
    });
    // the README's ONNX table
    assert.deepEqual(io(model.textEncoder), {
      inputs: [["input_ids", "int32", 2]],
      outputs: [
        ["last_hidden_state", "float32"],
        ["pooler_output", "float32"],
      ],
    });
    assert.deepEqual(io(model.unet), {
      inputs: [
        ["sample", "float32", 4],
        ["timestep", "float32", 1],
        ["encoder_hidden_states", "float32", 3],
      ],
      outputs: [["out_sample", "float32"]],
    });
    assert.deepEqual(io(model.vaeDecoder), {
      inputs: [["latent_sample", "float32", 4]],
      outputs: [["sample", "float32"]],
    });
    assert.deepEqual(io(model.vaeEncoder as typeof model.unet), {
      inputs: [["sample", "float32", 4]],
      outputs: [["latent_sample", "float32"]],
    });
    assert.equal(model.unet.inputs[2].shape[2], 32, "encoder_hidden_states width");
    assert.equal(model.unet.convInputChannels.sample, 4);
    assert.deepEqual(model.unet.externalDataFiles, ["weights.pb"]);
    assert.deepEqual(model.textEncoder.externalDataFiles, []);
    assert.ok(
      model.vaeEncoder?.randomOps.includes("RandomNormalLike"),
      "vae_encoder samples with its own randomness",
    );
    assert.deepEqual(model.vaeDecoder.randomOps, []);
    assert.equal(model.unet.modelPath, join(onnxDir, "unet", "model.onnx"));
    assert.deepEqual(model.tokenizer, { kind: "folder", path: join(onnxDir, "tokenizer") });
    assert.equal(model.scheduler.kind, "file");
  } finally {
    model.close();
  }
});

test("ONNX folder with its external weights missing is refused naming the file", () => {
  const root = join(dir, "onnx-broken");
  const src = fixturePath("models", "tiny-sd15-onnx");
  for (const sub of ["text_encoder", "unet", "vae_decoder"]) {
    mkdirSync(join(root, sub), { recursive: true });
    symlinkSync(join(src, sub, "model.onnx"), join(root, sub, "model.onnx"));
  }
  refusal(
    () => loadModel(root),
    "missing-file",
    /unet[/\\]weights\.pb: external weights of unet\/model\.onnx are missing/,
  );
});

/** Writes a single file from the tiny configs with zero data; `edit` may drop/rename/reshape entries. */
function craftCheckpoint(
  name: string,
  edit: (
    tensors: { name: string; shape: readonly number[] }[],
  ) => { name: string; shape: readonly number[] }[],
  configs: Sd1Configs = { ...TINY_SD15, textEncoder: { ...TINY_SD15.textEncoder, vocabSize: 64 } },
): string {
  const path = join(dir, name);
  const tensors = edit(ldmCheckpointKeys(configs).map((k) => ({ name: k.key, shape: k.mapping.ldmShape })));
  writeSafetensors(
    path,
    tensors.map((t) => ({
      name: t.name,
      dtype: "F16",
      shape: t.shape,
      data: new Uint16Array(numelOf(t.shape)),
    })),
  );
  return path;
}

test("crafted files: SDXL, LoRA, empty, unknown, truncated are refused saying what was found", () => {
  const sdxl = craftCheckpoint("sdxl.safetensors", (ts) => [
    { name: "conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight", shape: [6, 2] },
    { name: "model.diffusion_model.label_emb.0.0.weight", shape: [4, 2] },
    ...ts.filter((t) => t.name.startsWith("model.")),
  ]);
  refusal(
    () => loadModel(sdxl),
    "unsupported-architecture",
    /this is an SDXL model \(found "conditioner\.embedders\.1/,
  );
  const xlContext = craftCheckpoint("xl-context.safetensors", (ts) => ts, {
    ...TINY_SD15,
    unet: { ...TINY_SD15.unet, crossAttentionDim: 2048 },
  });
  refusal(
    () => loadModel(xlContext, { overrides: TINY_OVERRIDES }),
    "unsupported-architecture",
    /cross-attention dim 2048/,
  );

  refusal(
    () => loadModel(fixturePath("lora", "tiny-sd15-kohya.safetensors")),
    "not-a-model",
    /LoRA.*lora_(te|unet)_/,
  );
  refusal(
    () => loadModel(fixturePath("lora", "tiny-sd15-diffusers-peft.safetensors")),
    "not-a-model",
    /LoRA.*lora_[AB]/,
  );

  const empty = join(dir, "empty.safetensors");
  writeFileSync(empty, "");
  refusal(() => loadModel(empty), "unreadable", /too short for a safetensors header/);
  const noTensors = join(dir, "no-tensors.safetensors");
  writeSafetensors(noTensors, []);
  refusal(() => loadModel(noTensors), "unreadable", /contains no tensors/);
  const unknown = join(dir, "unknown.safetensors");
  writeSafetensors(unknown, [
    { name: "backbone.stem.weight", dtype: "F32", shape: [2], data: new Float32Array(2) },
  ]);
  refusal(
    () => loadModel(unknown),
    "unknown-format",
    /unrecognised weights: 1 tensors with top-level names "backbone"/,
  );

  // the first 3 MB of the 5 MB fixture: the safetensors reader's own diagnosis must reach the user
  const truncated = join(dir, "truncated.safetensors");
  const head = new Uint8Array(3_000_000);
  const fd = openSync(SINGLE, "r");
  readSync(fd, head, 0, head.length, 0);
  closeSync(fd);
  writeFileSync(truncated, head);
  refusal(
    () => loadModel(truncated, { overrides: TINY_OVERRIDES }),
    "unreadable",
    /not a readable safetensors file: tensor ".*": data_offsets \[\d+, \d+\] run past the end of the data .*truncated\?/,
  );
});

test("crafted files: a missing, wrong-shaped or unexpected tensor is named", () => {
  const missingName = "model.diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_v.weight";
  const missing = craftCheckpoint("missing.safetensors", (ts) => ts.filter((t) => t.name !== missingName));
  refusal(
    () => loadModel(missing, { overrides: TINY_OVERRIDES }),
    "missing-tensor",
    /UNet: tensor "model\.diffusion_model\.middle_block\.1\.transformer_blocks\.0\.attn2\.to_v\.weight" \(shape \[32, 32\]\) is missing/,
  );
  const wrongName = "first_stage_model.decoder.up.2.block.1.conv2.weight";
  const wrong = craftCheckpoint("wrong-shape.safetensors", (ts) =>
    ts.map((t) => (t.name === wrongName ? { name: t.name, shape: [32, 32, 1, 1] } : t)),
  );
  refusal(
    () => loadModel(wrong, { overrides: TINY_OVERRIDES }),
    "wrong-shape",
    /VAE: tensor "first_stage_model\.decoder\.up\.2\.block\.1\.conv2\.weight" has shape \[32, 32, 1, 1\], expected \[32, 32, 3, 3\]/,
  );
  const extra = craftCheckpoint("extra.safetensors", (ts) => [
    ...ts,
    { name: "model.diffusion_model.input_blocks.1.0.extra_layer.weight", shape: [2] },
  ]);
  refusal(
    () => loadModel(extra, { overrides: TINY_OVERRIDES }),
    "unexpected-tensor",
    /UNet: 1 tensor\(s\) the detected architecture has no place for: "model\.diffusion_model\.input_blocks\.1\.0\.extra_layer\.weight"/,
  );
  // harmless extras real files carry are accepted
  const realistic = craftCheckpoint("realistic.safetensors", (ts) => [
    ...ts,
    { name: "cond_stage_model.transformer.text_model.embeddings.position_ids", shape: [1, 77] },
    { name: "alphas_cumprod", shape: [1000] },
    { name: "model_ema.decay", shape: [] },
  ]);
  const model = load(realistic, { overrides: TINY_OVERRIDES });
  assert.ok(!model.textEncoder.weights.has("text_model.embeddings.position_ids"));
  model.close();
});

test("pickles the restricted reader cannot take are refused with a conversion command", () => {
  const ckpt = join(dir, "model.ckpt");
  writeFileSync(ckpt, Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0])); // a zip header and nothing else
  refusal(
    () => loadModel(ckpt),
    "pickle",
    /cannot be read safely \(no zip end-of-central-directory record\).*python -c .*torch\.load\('model\.ckpt', map_location='cpu', weights_only=True\).*'model\.safetensors'/,
  );
  const disguised = join(dir, "disguised.safetensors");
  writeFileSync(disguised, Buffer.from([0x80, 0x02, 0x7d, 0x71, 0x00, 0x2e])); // a bare protocol-2 pickle of {}
  refusal(
    () => loadModel(disguised),
    "pickle",
    /in a form sdlite does not read \(only torch\.save zip archives are\)/,
  );
  const binFolder = join(dir, "bin-folder");
  for (const sub of ["unet", "text_encoder", "vae"]) mkdirSync(join(binFolder, sub), { recursive: true });
  copyFileSync(join(FOLDER, "model_index.json"), join(binFolder, "model_index.json"));
  copyFileSync(join(FOLDER, "unet", "config.json"), join(binFolder, "unet", "config.json"));
  writeFileSync(join(binFolder, "unet", "diffusion_pytorch_model.bin"), "");
  refusal(
    () => loadModel(binFolder),
    "pickle",
    /diffusion_pytorch_model\.bin: this is a pickled PyTorch checkpoint in a form/,
  );
});

test("the fp16 checkpoint as a torch.save .ckpt loads through the restricted reader, bit for bit", () => {
  const src = SafetensorsFile.open(SINGLE);
  const ckpt = join(dir, "tiny-sd15-fp16.ckpt");
  writeTorchCheckpoint(
    ckpt,
    src
      .names()
      .map((name) => ({ name, dtype: "F16", shape: src.info(name).shape, data: src.readRaw(name).bytes })),
  );
  src.close();
  const fromCkpt = load(ckpt, { overrides: TINY_OVERRIDES });
  const folder = load(FOLDER);
  try {
    assert.equal(fromCkpt.format, "single-file");
    assert.deepEqual(fromCkpt.unet.storedDtypes, ["F16"]);
    for (const c of ["unet", "vae", "textEncoder"] as const) {
      assert.deepEqual(fromCkpt[c].config, folder[c].config, c);
      assert.equal(assertSameWeights(c, fromCkpt[c], folder[c]), 0);
    }
  } finally {
    fromCkpt.close();
    folder.close();
  }
});

test("diffusers folders of other pipelines are refused from model_index.json", () => {
  const xl = join(dir, "xl-folder");
  mkdirSync(xl);
  writeFileSync(join(xl, "model_index.json"), JSON.stringify({ _class_name: "StableDiffusionXLPipeline" }));
  refusal(() => loadModel(xl), "unsupported-architecture", /SDXL pipeline \(StableDiffusionXLPipeline\)/);
  // SD 2.x shares StableDiffusionPipeline: judged by its components, not refused by class name
  const sd2 = join(dir, "sd2-folder");
  mkdirSync(join(sd2, "unet"), { recursive: true });
  writeFileSync(join(sd2, "model_index.json"), JSON.stringify({ _class_name: "StableDiffusionPipeline" }));
  writeFileSync(
    join(sd2, "unet", "config.json"),
    JSON.stringify({ _class_name: "UNet2DConditionModel", cross_attention_dim: 1024 }),
  );
  refusal(() => loadModel(sd2), "missing-file", /diffusion_pytorch_model\.safetensors/);
});

test("random checkpoint (tiny preset) is written with its sidecar and detected without options", () => {
  const path = join(dir, "random-tiny.safetensors");
  const result = writeRandomCheckpoint(path, { preset: CHECKPOINT_PRESETS.tiny, seed: 7 });
  assert.equal(result.tensors, 970);
  const model = load(path);
  try {
    for (const c of ["unet", "vae", "textEncoder"] as const)
      assert.deepEqual(model[c].config, TINY_SD15[c], c);
    assert.deepEqual(model.unet.storedDtypes, ["F16"]);
    const conv = model.unet.weights.get("down_blocks.1.resnets.0.conv1.weight"); // fan-in 8*9
    const bound = 1 / Math.sqrt(72);
    assert.ok(
      conv.every((v) => Math.abs(v) <= bound * 1.001),
      "conv weights within ±1/sqrt(fan_in)",
    );
    assert.ok(
      conv.some((v) => v !== conv[0]),
      "conv weights are not constant",
    );
    assert.ok(
      model.vae.weights.get("decoder.conv_norm_out.weight").every((v) => v === 1),
      "norm scales 1",
    );
    assert.ok(
      model.vae.weights.get("decoder.conv_norm_out.bias").every((v) => v === 0),
      "norm shifts 0",
    );
  } finally {
    model.close();
  }
  // deterministic: the same seed writes the same bytes, another seed different ones
  const again = join(dir, "random-tiny-again.safetensors");
  const other = join(dir, "random-tiny-other.safetensors");
  writeRandomCheckpoint(again, { preset: CHECKPOINT_PRESETS.tiny, seed: 7 });
  writeRandomCheckpoint(other, { preset: CHECKPOINT_PRESETS.tiny, seed: 8 });
  const read = (p: string) => SafetensorsFile.open(p).readF32("model.diffusion_model.out.2.weight");
  assert.deepEqual(read(again), read(path));
  assert.notDeepEqual(read(other), read(path));
});

test("random checkpoint (SD1.5 preset) lists SD1.5's LDM tensors, which detect as SD1.5 (no data generated)", () => {
  const tensors = randomCheckpointTensors({ preset: CHECKPOINT_PRESETS.sd15 });
  assert.equal(tensors.length, 686 + 248 + 196);
  const bytes = tensors.reduce((n, t) => n + numelOf(t.shape) * 2, 0);
  assert.equal(bytes, 2 * (859_520_964 + 83_653_863 + 123_060_480));
  const detected = detectLdmCheckpoint(new Map(tensors.map((t) => [t.name, t.shape])), "sd15-random");
  assert.deepEqual(detected.unet.config, CHECKPOINT_PRESETS.sd15.configs.unet);
  assert.deepEqual(detected.vae?.config, CHECKPOINT_PRESETS.sd15.configs.vae);
  assert.deepEqual(detected.textEncoder?.config, CHECKPOINT_PRESETS.sd15.configs.textEncoder);
  assert.ok(
    tensors.every((t) => t.dtype === "F16" && typeof t.data === "function"),
    "lazy F16 tensors",
  );
});
