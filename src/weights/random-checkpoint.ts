/**
 * Deterministic random SD1.x and SD 2.x single-file checkpoints (LDM layout, all three components;
 * SD 2.x's text tower in OpenCLIP's layout with all 24 blocks, the projection head and logit scale,
 * as real files have them), for benchmarks and loader tests without downloading a real model. The tensor list comes from the
 * same key maps the loader uses. Values follow PyTorch's default init scales (uniform ±1/√fan_in,
 * norms 1/0, embeddings ±0.02) so activations stay finite; each tensor is generated when the writer
 * reaches it, so memory stays at one tensor however large the file.
 */
import { writeFileSync } from "node:fs";
import type { ArchitectureOverrides } from "./architecture/architecture-overrides.js";
import {
  SD2_TEXT_ENCODER,
  SD15_TEXT_ENCODER,
  SD15_UNET,
  SD15_VAE,
  SD21_UNET,
} from "./architecture/model-config.js";
import { overridesSidecarPath } from "./architecture/overrides-sidecar.js";
import { type Dtype, f32ToF16Bits } from "./formats/dtype.js";
import { type TensorToWrite, writeSafetensors } from "./formats/safetensors-writer.js";
import { type CheckpointConfigs, ldmCheckpointKeys } from "./key-maps/ldm-key-map.js";
import { numelOf, type TensorMapping } from "./key-maps/tensor-mapping.js";

export type RandomCheckpointDtype = Extract<Dtype, "F16" | "BF16" | "F32">;

export interface CheckpointPreset {
  readonly configs: CheckpointConfigs;
  /** What the loader must be told (written as the `.sdlite.json` sidecar) when not SD1.5's values. */
  readonly overrides?: ArchitectureOverrides;
}

/** SD 2.1-base, SD 2.1-768 and SD-Turbo have the same tensors; only names and configs tell them apart. */
const SD21_PRESET: CheckpointPreset = {
  configs: { unet: SD21_UNET, vae: SD15_VAE, textEncoder: SD2_TEXT_ENCODER, family: "sd2" },
};

export const CHECKPOINT_PRESETS: Readonly<
  Record<"sd15" | "tiny" | "sd21" | "sd-turbo" | "tiny-sd2", CheckpointPreset>
> = {
  sd15: { configs: { unet: SD15_UNET, vae: SD15_VAE, textEncoder: SD15_TEXT_ENCODER } },
  sd21: SD21_PRESET,
  // write it to a file whose name contains "turbo" (as stabilityai/sd-turbo's sd_turbo.safetensors):
  // the name is what tells sdlite to run it as SD-Turbo
  "sd-turbo": SD21_PRESET,
  // the sd2 fixtures' tiny-sd2 architecture
  "tiny-sd2": {
    configs: {
      unet: {
        ...SD21_UNET,
        blockOutChannels: [8, 16, 32, 32],
        crossAttentionDim: 32,
        normNumGroups: 4,
        attentionHeads: [2, 4, 8, 8],
      },
      vae: { ...SD15_VAE, blockOutChannels: [8, 16, 32, 32], normNumGroups: 4 },
      textEncoder: {
        ...SD2_TEXT_ENCODER,
        hiddenSize: 32,
        intermediateSize: 128,
        numHiddenLayers: 3,
        numAttentionHeads: 4,
      },
      family: "sd2",
    },
    overrides: {
      unet: { normNumGroups: 4, headChannels: 4 },
      vae: { normNumGroups: 4 },
      textEncoder: { numAttentionHeads: 4 },
    },
  },
  // the fixtures' tiny-sd15 architecture (SD1.5's block structure, a few channels wide)
  tiny: {
    configs: {
      unet: { ...SD15_UNET, blockOutChannels: [8, 16, 32, 32], crossAttentionDim: 32, normNumGroups: 4 },
      vae: { ...SD15_VAE, blockOutChannels: [8, 16, 32, 32], normNumGroups: 4 },
      textEncoder: {
        ...SD15_TEXT_ENCODER,
        hiddenSize: 32,
        intermediateSize: 37,
        numHiddenLayers: 2,
        numAttentionHeads: 4,
      },
    },
    overrides: {
      unet: { normNumGroups: 4, attentionHeads: 8 },
      vae: { normNumGroups: 4 },
      textEncoder: { numAttentionHeads: 4, hiddenAct: "quick_gelu" },
    },
  },
};

/** FNV-1a of the name mixed with the seed: each tensor's stream is independent of write order. */
function tensorSeed(name: string, seed: number): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** mulberry32: tiny, fast, good enough for weights nobody will train. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

export type Init = { kind: "constant"; value: number } | { kind: "uniform"; bound: number };

/** PyTorch-default-like init for a tensor, judged from its canonical name and shape. */
export function initFor(
  mapping: TensorMapping,
  weightShapeOf: (name: string) => readonly number[] | undefined,
): Init {
  const { canonical, shape } = mapping;
  // OpenCLIP's logit scale starts at ln(1 / 0.07)
  if (shape.length === 0) return { kind: "constant", value: Math.log(1 / 0.07) };
  if (canonical.endsWith("embeddings.token_embedding.weight"))
    return { kind: "uniform", bound: 0.02 * Math.sqrt(3) };
  if (canonical.endsWith("embeddings.position_embedding.weight"))
    return { kind: "uniform", bound: 0.01 * Math.sqrt(3) };
  const module = canonical.slice(0, canonical.lastIndexOf("."));
  const weight = weightShapeOf(`${module}.weight`);
  // 1-D weights are GroupNorm/LayerNorm scales; their biases start at 0
  if (weight && weight.length === 1)
    return { kind: "constant", value: canonical.endsWith(".weight") ? 1 : 0 };
  const fanIn = weight ? numelOf(weight) / weight[0] : shape[0];
  return { kind: "uniform", bound: 1 / Math.sqrt(fanIn) };
}

const LEVELS = 4096;

function initLevels(init: Init): Float32Array {
  const levels = new Float32Array(init.kind === "constant" ? 1 : LEVELS);
  if (init.kind === "constant") levels[0] = init.value;
  else for (let k = 0; k < LEVELS; k++) levels[k] = ((2 * k + 1) / LEVELS - 1) * init.bound;
  return levels;
}

/** One tensor's float32 values, the same numbers an F32 random checkpoint holds. */
export function randomTensorValues(mapping: TensorMapping, init: Init, seed: number): Float32Array {
  const levels = initLevels(init);
  const next = mulberry32(tensorSeed(mapping.canonical, seed));
  const mask = levels.length - 1;
  const out = new Float32Array(numelOf(mapping.shape));
  for (let i = 0; i < out.length; i++) out[i] = levels[next() & mask];
  return out;
}

/** One tensor's bytes: uniform values quantised to 4096 levels, converted to the dtype once per level. */
function generate(
  mapping: TensorMapping,
  init: Init,
  dtype: RandomCheckpointDtype,
  seed: number,
): ArrayBufferView {
  if (dtype === "F32") return randomTensorValues(mapping, init, seed);
  const n = numelOf(mapping.shape);
  const levels = initLevels(init);
  const next = mulberry32(tensorSeed(mapping.canonical, seed));
  const mask = levels.length - 1;
  const bits = new Uint16Array(levels.length);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  for (let k = 0; k < levels.length; k++) {
    f32[0] = levels[k];
    // BF16 by round-to-nearest-even on the top 16 bits
    bits[k] = dtype === "F16" ? f32ToF16Bits(levels[k]) : (u32[0] + 0x7fff + ((u32[0] >>> 16) & 1)) >>> 16;
  }
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = bits[next() & mask];
  return out;
}

export interface RandomCheckpointOptions {
  readonly preset?: CheckpointPreset;
  readonly dtype?: RandomCheckpointDtype;
  readonly seed?: number;
}

/** The tensors of a random checkpoint, each generated lazily when written. */
export function randomCheckpointTensors(options: RandomCheckpointOptions = {}): TensorToWrite[] {
  const { preset = CHECKPOINT_PRESETS.sd15, dtype = "F16", seed = 0 } = options;
  const keys = ldmCheckpointKeys(preset.configs);
  const weightShapes = new Map<string, readonly number[]>();
  for (const k of keys) weightShapes.set(`${k.component}:${k.mapping.canonical}`, k.mapping.shape);
  return keys
    .map(({ key, component, mapping }) => {
      const init = initFor(mapping, (name) => weightShapes.get(`${component}:${name}`));
      return {
        name: key,
        dtype,
        shape: mapping.ldmShape,
        data: () => generate(mapping, init, dtype, seed),
      };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Writes the checkpoint (and, for presets that need one, its `.sdlite.json` sidecar). */
export function writeRandomCheckpoint(
  path: string,
  options: RandomCheckpointOptions = {},
): { tensors: number; bytes: number; sidecar?: string } {
  const tensors = randomCheckpointTensors(options);
  writeSafetensors(path, tensors, {
    format: "pt",
    sdlite_random_checkpoint: JSON.stringify({ seed: options.seed ?? 0, dtype: options.dtype ?? "F16" }),
  });
  const bytes = tensors.reduce((n, t) => n + numelOf(t.shape) * (t.dtype === "F32" ? 4 : 2), 0);
  const overrides = options.preset?.overrides;
  if (!overrides) return { tensors: tensors.length, bytes };
  const sidecar = overridesSidecarPath(path);
  writeFileSync(sidecar, `${JSON.stringify(overrides, null, 2)}\n`);
  return { tensors: tensors.length, bytes, sidecar };
}
