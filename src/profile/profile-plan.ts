/**
 * Which networks one image runs, at which input shapes and how often, for a set of engine options:
 * the text encoder once per prompt text (twice with classifier-free guidance), the UNet once per
 * step, at batch 2 with guidance (prompt and negative prompt each in one 75-token window; A1111
 * runs texts of different lengths as two calls), with DeepCache the whole UNet on every N-th call
 * and the shallow branch in between, the decoder (VAE or TAESD) once, or once per tile above the
 * tile size. Graphs come from the same builders and options the engine uses, so what is counted
 * is what runs.
 */
import type { AttentionNetwork, GraphVariant } from "../engine/graph-variant.js";
import type { ConvAlgorithm } from "../graph/conv-algorithm.js";
import type { GraphBuilder } from "../graph/graph-builder.js";
import type { AttentionKind } from "../graph/layers.js";
import { buildTaesdDecoderGraph, TAESD_DECODER_INPUT } from "../graph/taesd.js";
import {
  buildTextEncoderGraph,
  TEXT_ENCODER_EXTRA_TOKENS,
  TEXT_ENCODER_INPUT,
  textEncoderGraphExtras,
} from "../graph/text-encoder.js";
import type { TextEncoderQuantization } from "../graph/text-encoder-quantization.js";
import { buildUNetGraph, UNET_INPUTS } from "../graph/unet.js";
import { buildShallowUNetGraph, deepFeatureChannels, SHALLOW_UNET_INPUTS } from "../graph/unet-deepcache.js";
import { int8FusionOptions, type UNetQuantization } from "../graph/unet-quantization.js";
import { buildVaeDecoderGraph, VAE_DECODER_INPUT } from "../graph/vae.js";
import type { WeightStorage } from "../graph/weight-storage.js";
import type {
  TaesdConfig,
  TextEncoderConfig,
  UNetConfig,
  VaeConfig,
} from "../weights/architecture/model-config.js";
import type { WeightSource } from "../weights/weight-source.js";

export const STAGES = ["text-encoder", "unet", "decoder"] as const;
export type StageName = (typeof STAGES)[number];
export const STAGE_TITLES: Readonly<Record<StageName, string>> = {
  "text-encoder": "text encoder",
  unet: "UNet (denoiser)",
  decoder: "decoder",
};

/** Tokens per prompt window (CLIP's 77). */
export const PROMPT_TOKENS = 77;
/** diffusers' tile overlap (tiled-vae.ts): tiles start every 3/4 tile. */
const TILE_OVERLAP = 0.25;

export interface ProfileComponent<C> {
  readonly config: C;
  readonly weights: WeightSource;
  readonly weightStorage: WeightStorage;
}

export interface ProfileArchitecture {
  readonly unet: ProfileComponent<UNetConfig>;
  readonly textEncoder: ProfileComponent<TextEncoderConfig>;
  readonly vae: ProfileComponent<VaeConfig>;
  readonly taesd: ProfileComponent<TaesdConfig>;
}

export interface ProfileSettings {
  /** Image size in pixels (multiples of 8). */
  readonly width: number;
  readonly height: number;
  readonly steps: number;
  /** CFG scale: above 1 the UNet runs the negative prompt too (batch 2). */
  readonly guidance: number;
  /** One kind for every network, or the engine's per-network choice (its graph variant). */
  readonly attention: AttentionKind | GraphVariant["attention"];
  readonly unetQuantization: UNetQuantization;
  /** The text encoder's transformer linears; unset: float ("none"). */
  readonly textEncoderQuantization?: TextEncoderQuantization;
  /** Width of the int8 weight codes (UNet and text encoder). */
  readonly int8WeightBits: 7 | 8;
  /** The UNet's 3x3 convs, as the engine would choose them (engine/conv-algorithm-choice.ts). */
  readonly convAlgorithm: ConvAlgorithm;
  /** The full VAE decoder's 3x3 convs, as the engine would choose them; unset: direct (TAESD's always are). */
  readonly vaeDecoderConvAlgorithm?: ConvAlgorithm;
  /** 1 = off. */
  readonly deepCacheInterval: number;
  /** ToDo's key/value downsampling factor in the UNet's self-attentions (1 = off) and deepest level. */
  readonly todoFactor?: number;
  readonly todoMaxDepth?: 1 | 2;
  readonly decoder: "vae" | "taesd";
  /** Decode in tiles above this many latents per side; 0 never tiles. */
  readonly tileLatentSize: number;
}

function attentionFor(s: ProfileSettings, network: AttentionNetwork): AttentionKind {
  return typeof s.attention === "string" ? s.attention : s.attention[network];
}

export interface NetworkPlan {
  /** Unique per plan, e.g. "unet", "vae_decoder 64x64". */
  readonly id: string;
  /** Plans with the same graph key share one built graph (tiles of different sizes). */
  readonly graph: string;
  readonly stage: StageName;
  readonly build: () => GraphBuilder;
  readonly inputs: Readonly<Record<string, readonly number[]>>;
  readonly callsPerImage: number;
}

/** Tile sizes along one axis, as diffusers' tiled decode cuts it. */
export function axisTiles(size: number, tile: number): number[] {
  const stride = Math.trunc(tile * (1 - TILE_OVERLAP));
  const sizes: number[] = [];
  for (let i = 0; i < size; i += stride) sizes.push(Math.min(tile, size - i));
  return sizes;
}

/** Distinct decoder input sizes [h, w] (latents) with how many tiles have each. */
export function decoderTiles(h: number, w: number, tile: number): { h: number; w: number; count: number }[] {
  if (tile <= 0 || (h <= tile && w <= tile)) return [{ h, w, count: 1 }];
  const counts = new Map<string, { h: number; w: number; count: number }>();
  for (const th of axisTiles(h, tile)) {
    for (const tw of axisTiles(w, tile)) {
      const key = `${th}x${tw}`;
      const entry = counts.get(key) ?? { h: th, w: tw, count: 0 };
      entry.count++;
      counts.set(key, entry);
    }
  }
  return [...counts.values()];
}

/** Whether the UNet call `call` of a DeepCache run is a full one (pipeline/deep-cache.ts). */
function fullCalls(steps: number, interval: number): number {
  return Math.ceil(steps / interval);
}

export function planNetworks(arch: ProfileArchitecture, s: ProfileSettings): NetworkPlan[] {
  if (s.width % 8 !== 0 || s.height % 8 !== 0) {
    throw new Error(`image size ${s.width}x${s.height}: both sides must be multiples of 8`);
  }
  const h = s.height / 8;
  const w = s.width / 8;
  const unet = arch.unet.config;
  // LCM UNets with a guidance embedding take the scale as an input and run one batch
  const cfg = s.guidance > 1 && unet.timeCondProjDim === undefined;
  const batch = cfg ? 2 : 1;
  const te = arch.textEncoder;
  const plans: NetworkPlan[] = [
    {
      id: "text_encoder",
      graph: "text_encoder",
      stage: "text-encoder",
      // as the engine builds it: with its clip-skip outputs and the textual-inversion input (one row)
      build: () =>
        buildTextEncoderGraph(te.weights, te.config, {
          attention: attentionFor(s, "textEncoder"),
          weightStorage: te.weightStorage,
          quantization: s.textEncoderQuantization ?? "none",
          int8WeightBits: s.int8WeightBits,
          ...textEncoderGraphExtras(te.config),
        }),
      inputs: {
        [TEXT_ENCODER_INPUT]: [1, PROMPT_TOKENS],
        [TEXT_ENCODER_EXTRA_TOKENS]: [1, te.config.hiddenSize],
      },
      callsPerImage: cfg ? 2 : 1,
    },
  ];

  const unetInputs: Record<string, number[]> = {
    [UNET_INPUTS.sample]: [batch, unet.inChannels, h, w],
    [UNET_INPUTS.timestep]: [batch],
    [UNET_INPUTS.encoderHiddenStates]: [batch, PROMPT_TOKENS, unet.crossAttentionDim],
  };
  if (unet.timeCondProjDim !== undefined)
    unetInputs[UNET_INPUTS.timestepCond] = [batch, unet.timeCondProjDim];
  const unetOptions = {
    attention: attentionFor(s, "unet"),
    quantization: s.unetQuantization,
    int8WeightBits: s.int8WeightBits,
    // as the engine builds an int8 UNet
    ...int8FusionOptions(s.unetQuantization),
    weightStorage: arch.unet.weightStorage,
    convAlgorithm: s.convAlgorithm,
    ...((s.todoFactor ?? 1) > 1 ? { todoFactor: s.todoFactor, todoMaxDepth: s.todoMaxDepth ?? 1 } : {}),
  };
  const deepCache = s.deepCacheInterval > 1;
  const full = deepCache ? fullCalls(s.steps, s.deepCacheInterval) : s.steps;
  plans.push({
    id: "unet",
    graph: "unet",
    stage: "unet",
    build: () =>
      buildUNetGraph(arch.unet.weights, unet, { ...unetOptions, deepFeature: deepCache || undefined }),
    inputs: unetInputs,
    callsPerImage: full,
  });
  if (deepCache && s.steps > full) {
    plans.push({
      id: "unet_shallow",
      graph: "unet_shallow",
      stage: "unet",
      build: () => buildShallowUNetGraph(arch.unet.weights, unet, unetOptions),
      inputs: { ...unetInputs, [SHALLOW_UNET_INPUTS.deepFeature]: [batch, deepFeatureChannels(unet), h, w] },
      callsPerImage: s.steps - full,
    });
  }

  const taesd = s.decoder === "taesd";
  const graph = taesd ? "taesd_decoder" : "vae_decoder";
  const input = taesd ? TAESD_DECODER_INPUT : VAE_DECODER_INPUT;
  const latentChannels = taesd ? arch.taesd.config.latentChannels : arch.vae.config.latentChannels;
  const build = taesd
    ? () =>
        buildTaesdDecoderGraph(arch.taesd.weights, arch.taesd.config, {
          weightStorage: arch.taesd.weightStorage,
        })
    : () =>
        buildVaeDecoderGraph(arch.vae.weights, arch.vae.config, {
          attention: attentionFor(s, "vae"),
          weightStorage: arch.vae.weightStorage,
          convAlgorithm: s.vaeDecoderConvAlgorithm,
        });
  const tiles = decoderTiles(h, w, s.tileLatentSize);
  for (const tile of tiles) {
    plans.push({
      id: tiles.length === 1 ? graph : `${graph} ${tile.h}x${tile.w}`,
      graph,
      stage: "decoder",
      build,
      inputs: { [input]: [1, latentChannels, tile.h, tile.w] },
      callsPerImage: tile.count,
    });
  }
  return plans;
}
