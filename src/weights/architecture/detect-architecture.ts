/**
 * What a weights file is, judged from tensor names and shapes alone (pure: no I/O). SD1.x and SD2.x
 * components get a full config (what the shapes cannot tell comes from SD1.5's or SD 2.x's values or
 * from overrides); everything else is refused with an error that says what was found.
 */

import { OPEN_CLIP_PREFIX } from "../key-maps/open-clip-key-map.js";
import { shapeText } from "../key-maps/tensor-mapping.js";
import { listSome, ModelLoadError } from "../model-load-error.js";
import type { ArchitectureOverrides } from "./architecture-overrides.js";
import { detectOpenClipTextEncoder } from "./detect-open-clip.js";
import {
  type ModelFamily,
  SD2_HEAD_CHANNELS,
  SD15_TEXT_ENCODER,
  SD15_UNET,
  SD15_VAE,
  sameOrList,
  type TextEncoderConfig,
  type UNetConfig,
  type VaeConfig,
} from "./model-config.js";
import { checkDivides, type Detected, resolve, ShapeReader, type TensorShapes } from "./shape-reader.js";

export type { Detected, TensorShapes } from "./shape-reader.js";

export type WeightFileKind =
  /**
   * `model.diffusion_model.*` (+ usually `first_stage_model.*`, and `cond_stage_model.transformer.*`
   * or, for SD 2.x, `cond_stage_model.model.*`).
   */
  | "ldm-checkpoint"
  /** A VAE in LDM naming (`encoder.down.N.block.M`), bare or under `first_stage_model.`. */
  | "ldm-vae"
  /** A VAE in diffusers naming (`encoder.down_blocks.N.resnets.M`). */
  | "diffusers-vae"
  /** diffusers AutoencoderTiny (`encoder.layers.N`, `decoder.layers.N`). */
  | "diffusers-taesd"
  | "diffusers-unet"
  | "transformers-clip-text";

const LORA_KEY =
  /^lora_(unet|te\d?)_|(^|\.)lora_(A|B|down|up)\.|\.lora\.(down|up)\.|\.(hada_w[12]_[ab]|lokr_w[12](_[ab])?|oft_blocks)$|\.alpha$/;
const EMBEDDING_KEYS = /^(emb_params|string_to_param(\..*)?|string_to_token|clip_[lg]|name|step)$/;

const SUPPORTED = "sdlite loads Stable Diffusion 1.x and 2.x models only";

function examplesMatching(names: readonly string[], re: RegExp): string[] {
  return names.filter((n) => re.test(n));
}

function topLevelPrefixes(names: readonly string[]): string[] {
  return [...new Set(names.map((n) => n.split(".")[0]))].sort();
}

/** Classifies a file by its tensor names; refuses LoRAs, embeddings and other architectures. */
export function classifyWeightFile(names: readonly string[], path: string): WeightFileKind {
  const refuse = (reason: "unsupported-architecture" | "not-a-model", what: string, re: RegExp): never => {
    throw new ModelLoadError(
      reason,
      path,
      `${what} (found ${listSome(examplesMatching(names, re), 3)}); ${SUPPORTED}`,
    );
  };
  if (names.length === 0) {
    throw new ModelLoadError("unreadable", path, "the file contains no tensors");
  }
  const lora = examplesMatching(names, LORA_KEY);
  if (lora.length > 0 && lora.length >= names.length / 3) {
    throw new ModelLoadError(
      "not-a-model",
      path,
      `this is a LoRA, not a model (${lora.length} of ${names.length} tensors are LoRA weights, e.g. ${listSome(lora, 2)}); load an SD1.x/SD2.x checkpoint as the model and apply this file as a LoRA`,
    );
  }
  if (names.every((n) => EMBEDDING_KEYS.test(n))) {
    throw new ModelLoadError(
      "not-a-model",
      path,
      `this is a textual-inversion embedding (${listSome(names, 3)}), not a model; use it as an embedding with an SD1.x/SD2.x checkpoint`,
    );
  }
  const has = (re: RegExp) => names.some((n) => re.test(n));
  if (has(/^conditioner\.embedders\./) || has(/^model\.diffusion_model\.label_emb\./)) {
    refuse("unsupported-architecture", "this is an SDXL model", /^conditioner\.embedders\.|label_emb\./);
  }
  if (has(/(^|\.)joint_blocks\./)) {
    refuse("unsupported-architecture", "this is a Stable Diffusion 3 model (MMDiT)", /joint_blocks\./);
  }
  if (has(/(^|\.)double_blocks\./))
    refuse("unsupported-architecture", "this is a Flux model", /double_blocks\./);
  if (has(/^ztsnr$/)) {
    refuse(
      "unsupported-architecture",
      "this model was trained with zero terminal SNR, which sdlite's schedulers do not implement",
      /^ztsnr$/,
    );
  }
  if (has(/^model\.diffusion_model\./)) {
    if (has(/^model\.diffusion_model\.input_blocks\.0\.0\.weight$/)) return "ldm-checkpoint";
    throw new ModelLoadError(
      "unsupported-architecture",
      path,
      `model.diffusion_model.* holds no SD UNet (no input_blocks.0.0.weight; found ${listSome(
        names.filter((n) => n.startsWith("model.diffusion_model.")),
        3,
      )}); ${SUPPORTED}`,
    );
  }
  if (has(/^(first_stage_model\.)?encoder\.down\.0\.block\.0\./)) return "ldm-vae";
  if (has(/^encoder\.down_blocks\.0\.resnets\.0\./)) return "diffusers-vae";
  if (has(/^(encoder|decoder)\.layers\.0\.weight$/)) return "diffusers-taesd";
  if (has(/^down_blocks\.0\.resnets\.0\./) && has(/^time_embedding\./)) {
    if (has(/^add_embedding\./))
      refuse("unsupported-architecture", "this is an SDXL UNet", /^add_embedding\./);
    return "diffusers-unet";
  }
  if (has(/^text_model\.embeddings\.token_embedding\.weight$/)) return "transformers-clip-text";
  throw new ModelLoadError(
    "unknown-format",
    path,
    `unrecognised weights: ${names.length} tensors with top-level names ${listSome(topLevelPrefixes(names), 8)}; expected an SD1.x/SD2.x checkpoint (model.diffusion_model.*, first_stage_model.*, cond_stage_model.*), a diffusers folder, an ONNX pipeline folder, or a VAE/TAESD file`,
  );
}

/** The tensors of one component, names relative to its prefix. */
export function stripPrefix(shapes: TensorShapes, prefix: string): Map<string, readonly number[]> {
  const out = new Map<string, readonly number[]>();
  for (const [name, shape] of shapes) if (name.startsWith(prefix)) out.set(name.slice(prefix.length), shape);
  return out;
}

/**
 * UNet from LDM names (`input_blocks.N.M…`, prefix already stripped). `family` says which defaults
 * fill what the shapes cannot tell (SD1.x: 8 heads; SD2.x: 64-channel heads); without it a 1024-wide
 * context or linear projections mean SD2.x.
 */
export function detectUnetFromLdm(
  shapes: TensorShapes,
  path: string,
  overrides?: ArchitectureOverrides["unet"],
  prefix = "model.diffusion_model.",
  family?: ModelFamily,
): Detected<UNetConfig> {
  const r: ShapeReader = new ShapeReader(shapes, path, "UNet", prefix);
  const [c0, inChannels] = r.get("input_blocks.0.0.weight", 4);
  const inputIdx = r.indices(/^input_blocks\.(\d+)\./);
  const downsampleIdx = inputIdx.filter((i) => r.has(`input_blocks.${i}.0.op.weight`));
  const last = inputIdx[inputIdx.length - 1];
  const perBlock = downsampleIdx.length > 0 ? downsampleIdx[0] - 1 : last;
  const levels = downsampleIdx.length + 1;
  if (perBlock < 1 || last !== levels * (perBlock + 1) - 1) {
    r.fail(
      `input_blocks ${shapeText(inputIdx)} with downsamplers at ${shapeText(downsampleIdx)} do not form levels of equal depth`,
    );
  }
  const blockOutChannels: number[] = [];
  const downBlockTypes: string[] = [];
  const upBlockTypes: string[] = [];
  for (let i = 0; i < levels; i++) {
    const first = `input_blocks.${1 + i * (perBlock + 1)}`;
    blockOutChannels.push(r.get(`${first}.0.in_layers.2.weight`, 4)[0]);
    downBlockTypes.push(r.has(`${first}.1.proj_in.weight`) ? "CrossAttnDownBlock2D" : "DownBlock2D");
    upBlockTypes.push(
      r.has(`output_blocks.${i * (perBlock + 1)}.1.proj_in.weight`) ? "CrossAttnUpBlock2D" : "UpBlock2D",
    );
  }
  if (!r.has("middle_block.1.proj_in.weight")) r.fail("the middle block has no attention (middle_block.1)");
  const toK = [...shapes.keys()].find((n) => n.endsWith(".attn2.to_k.weight"));
  if (!toK) r.fail("no cross-attention layers (attn2.to_k) found");
  const crossAttentionDim = r.get(toK, 2)[1];
  const deeper = [...shapes.keys()].find((n) => /\.transformer_blocks\.[1-9]\d*\./.test(n));
  if (deeper) {
    r.fail(`more than one transformer block per attention ("${prefix}${deeper}"); SD1.x and SD2.x have one`);
  }
  if (crossAttentionDim === 2048)
    r.fail("cross-attention dim 2048: this is an SDXL UNet", "unsupported-architecture");
  if (inChannels !== 4 && inChannels !== 9) {
    const known: Record<number, string> = { 8: " (InstructPix2Pix?)", 5: " (SD2 depth model?)" };
    r.fail(
      `in_channels ${inChannels}${known[inChannels] ?? ""}; sdlite supports 4 (txt2img) and 9 (inpainting)`,
    );
  }
  const projIn = [...shapes.keys()].find((n) => n.endsWith(".proj_in.weight"));
  const useLinearProjection = projIn !== undefined && r.get(projIn).length === 2;
  const temb = r.get("time_embed.0.weight", 2);
  if (temb[0] !== 4 * c0 || temb[1] !== c0) {
    r.fail(
      `time_embed.0.weight is ${shapeText(temb)}, expected ${shapeText([4 * c0, c0])} for ${c0} base channels`,
    );
  }
  const outChannels = r.get("out.2.weight", 4)[0];
  const timeCondProjDim = lcmGuidanceProjection(r, c0);
  const sd2 = (family ?? (crossAttentionDim === 1024 || useLinearProjection ? "sd2" : "sd1")) === "sd2";
  const headsOf = (headChannels: number, source: string) =>
    headsFromChannels(r, blockOutChannels, headChannels, source);
  const headsOverride =
    overrides?.headChannels !== undefined
      ? headsOf(overrides.headChannels, "unet.headChannels from the overrides")
      : overrides?.attentionHeads;
  const detected = resolve(
    {
      inChannels,
      outChannels,
      blockOutChannels,
      layersPerBlock: perBlock,
      crossAttentionDim,
      downBlockTypes,
      upBlockTypes,
      useLinearProjection,
      ...(timeCondProjDim !== undefined && { timeCondProjDim }),
    },
    {
      // computed only when needed: a wrong default must not fail when the overrides give the heads
      attentionHeads:
        headsOverride ??
        (sd2 ? headsOf(SD2_HEAD_CHANNELS, "SD 2.x's value: the file cannot tell") : SD15_UNET.attentionHeads),
      normNumGroups: SD15_UNET.normNumGroups,
      normEps: SD15_UNET.normEps,
      flipSinToCos: SD15_UNET.flipSinToCos,
      freqShift: SD15_UNET.freqShift,
    },
    { ...overrides, attentionHeads: headsOverride },
  );
  const defaultSource = sd2 ? "SD 2.x's value" : "SD1.5's value";
  checkDivides(r, "normNumGroups", detected, blockOutChannels, defaultSource);
  checkDivides(r, "attentionHeads", detected, blockOutChannels, defaultSource);
  return detected;
}

/** Heads per level for heads `headChannels` wide (SD 2.x: 64); one number when all levels agree. */
function headsFromChannels(
  r: ShapeReader,
  channels: readonly number[],
  headChannels: number,
  source: string,
): number | number[] {
  const bad = channels.find((c) => c % headChannels !== 0);
  if (bad !== undefined) {
    r.fail(
      `heads of ${headChannels} channels (${source}) do not divide width ${bad} (widths ${shapeText(channels)}); give unet.headChannels or unet.attentionHeads in the load options or in a <checkpoint>.sdlite.json file beside the checkpoint`,
    );
  }
  return sameOrList(channels.map((c) => c / headChannels));
}

/**
 * LCM-distilled UNets project a guidance-scale embedding into the timestep embedding
 * (`time_embedding.cond_proj`, [base channels, time_cond_proj_dim], no bias). Single files converted
 * from diffusers keep that name, as stable-diffusion.cpp's list of known keys shows.
 */
function lcmGuidanceProjection(r: ShapeReader, c0: number): number | undefined {
  const name = "time_embedding.cond_proj.weight";
  if (!r.has(name)) return undefined;
  const shape = r.get(name, 2);
  if (shape[0] !== c0) {
    r.fail(`${name} is ${shapeText(shape)}, expected [${c0}, time_cond_proj_dim] for ${c0} base channels`);
  }
  return shape[1];
}

/** Names of the VAE's building blocks in either layout. */
const VAE_LAYOUTS = {
  ldm: {
    downBlock: /^encoder\.down\.(\d+)\./,
    resnet: (i: number, j: number) => `encoder.down.${i}.block.${j}`,
    resnetIndex: /^encoder\.down\.0\.block\.(\d+)\./,
  },
  diffusers: {
    downBlock: /^encoder\.down_blocks\.(\d+)\./,
    resnet: (i: number, j: number) => `encoder.down_blocks.${i}.resnets.${j}`,
    resnetIndex: /^encoder\.down_blocks\.0\.resnets\.(\d+)\./,
  },
};

/** AutoencoderKL from LDM or diffusers names (prefix already stripped). */
export function detectVae(
  shapes: TensorShapes,
  layout: "ldm" | "diffusers",
  path: string,
  overrides?: ArchitectureOverrides["vae"],
  prefix = "",
): Detected<VaeConfig> {
  const names = VAE_LAYOUTS[layout];
  const r: ShapeReader = new ShapeReader(shapes, path, "VAE", prefix);
  const inChannels = r.get("encoder.conv_in.weight", 4)[1];
  const levels = r.indices(names.downBlock).length;
  const layersPerBlock = r.indices(names.resnetIndex).length;
  if (levels === 0 || layersPerBlock === 0) r.fail("no encoder down blocks found");
  const blockOutChannels: number[] = [];
  for (let i = 0; i < levels; i++) blockOutChannels.push(r.get(`${names.resnet(i, 0)}.conv1.weight`, 4)[0]);
  const latentChannels = r.get("decoder.conv_in.weight", 4)[1];
  const outChannels = r.get("decoder.conv_out.weight", 4)[0];
  const detected = resolve(
    { inChannels, outChannels, latentChannels, blockOutChannels, layersPerBlock },
    { normNumGroups: SD15_VAE.normNumGroups, scalingFactor: SD15_VAE.scalingFactor },
    overrides,
  );
  checkDivides(r, "normNumGroups", detected, blockOutChannels);
  return detected;
}

/** CLIPTextModel from transformers names (`text_model.…`, prefix already stripped). */
export function detectTextEncoder(
  shapes: TensorShapes,
  path: string,
  overrides?: ArchitectureOverrides["textEncoder"],
  prefix = "",
): Detected<TextEncoderConfig> {
  const r: ShapeReader = new ShapeReader(shapes, path, "text encoder", prefix);
  const [vocabSize, hiddenSize] = r.get("text_model.embeddings.token_embedding.weight", 2);
  const maxPositionEmbeddings = r.get("text_model.embeddings.position_embedding.weight", 2)[0];
  const layers = r.indices(/^text_model\.encoder\.layers\.(\d+)\./);
  if (layers.length === 0) r.fail("no text_model.encoder.layers found");
  const intermediateSize = r.get("text_model.encoder.layers.0.mlp.fc1.weight", 2)[0];
  if (hiddenSize === 1024 || hiddenSize === 1280) {
    r.fail(`hidden size ${hiddenSize} is an OpenCLIP (SD2.x/SDXL) text encoder`, "unsupported-architecture");
  }
  // CLIP uses 64-wide heads throughout: CLIP-L is 768 = 12 x 64
  const defaultHeads = hiddenSize % 64 === 0 ? hiddenSize / 64 : SD15_TEXT_ENCODER.numAttentionHeads;
  const detected = resolve(
    { hiddenSize, intermediateSize, numHiddenLayers: layers.length, maxPositionEmbeddings, vocabSize },
    {
      numAttentionHeads: defaultHeads,
      hiddenAct: SD15_TEXT_ENCODER.hiddenAct,
      layerNormEps: SD15_TEXT_ENCODER.layerNormEps,
    },
    overrides,
  );
  checkDivides(r, "numAttentionHeads", detected, [hiddenSize]);
  return detected;
}

/** Text-encoder keys of older single files lack transformers' `text_model.` level. */
const LEGACY_CLIP_KEY = /^cond_stage_model\.transformer\.(embeddings|encoder|final_layer_norm)\./;

/**
 * File key -> the key sdlite's LDM map expects, for the naming variants real single files use.
 * Returns normalised name -> original file key.
 */
export function normaliseLdmKeys(names: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of names) {
    const normalised = LEGACY_CLIP_KEY.test(name)
      ? name.replace("cond_stage_model.transformer.", "cond_stage_model.transformer.text_model.")
      : name;
    out.set(normalised, name);
  }
  return out;
}

export interface DetectedCheckpoint {
  /** "sd2" when the text tower is OpenCLIP's (or, without one, the UNet attends to 1024-wide states). */
  family: ModelFamily;
  unet: Detected<UNetConfig>;
  /** Absent when the single file carries no VAE (`first_stage_model.*`): one must be given separately. */
  vae?: Detected<VaeConfig>;
  /** Absent when the file carries no text encoder (`cond_stage_model.*`). */
  textEncoder?: Detected<TextEncoderConfig>;
  /** SD 2.x: the OpenCLIP blocks in the file (one more than the text encoder runs, usually). */
  openClipBlocks?: number;
  /** 9-channel UNet (latents + mask + masked-image latents). */
  inpainting: boolean;
}

/** SD1.x/SD2.x single file: shapes under normalised LDM keys (see normaliseLdmKeys). */
export function detectLdmCheckpoint(
  shapes: TensorShapes,
  path: string,
  overrides: ArchitectureOverrides = {},
): DetectedCheckpoint {
  const openClipShapes = stripPrefix(shapes, OPEN_CLIP_PREFIX);
  const unetShapes = stripPrefix(shapes, "model.diffusion_model.");
  const openClip = openClipShapes.has("token_embedding.weight");
  const unet = detectUnetFromLdm(unetShapes, path, overrides.unet, undefined, openClip ? "sd2" : undefined);
  const family: ModelFamily =
    openClip || unet.config.crossAttentionDim === 1024 || unet.config.useLinearProjection ? "sd2" : "sd1";
  const vaeShapes = stripPrefix(shapes, "first_stage_model.");
  const vae = vaeShapes.has("encoder.conv_in.weight")
    ? detectVae(vaeShapes, "ldm", path, overrides.vae, "first_stage_model.")
    : undefined;
  const clipPrefix = "cond_stage_model.transformer.";
  const clipShapes = stripPrefix(shapes, clipPrefix);
  const detectedOpenClip = openClip
    ? detectOpenClipTextEncoder(openClipShapes, path, overrides.textEncoder, OPEN_CLIP_PREFIX)
    : undefined;
  const textEncoder =
    detectedOpenClip ??
    (clipShapes.has("text_model.embeddings.token_embedding.weight")
      ? detectTextEncoder(clipShapes, path, overrides.textEncoder, clipPrefix)
      : undefined);
  if (textEncoder && textEncoder.config.hiddenSize !== unet.config.crossAttentionDim) {
    throw new ModelLoadError(
      "unsupported-config",
      path,
      `text encoder width ${textEncoder.config.hiddenSize} does not match the UNet's cross-attention dim ${unet.config.crossAttentionDim}`,
    );
  }
  return {
    family,
    unet,
    vae,
    textEncoder: textEncoder && { config: textEncoder.config, assumed: textEncoder.assumed },
    ...(detectedOpenClip && { openClipBlocks: detectedOpenClip.blocksInFile }),
    inpainting: unet.config.inChannels === 9,
  };
}
