import assert from "node:assert/strict";
import { test } from "node:test";
import { parseArchitectureOverrides } from "../src/weights/architecture/architecture-overrides.js";
import {
  classifyWeightFile,
  detectLdmCheckpoint,
  detectTextEncoder,
  detectVae,
  normaliseLdmKeys,
  stripPrefix,
  type TensorShapes,
} from "../src/weights/architecture/detect-architecture.js";
import { SD15_TEXT_ENCODER, SD15_UNET, SD15_VAE } from "../src/weights/architecture/model-config.js";
import {
  LDM_PREFIXES,
  ldmCheckpointKeys,
  type Sd1Configs,
  vaeTensorMap,
} from "../src/weights/key-maps/ldm-key-map.js";
import { detectTaesd } from "../src/weights/key-maps/taesd-key-map.js";
import { fixturePath, manifest } from "./helpers/fixtures.js";
import { headerShapes, refusal } from "./helpers/model-load-assertions.js";
import { TINY_OVERRIDES, TINY_SD15 } from "./helpers/tiny-configs.js";

/** The LDM header a checkpoint with these configs would have (no file needed). */
function ldmShapes(configs: Sd1Configs): Map<string, readonly number[]> {
  return new Map(ldmCheckpointKeys(configs).map((k) => [k.key, k.mapping.ldmShape]));
}

const SD15: Sd1Configs = { unet: SD15_UNET, vae: SD15_VAE, textEncoder: SD15_TEXT_ENCODER };

test("tiny fp16 single file: shapes + the README's non-inferable values give the diffusers configs exactly", () => {
  const shapes = headerShapes(fixturePath("single_file", "tiny-sd15-fp16.safetensors"));
  assert.equal(classifyWeightFile([...shapes.keys()], "tiny"), "ldm-checkpoint");
  const d = detectLdmCheckpoint(shapes, "tiny", TINY_OVERRIDES);
  assert.deepEqual(d.unet.config, TINY_SD15.unet);
  assert.deepEqual(d.vae?.config, TINY_SD15.vae);
  assert.deepEqual(d.textEncoder?.config, TINY_SD15.textEncoder);
  assert.equal(d.inpainting, false);
  assert.equal(d.unet.assumed.normNumGroups, "override");
  assert.equal(d.unet.assumed.normEps, "default");
  // and the values the overrides stand for are the manifest's
  const notInFile = manifest().single_file.architecture_not_in_file;
  assert.equal(d.unet.config.normNumGroups, notInFile.unet_norm_num_groups);
  assert.equal(d.unet.config.attentionHeads, notInFile.unet_num_heads);
  assert.equal(d.vae?.config.normNumGroups, notInFile.vae_norm_num_groups);
  assert.equal(d.textEncoder?.config.numAttentionHeads, notInFile.text_encoder_num_attention_heads);
  assert.equal(d.textEncoder?.config.hiddenAct, notInFile.text_encoder_hidden_act);
});

test("inpainting single file is detected by its 9-channel conv_in", () => {
  const shapes = headerShapes(fixturePath("single_file", "tiny-sd15-inpainting-fp16.safetensors"));
  const d = detectLdmCheckpoint(shapes, "inpaint", TINY_OVERRIDES);
  assert.equal(d.inpainting, true);
  assert.deepEqual(d.unet.config, { ...TINY_SD15.unet, inChannels: 9 });
});

test("a full-size SD1.5 header is detected as SD1.5 with the defaults alone", () => {
  const d = detectLdmCheckpoint(ldmShapes(SD15), "sd15");
  assert.deepEqual(d.unet.config, SD15_UNET);
  assert.deepEqual(d.vae?.config, SD15_VAE);
  assert.deepEqual(d.textEncoder?.config, SD15_TEXT_ENCODER);
  assert.ok(Object.values(d.unet.assumed).every((s) => s === "default"));
});

test("defaults that cannot fit the shapes are refused with the field to set", () => {
  const shapes = headerShapes(fixturePath("single_file", "tiny-sd15-fp16.safetensors"));
  refusal(
    () => detectLdmCheckpoint(shapes, "tiny"),
    "unsupported-config",
    /UNet: normNumGroups 32 \(SD1\.5's value: the file cannot tell\) does not divide width 8.*unet\.normNumGroups.*sdlite\.json/,
  );
  refusal(
    () => detectLdmCheckpoint(shapes, "tiny", { ...TINY_OVERRIDES, textEncoder: { numAttentionHeads: 5 } }),
    "unsupported-config",
    /text encoder: numAttentionHeads 5 \(from the overrides\) does not divide width 32/,
  );
});

test("legacy CLIP keys without text_model. are normalised", () => {
  const keys = normaliseLdmKeys([
    "cond_stage_model.transformer.embeddings.token_embedding.weight",
    "cond_stage_model.transformer.text_model.final_layer_norm.bias",
    "model.diffusion_model.out.2.bias",
  ]);
  assert.deepEqual(
    [...keys],
    [
      [
        "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight",
        "cond_stage_model.transformer.embeddings.token_embedding.weight",
      ],
      [
        "cond_stage_model.transformer.text_model.final_layer_norm.bias",
        "cond_stage_model.transformer.text_model.final_layer_norm.bias",
      ],
      ["model.diffusion_model.out.2.bias", "model.diffusion_model.out.2.bias"],
    ],
  );
});

test("VAE, text encoder and TAESD from diffusers-named files", () => {
  const vae = headerShapes(fixturePath("models", "tiny-sd15", "vae", "diffusion_pytorch_model.safetensors"));
  assert.equal(classifyWeightFile([...vae.keys()], "vae"), "diffusers-vae");
  assert.deepEqual(detectVae(vae, "diffusers", "vae", { normNumGroups: 4 }).config, TINY_SD15.vae);
  const te = headerShapes(fixturePath("models", "tiny-sd15", "text_encoder", "model.safetensors"));
  assert.equal(classifyWeightFile([...te.keys()], "te"), "transformers-clip-text");
  assert.deepEqual(detectTextEncoder(te, "te", { numAttentionHeads: 4 }).config, TINY_SD15.textEncoder);
  const taesd = headerShapes(fixturePath("models", "tiny-taesd", "diffusion_pytorch_model.safetensors"));
  assert.equal(classifyWeightFile([...taesd.keys()], "taesd"), "diffusers-taesd");
  const cfg = manifest().models["tiny-taesd"].config;
  assert.deepEqual(detectTaesd(taesd, "taesd"), {
    encoderBlockOutChannels: cfg.encoder_block_out_channels,
    decoderBlockOutChannels: cfg.decoder_block_out_channels,
    numEncoderBlocks: cfg.num_encoder_blocks,
    numDecoderBlocks: cfg.num_decoder_blocks,
    latentChannels: cfg.latent_channels,
    latentMagnitude: cfg.latent_magnitude,
    latentShift: cfg.latent_shift,
    scalingFactor: cfg.scaling_factor,
  });
});

test("standalone LDM VAE names are recognised with and without first_stage_model.", () => {
  const bare = vaeTensorMap(SD15_VAE).map((m) => m.ldm);
  assert.equal(classifyWeightFile(bare, "vae"), "ldm-vae");
  assert.equal(
    classifyWeightFile(
      bare.map((n) => LDM_PREFIXES.vae + n),
      "vae",
    ),
    "ldm-vae",
  );
  const shapes = new Map(vaeTensorMap(SD15_VAE).map((m) => [m.ldm, m.ldmShape]));
  assert.deepEqual(detectVae(shapes, "ldm", "vae").config, SD15_VAE);
});

test("other architectures are refused by name, saying what was found", () => {
  const sd15 = [...ldmShapes(SD15).keys()];
  const cases: [string, string[], string, RegExp][] = [
    [
      "SDXL",
      ["conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight", ...sd15],
      "unsupported-architecture",
      /SDXL.*conditioner\.embedders\.0/,
    ],
    [
      "SDXL label_emb",
      ["model.diffusion_model.label_emb.0.0.weight", ...sd15],
      "unsupported-architecture",
      /SDXL/,
    ],
    [
      "zero terminal SNR",
      ["ztsnr", "v_pred", ...sd15],
      "unsupported-architecture",
      /zero terminal SNR.*"ztsnr"/,
    ],
    [
      "SD3",
      ["model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight"],
      "unsupported-architecture",
      /Stable Diffusion 3/,
    ],
    [
      "Flux",
      ["double_blocks.0.img_attn.qkv.weight", "single_blocks.0.linear1.weight"],
      "unsupported-architecture",
      /Flux/,
    ],
    [
      "DiT under model.diffusion_model",
      ["model.diffusion_model.x_embedder.proj.weight"],
      "unsupported-architecture",
      /no SD UNet.*x_embedder/,
    ],
    [
      "kohya LoRA",
      [
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight",
        "lora_unet_down_blocks_0_attentions_0_proj_in.alpha",
      ],
      "not-a-model",
      /LoRA/,
    ],
    ["PEFT LoRA", ["unet.down_blocks.0.attentions.0.proj_in.lora_A.weight"], "not-a-model", /LoRA/],
    ["embedding", ["emb_params"], "not-a-model", /textual-inversion/],
    ["empty", [], "unreadable", /no tensors/],
    ["unknown", ["foo.weight", "bar.bias"], "unknown-format", /unrecognised weights.*"bar", "foo"/],
  ];
  for (const [label, names, reason, message] of cases) {
    refusal(() => classifyWeightFile(names, label), reason, message);
  }
});

test("SDXL UNets are refused by their context width (1024 is SD 2.x's); unsupported in_channels too", () => {
  const withUnet = (unet: Partial<typeof SD15_UNET>): TensorShapes =>
    ldmShapes({ ...TINY_SD15, unet: { ...TINY_SD15.unet, ...unet } });
  const unetOnly = new Map(
    [...withUnet({ crossAttentionDim: 1024 })].filter(([n]) => !n.startsWith("cond_stage_model.")),
  );
  const sd2Unet = detectLdmCheckpoint(unetOnly, "sd2", TINY_OVERRIDES);
  assert.equal(sd2Unet.family, "sd2");
  assert.equal(sd2Unet.unet.config.crossAttentionDim, 1024);
  refusal(
    () => detectLdmCheckpoint(withUnet({ crossAttentionDim: 2048 }), "xl", TINY_OVERRIDES),
    "unsupported-architecture",
    /SDXL/,
  );
  refusal(
    () => detectLdmCheckpoint(withUnet({ inChannels: 8 }), "p2p", TINY_OVERRIDES),
    "unsupported-config",
    /in_channels 8 \(InstructPix2Pix\?\)/,
  );
});

test("a tensor the detection reads but the file lacks is named", () => {
  const shapes = ldmShapes(TINY_SD15);
  shapes.delete("model.diffusion_model.input_blocks.4.0.in_layers.2.weight");
  refusal(
    () => detectLdmCheckpoint(shapes, "damaged", TINY_OVERRIDES),
    "missing-tensor",
    /"model\.diffusion_model\.input_blocks\.4\.0\.in_layers\.2\.weight" is missing/,
  );
  const stripped = stripPrefix(ldmShapes(TINY_SD15), "first_stage_model.");
  stripped.set("decoder.conv_in.weight", [32, 4]);
  refusal(
    () => detectVae(stripped, "ldm", "damaged", { normNumGroups: 4 }, "first_stage_model."),
    "wrong-shape",
    /"first_stage_model\.decoder\.conv_in\.weight" has shape \[32, 4\], expected 4 dimensions/,
  );
});

test("overrides: sdlite and diffusers spellings, inferable or unknown keys refused", () => {
  assert.deepEqual(
    parseArchitectureOverrides(
      {
        unet: { norm_num_groups: 4, attention_head_dim: 8 },
        textEncoder: { hidden_act: "gelu" },
        _note: "x",
      },
      "o.json",
    ),
    { unet: { normNumGroups: 4, attentionHeads: 8 }, textEncoder: { hiddenAct: "gelu" } },
  );
  refusal(
    () => parseArchitectureOverrides({ unet: { blockOutChannels: [1] } }, "o.json"),
    "unsupported-config",
    /"unet\.blockOutChannels" cannot be set: it is read from the tensor shapes/,
  );
  refusal(
    () => parseArchitectureOverrides({ vae: { normNumGroups: 0 } }, "o.json"),
    "unsupported-config",
    /must be a positive-int/,
  );
  refusal(
    () => parseArchitectureOverrides({ refiner: {} }, "o.json"),
    "unsupported-config",
    /unknown component/,
  );
});
